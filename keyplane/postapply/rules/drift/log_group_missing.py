"""The declared audit log group exists."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="The audit log group exists", control=Control.AUDIT, needs={Facet.LOG_GROUPS})
def log_group_missing(ctx: CheckContext) -> Iterator[Result]:
    """Every CloudWatch Logs log group the stack declares exists in the account.

    Why: the trail delivers key events to this log group, and the alarms on key misuse
    (policy changes, scheduled deletions) read it; without it nothing is alarmed on.

    Fix: re-apply the environment's stack so Terraform creates the log group again, and find
    out who called DeleteLogGroup (in the trail's own log files).

    See: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/send-cloudtrail-events-to-cloudwatch-logs.html
    """
    groups = ctx.observed.log_groups
    if groups is None:
        yield from unread(ctx, Facet.LOG_GROUPS, (e.address for e in ctx.state.log_groups))
        return
    names = {g.name for g in groups}
    for exp in ctx.state.log_groups:
        if exp.name not in names:
            yield fail(ctx.shared(exp.name, address=exp.address),
                       f"log group {exp.name} does not exist")
