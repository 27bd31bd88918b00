"""Building a run's AuditLog from the command line: the local file, and optional cloud logs.

The local JSON-lines file is always written. A CloudWatch Logs group or a Cloud
Logging log is added when configured; those sinks live in `keyplane.cloud` (the
only SDK importers) and are imported only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from keyplane.audit.events import AuditLog, AuditSink, JsonLinesSink, default_actor

DEFAULT_AUDIT_LOG = Path(".keyplane") / "audit" / "events.jsonl"


def audit_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--audit-log`, `--audit-cloudwatch-log-group`, `--audit-cloud-logging-log`."""
    opts = [
        click.option("--audit-log", type=click.Path(path_type=Path, dir_okay=False),
                     envvar="KEYPLANE_AUDIT_LOG", default=DEFAULT_AUDIT_LOG, show_default=True,
                     help="Local JSON-lines file of audit events (env KEYPLANE_AUDIT_LOG)."),
        click.option("--audit-cloudwatch-log-group", envvar="KEYPLANE_AUDIT_CLOUDWATCH_LOG_GROUP",
                     help="Also send audit events to this CloudWatch Logs group."),
        click.option("--audit-cloud-logging-log", envvar="KEYPLANE_AUDIT_CLOUD_LOGGING_LOG",
                     help="Also send audit events to this Cloud Logging log "
                          "(projects/P/logs/NAME)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def build_audit_log(*, command: str, audit_log: Path,
                    audit_cloudwatch_log_group: str | None = None,
                    audit_cloud_logging_log: str | None = None,
                    logs_client: Callable[[], Any] | None = None,
                    gcp_endpoint: str | None = None, actor: str | None = None,
                    run_id: str | None = None) -> AuditLog:
    """The AuditLog of one run; `ensure_writable()` is the caller's first step.

    `logs_client` builds the CloudWatch Logs client with the run's own AWS credentials
    (the composition root passes it in; nothing here builds an SDK client itself).
    """
    sinks: list[AuditSink] = [JsonLinesSink(audit_log)]
    if audit_cloudwatch_log_group:
        from keyplane.cloud.aws.audit_sink import CloudWatchLogsSink
        from keyplane.errors import UsageError

        if logs_client is None:
            raise UsageError("--audit-cloudwatch-log-group needs an environment with an aws "
                             "section", code="KP002")
        sinks.append(CloudWatchLogsSink(logs_client(), audit_cloudwatch_log_group))
    if audit_cloud_logging_log:
        from keyplane.cloud.gcp.audit_sink import CloudLoggingSink

        sinks.append(CloudLoggingSink.build(log_name=audit_cloud_logging_log,
                                            endpoint=gcp_endpoint))
    return AuditLog(sinks=sinks, command=command, actor=actor or default_actor(), run_id=run_id)
