"""Every declared GCP alert on destructive and evasive events exists, fed by its log-based metric."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._gcp_alerts import (
    alert_subject,
    policy_for,
    policy_reads,
    unread,
)
from keyplane.postapply.stack import matches


def filter_matches(expected: str, actual: str) -> bool:
    """Whether a deployed log filter is the declared one (whitespace aside; a value only
    apply knows matches any text)."""
    return matches(" ".join(expected.split()), " ".join(actual.split()))


@check(title="The Cloud Monitoring alerts on key events exist", control=Control.AUDIT,
       needs={Facet.GCP_ALERTS})
def gcp_alert_missing(ctx: CheckContext) -> Iterator[Result]:
    """Every Cloud Monitoring alert policy the GCP stack declares on destructive and evasive
    events (a crypto key version scheduled for destruction or disabled, an IAM policy changed
    on a key or key ring, the primary version or rotation changed, the audit sink deleted or
    changed, a ca key used outside the ceremony, sign-volume anomalies) exists, its conditions
    still read the log-based metric behind it, and that metric exists with the declared log
    filter.

    Why: these alerts are how anyone learns, in minutes, that a key is being destroyed or its
    audit trail cut; an attacker who deletes the policy, or the metric, or rewrites the
    metric's filter to match nothing first makes every later step silent while the audit logs
    still look configured. A condition is judged by the metrics it reads, not by its exact
    text, which Cloud Monitoring may store reformatted.

    Fix: re-apply the environment's GCP stack so Terraform restores the log-based metric and
    the alert policy, then find out who called DeleteLogMetric, UpdateLogMetric,
    DeleteAlertPolicy or UpdateAlertPolicy (the project's Admin Activity audit log) and review
    what happened while the alert was gone.

    See: https://cloud.google.com/logging/docs/logs-based-metrics/charts-and-alerts
    """
    alerts = ctx.state.gcp_alerts
    if not alerts or ctx.state.env.gcp is None:
        return
    metrics, policies = ctx.observed.gcp_log_metrics, ctx.observed.gcp_alert_policies
    if metrics is None or policies is None:
        yield from unread(ctx, alerts)
        return
    by_name = {m.name: m for m in metrics}
    for exp in alerts:
        problems: list[str] = []
        policy = policy_for(exp, policies)
        if policy is None:
            problems.append(f"alert policy '{exp.display_name}' does not exist")
        else:
            gone = [r for r in exp.reads if r not in policy_reads(policy)]
            if gone:
                problems.append(f"alert policy '{exp.display_name}' ({policy.name}) no longer "
                                f"reads {', '.join(gone)}")
        for m in exp.metrics:
            obs = by_name.get(m.name)
            if obs is None:
                problems.append(f"its log-based metric {m.resource_name} is gone")
            elif not filter_matches(m.filter, obs.filter):
                problems.append(f"the filter of log-based metric {m.resource_name} changed")
        if problems:
            yield fail(alert_subject(ctx, exp), "; ".join(problems), expected=exp.display_name)
