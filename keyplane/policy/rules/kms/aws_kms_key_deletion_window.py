"""The deletion window of a KMS key is at least its tier's floor."""

from __future__ import annotations

from keyplane.model.limits import AWS_KMS_DELETION_WINDOW
from keyplane.policy.facts import AWS_KEY_TYPES, as_int
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="KMS key deletion window is at the tier's floor", severity=Severity.HIGH,
      control=Control.PROTECTION, types=AWS_KEY_TYPES)
def aws_kms_key_deletion_window(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A KMS key's `deletion_window_in_days` is at least its tier's minimum (AWS: 7-30 days).

    Why: the waiting period is the only time in which a scheduled deletion can be
    cancelled; `ca` and `production` keys keep the full 30 days.

    Fix: set `deletion_window_in_days` to the tier's floor or more (omit it for AWS's
    default of 30).

    See: https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html
    """
    assert ctx.policy is not None
    value = res.get("deletion_window_in_days")
    if value is UNKNOWN:
        return unknown("deletion_window_in_days is known only after apply",
                       "deletion_window_in_days")
    days = as_int(value) if value is not None else AWS_KMS_DELETION_WINDOW.default
    floor = ctx.policy.min_deletion_window_in_days
    if days is None or not AWS_KMS_DELETION_WINDOW.contains(days):
        return failed(f"deletion_window_in_days must be {AWS_KMS_DELETION_WINDOW.describe()}, "
                      f"got {value}", "deletion_window_in_days")
    if days < floor:
        return failed(f"deletion_window_in_days is {days}, below the {ctx.policy.tier.value} "
                      f"floor of {floor}", "deletion_window_in_days")
    return passed(f"deletion window of {days} days (floor {floor})")
