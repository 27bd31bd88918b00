"""Every declared alarm on key events notifies someone."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread
from keyplane.postapply.rules.drift.alarm_missing import alarm_arn
from keyplane.postapply.stack import matches


@check(title="The alarms on key events notify", control=Control.AUDIT, needs={Facet.ALARMS})
def alarm_disabled(ctx: CheckContext) -> Iterator[Result]:
    """Every declared CloudWatch alarm on destructive and evasive events that exists has its
    actions enabled and still notifies the targets the stack declares (the alarm topic).

    Why: an alarm whose actions are disabled (DisableAlarmActions), or whose action was
    removed or pointed elsewhere, still goes into ALARM, but nobody is told: the alarm looks
    configured in every review while the events it exists for pass unnoticed.

    Fix: `aws cloudwatch enable-alarm-actions --alarm-names <alarm>`, or re-apply the stack to
    restore its actions; then find out who disabled or changed it (DisableAlarmActions,
    PutMetricAlarm in the audit trail) and review the alarm's history.

    See: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DisableAlarmActions.html
    """
    if not ctx.state.alarms or ctx.state.env.aws is None:
        return
    alarms = ctx.observed.alarms
    if alarms is None:
        yield from unread(ctx, Facet.ALARMS, (a.address for a in ctx.state.alarms))
        return
    by_name = {a.name: a for a in alarms}
    for exp in ctx.state.alarms:
        obs = by_name.get(exp.name)
        if obs is None or not exp.actions_enabled:
            continue  # a missing alarm is drift.alarm_missing's
        subject = ctx.shared(alarm_arn(ctx, exp.name), address=exp.address)
        if not obs.actions_enabled:
            yield fail(subject, f"alarm {exp.name} has its actions disabled: it notifies nobody",
                       expected=True, actual=False)
        elif not obs.alarm_actions and exp.actions:
            yield fail(subject, f"alarm {exp.name} has no alarm action: it notifies nobody",
                       expected=list(exp.actions), actual=[])
        else:
            lost = [a for a in exp.actions if not any(matches(a, o) for o in obs.alarm_actions)]
            if lost:
                yield fail(subject, f"alarm {exp.name} no longer notifies {', '.join(lost)}",
                           expected=list(exp.actions), actual=list(obs.alarm_actions))
