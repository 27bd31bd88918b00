"""Log groups keep events for at least the tier's retention."""

from __future__ import annotations

from keyplane.policy.facts import as_int
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="CloudWatch log group retention meets the tier", severity=Severity.HIGH, control=Control.AUDIT,
      types=("aws_cloudwatch_log_group",))
def aws_cloudwatch_log_group_retention(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`retention_in_days` is at least the tier's log retention (0 or unset: kept forever).

    Why: incident response for a key looks back months; the tier sets how far (ca and
    production 365 days, non-production 90, ephemeral 30).

    Fix: set `retention_in_days` to the tier's retention or the next value CloudWatch
    accepts above it.

    See: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
    """
    assert ctx.policy is not None
    value = res.get("retention_in_days")
    if value is UNKNOWN:
        return unknown("retention_in_days is known only after apply", "retention_in_days")
    days = as_int(value) if value is not None else 0
    floor = ctx.policy.log_retention_in_days
    if days is None:
        return failed(f"retention_in_days must be a number of days, got {value}",
                      "retention_in_days")
    if days == 0:
        return passed("events are kept forever")
    if days < floor:
        return failed(f"retention_in_days is {days}, below the {ctx.policy.tier.value} floor "
                      f"of {floor}", "retention_in_days")
    return passed(f"events kept {days} days (floor {floor})")
