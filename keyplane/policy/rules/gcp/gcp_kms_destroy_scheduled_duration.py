"""Crypto key versions wait at least the tier's floor before they are destroyed."""

from __future__ import annotations

from keyplane.model.limits import GCP_DESTROY_SCHEDULED_DURATION
from keyplane.policy.facts import SECONDS_PER_DAY, seconds
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="Cloud KMS destroy-scheduled duration is at the tier's floor",
      severity=Severity.HIGH, control=Control.PROTECTION, types=("google_kms_crypto_key",))
def gcp_kms_destroy_scheduled_duration(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`destroy_scheduled_duration` is at least the tier's deletion window (unset: Cloud KMS's
    default of 30 days).

    Why: a version scheduled for destruction can be restored only during this period.

    Fix: set `destroy_scheduled_duration = "<days * 86400>s"` at or above the tier's floor.

    See: https://cloud.google.com/kms/docs/destroy-restore
    """
    assert ctx.policy is not None
    value = res.get("destroy_scheduled_duration")
    if value is UNKNOWN:
        return unknown("destroy_scheduled_duration is known only after apply",
                       "destroy_scheduled_duration")
    if value is None:
        days = float(GCP_DESTROY_SCHEDULED_DURATION.default or 0)
    else:
        secs = seconds(value)
        if secs is None:
            return failed(f"destroy_scheduled_duration must be a duration like '2592000s', got "
                          f"{value}", "destroy_scheduled_duration")
        days = secs / SECONDS_PER_DAY
    floor = ctx.policy.min_deletion_window_in_days
    if days < floor:
        return failed(f"destroy_scheduled_duration is {days:g} days, below the "
                      f"{ctx.policy.tier.value} floor of {floor}", "destroy_scheduled_duration")
    return passed(f"destroy scheduled after {days:g} days (floor {floor})")
