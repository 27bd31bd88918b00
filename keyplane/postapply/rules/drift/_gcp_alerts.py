"""What the GCP alert checks share: the policy read for a declared alert, and UNKNOWN when the
project's metrics or policies were not read.

Not a check: `gcp_alert_missing` and `gcp_alert_disabled` judge the same pairs (a log-based
metric and the alert policy on it) and must pick the same deployed policy for each.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from keyplane.findings import Cloud
from keyplane.postapply.collect import Facet
from keyplane.postapply.expected import ExpectedGcpAlert, metric_references
from keyplane.postapply.ports import AlertPolicy
from keyplane.postapply.registry import CheckContext, Result, Subject, unknown


def policy_reads(policy: AlertPolicy) -> set[str]:
    """The log-based metrics a deployed policy's conditions name."""
    return {ref for text in policy.conditions for ref in metric_references(text)}


def policy_for(exp: ExpectedGcpAlert, policies: Iterable[AlertPolicy]) -> AlertPolicy | None:
    """The deployed policy of a declared alert: by display name (Cloud Monitoring assigns the
    resource name); of several, the one whose conditions read most of the declared metrics."""
    named = [p for p in policies if p.display_name == exp.display_name]
    if not named:
        return None
    wanted = set(exp.reads)
    return max(named, key=lambda p: (len(wanted & policy_reads(p)), p.enabled is True))


def alert_subject(ctx: CheckContext, exp: ExpectedGcpAlert) -> Subject:
    """The subject of a declared alert: its log-based metric's resource name, judged at the
    highest tier of the environment's GCP keys."""
    return ctx.shared(exp.resource, cloud=Cloud.GCP, address=exp.address)


def unread(ctx: CheckContext, alerts: Iterable[ExpectedGcpAlert]) -> Iterator[Result]:
    """UNKNOWN for each declared alert when the project's metrics or policies were not read.

    The subject is named as the collector names the failed read
    (`gcp:projects/<project>:log-metrics` or `...:alert-policies`) and carries its reason, so
    the run lists that failure once, as this check's.
    """
    recorded = next((u for u in ctx.observed.unknowns if u.facet == Facet.GCP_ALERTS.value),
                    None)
    if recorded is not None:
        resource, reason = recorded.resource, recorded.reason
    else:  # the run stopped before the read, or a saved read without it
        metrics_unread = ctx.observed.gcp_log_metrics is None
        what = "log-metrics" if metrics_unread else "alert-policies"
        project = ctx.state.env.gcp.project_id if ctx.state.env.gcp else "-"
        resource = f"gcp:projects/{project}:{what}"
        reason = ctx.observed.stopped or (
            f"the project's {'log-based metrics' if metrics_unread else 'alert policies'} "
            "were not read")
    for exp in alerts:
        yield unknown(ctx.shared(resource, cloud=Cloud.GCP, address=exp.address), reason)
