"""The rotation period of a rotating key is within the tier's maximum."""

from __future__ import annotations

from keyplane.model.limits import AWS_KMS_ROTATION_PERIOD
from keyplane.policy.facts import AWS_KEY_TYPES, as_bool, as_int, aws_eligibility
from keyplane.policy.model import (
    UNKNOWN,
    Control,
    Resource,
    Severity,
    Verdict,
    failed,
    not_applicable,
    passed,
    unknown,
)
from keyplane.policy.registry import RuleContext, rule


@rule(title="KMS key rotation period is within the tier's maximum", severity=Severity.HIGH,
      control=Control.ROTATION, types=AWS_KEY_TYPES)
def aws_kms_key_rotation_period(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A rotating KMS key's `rotation_period_in_days` is at most its tier's maximum.

    Why: the tier table sets how long one key version may protect data (365 days for most
    tiers, 90 for ephemeral); AWS accepts 90-2560 days and defaults to 365.

    Fix: set `rotation_period_in_days` to at most the tier's maximum (see docs/rules.md and
    shared/TIERS.md), within AWS's range.

    See: https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html
    """
    assert ctx.policy is not None
    elig = aws_eligibility(res, ctx.index)
    if elig is UNKNOWN:
        return unknown("key spec or key store is known only after apply",
                       "customer_master_key_spec")
    if elig is None or not elig or as_bool(res.get("enable_key_rotation")) is not True:
        return not_applicable("the key does not rotate automatically")
    value = res.get("rotation_period_in_days")
    if value is UNKNOWN:
        return unknown("rotation_period_in_days is known only after apply",
                       "rotation_period_in_days")
    days = as_int(value) if value is not None else AWS_KMS_ROTATION_PERIOD.default
    maximum = ctx.policy.max_rotation_period_in_days
    if days is None or not AWS_KMS_ROTATION_PERIOD.contains(days):
        return failed(f"rotation_period_in_days must be {AWS_KMS_ROTATION_PERIOD.describe()}, "
                      f"got {value}", "rotation_period_in_days")
    if days > maximum:
        return failed(f"rotation_period_in_days is {days}, above the {ctx.policy.tier.value} "
                      f"maximum of {maximum}", "rotation_period_in_days")
    return passed(f"rotates every {days} days (maximum {maximum})")
