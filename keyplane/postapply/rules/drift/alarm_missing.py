"""Every declared alarm on destructive and evasive events exists, fed by its metric filter."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.expected import ExpectedMetricFilter
from keyplane.postapply.ports import MetricAlarm, MetricFilter
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread
from keyplane.postapply.stack import matches, partition


def alarm_arn(ctx: CheckContext, name: str) -> str:
    """The ARN of the alarm `name` in the environment's home Region (alarms are named with it
    whether or not they exist)."""
    aws = ctx.state.env.aws
    assert aws is not None
    return f"arn:{partition(aws.region)}:cloudwatch:{aws.region}:{aws.account_id}:alarm:{name}"


def _pattern(text: str) -> str:
    return " ".join(text.split())


def pattern_matches(expected: str, actual: str) -> bool:
    """Whether a deployed filter pattern is the declared one (whitespace aside; a key ARN
    only apply knows matches any text)."""
    return matches(_pattern(expected), _pattern(actual))


def _watches(alarm: MetricAlarm) -> set[str]:
    got = set(alarm.query_metrics)
    if alarm.namespace and alarm.metric_name:
        got.add(f"{alarm.namespace}/{alarm.metric_name}")
    return got


def _filter_problem(exp: ExpectedMetricFilter, obs: MetricFilter | None) -> str | None:
    if obs is None:
        return f"its metric filter {exp.name} on {exp.log_group_name} is gone"
    if not pattern_matches(exp.pattern, obs.pattern):
        return f"the filter pattern of {exp.name} changed"
    if (obs.metric_namespace, obs.metric_name) != (exp.metric_namespace, exp.metric_name):
        return (f"metric filter {exp.name} now feeds {obs.metric_namespace}/{obs.metric_name}, "
                f"not {exp.metric_namespace}/{exp.metric_name}")
    return None


@check(title="The alarms on key events exist", control=Control.AUDIT, needs={Facet.ALARMS})
def alarm_missing(ctx: CheckContext) -> Iterator[Result]:
    """Every CloudWatch alarm the stack declares on destructive and evasive events (disabling
    or scheduling deletion of a key, policy and grant changes, stopping or changing the trail,
    removing the vault lock, the break-glass role assumed, bursts of denied KMS calls, signing
    outside the ceremony or sign volume) exists and still watches its metric, and the metric
    filter that feeds it exists on the audit log group with the declared pattern.

    Why: these alarms are how anyone learns, in minutes, that a key is being destroyed or its
    evidence removed; an attacker who deletes the alarm or blanks its filter first makes every
    later step silent while the trail still looks configured.

    Fix: re-apply the environment's stack so Terraform restores the alarm and its metric
    filter, then find out who called DeleteAlarms, DeleteMetricFilter or PutMetricFilter (the
    audit trail) and review what happened while the alarm was gone.

    See: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudwatch-alarms-for-cloudtrail.html
    """
    if not ctx.state.alarms or ctx.state.env.aws is None:
        return
    alarms, filters = ctx.observed.alarms, ctx.observed.metric_filters
    if alarms is None or filters is None:
        yield from unread(ctx, Facet.ALARMS, (a.address for a in ctx.state.alarms))
        return
    by_name = {a.name: a for a in alarms}
    by_filter = {(f.log_group_name, f.name): f for f in filters}
    for exp in ctx.state.alarms:
        problems: list[str] = []
        obs = by_name.get(exp.name)
        if obs is None:
            problems.append(f"alarm {exp.name} does not exist")
        else:
            gone = [m for m in exp.metrics if m not in _watches(obs)]
            if gone:
                problems.append(f"alarm {exp.name} no longer watches {', '.join(gone)}")
        for f in exp.filters:
            problem = _filter_problem(f, by_filter.get((f.log_group_name, f.name)))
            if problem:
                problems.append(problem)
        if problems:
            yield fail(ctx.shared(alarm_arn(ctx, exp.name), address=exp.address),
                       "; ".join(problems), expected=exp.name)
