"""The audit log sink writes to a locked bucket with the tier's retention."""

from __future__ import annotations

from keyplane.policy.facts import SECONDS_PER_DAY, as_bool, as_int
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


@rule(title="Audit log sinks write to a locked bucket with the tier's retention",
      severity=Severity.HIGH, control=Control.AUDIT, types=("google_logging_project_sink",))
def gcp_audit_sink_locked(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A keyplane log sink's destination is a Cloud Storage bucket with a locked retention
    policy, or a log bucket that is locked, keeping logs at least the tier's sink retention.

    Why: a locked retention policy cannot be shortened or removed, so the audit record of
    key use outlives anyone who would want it gone (ca 2555 days, production 365).

    Fix: point the sink at a `google_storage_bucket` with `retention_policy { is_locked =
    true, retention_period = <seconds> }` or a `google_logging_project_bucket_config` with
    `locked = true` and `retention_days`.

    See: https://cloud.google.com/storage/docs/bucket-lock
    """
    assert ctx.policy is not None
    floor = ctx.policy.gcp_sink_retention_in_days
    if floor is None:
        return not_applicable("the tier requires no locked sink")
    targets = ctx.index.targets(res, "destination", types=(
        "google_storage_bucket", "google_logging_project_bucket_config"))
    if not targets:
        return unknown("the sink's destination is not a bucket of this input", "destination")
    dest = targets[0]
    if dest.type == "google_storage_bucket":
        locked = dest.get("retention_policy", "is_locked")
        period = dest.get("retention_policy", "retention_period")
        days = (as_int(period) or 0) // SECONDS_PER_DAY if period is not UNKNOWN else UNKNOWN
    else:
        locked = dest.get("locked")
        days = dest.get("retention_days")
        days = as_int(days) if days is not UNKNOWN else UNKNOWN
    if locked is UNKNOWN or days is UNKNOWN:
        return unknown(f"the retention of {dest.address} is known only after apply",
                       "destination")
    if as_bool(locked) is not True:
        return failed(f"destination {dest.address} is not locked", "destination")
    if (days or 0) < floor:
        return failed(f"destination {dest.address} keeps logs {days or 0} days, below the "
                      f"{ctx.policy.tier.value} floor of {floor}", "destination")
    return passed(f"locked destination keeps logs {days} days (floor {floor})")
