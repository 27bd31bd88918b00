"""Every declared GCP alert on key events is enabled and notifies someone."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail, unknown
from keyplane.postapply.rules.drift._gcp_alerts import alert_subject, policy_for, unread
from keyplane.postapply.stack import matches


@check(title="The Cloud Monitoring alerts on key events are enabled and notify",
       control=Control.AUDIT, needs={Facet.GCP_ALERTS})
def gcp_alert_disabled(ctx: CheckContext) -> Iterator[Result]:
    """Every declared Cloud Monitoring alert policy on destructive and evasive events that
    exists is enabled, still sends to the notification channels the stack declares, and the
    log-based metric it reads is not disabled.

    Why: a disabled policy (`enabled: false`), or one whose notification channels were
    removed, still looks configured in every review, but nobody is told when the event it
    exists for happens; a disabled log-based metric counts nothing, so its policy never fires.

    Fix: re-apply the environment's GCP stack (or `gcloud monitoring policies update <policy>
    --enabled --set-notification-channels=<channels>`), then find out who called
    UpdateAlertPolicy or UpdateLogMetric (the project's Admin Activity audit log) and review
    the events the alert would have reported.

    See: https://cloud.google.com/monitoring/alerts/manage-alerts
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
        policy = policy_for(exp, policies)
        if policy is None or not exp.enabled:
            continue  # a missing policy is drift.gcp_alert_missing's
        subject = alert_subject(ctx, exp)
        label = f"alert policy '{exp.display_name}' ({policy.name})"
        problems: list[str] = []
        if policy.enabled is None:
            yield unknown(subject, f"{label} as read does not say whether it is enabled")
            continue
        if not policy.enabled:
            problems.append(f"{label} is disabled: it never fires")
        channels = list(policy.notification_channels)
        if exp.notification_channels and not channels:
            problems.append(f"{label} has no notification channel: it notifies nobody")
        else:
            lost = [c for c in exp.notification_channels
                    if not any(matches(c, o) for o in channels)]
            if lost:
                problems.append(f"{label} no longer notifies {', '.join(lost)}")
        off = [m.resource_name for m in exp.metrics
               if (obs := by_name.get(m.name)) is not None and obs.disabled]
        if off:
            problems.append(f"log-based metric {', '.join(off)} is disabled: the policy never "
                            "sees an event")
        if problems:
            yield fail(subject, "; ".join(problems), expected=list(exp.notification_channels),
                       actual=channels)
