"""Audit buckets have S3 Object Lock in COMPLIANCE mode for the tier's retention."""

from __future__ import annotations

from keyplane.policy.facts import as_bool, as_int
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

_DAYS_PER_YEAR = 365


@rule(title="Audit buckets have Object Lock COMPLIANCE for the tier's retention",
      severity=Severity.HIGH, control=Control.AUDIT, types=("aws_s3_bucket",))
def aws_s3_audit_bucket_object_lock(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A keyplane bucket of a tier with an Object Lock retention has `object_lock_enabled`
    and an `aws_s3_bucket_object_lock_configuration` in COMPLIANCE mode whose default
    retention is at least the tier's (ca 2555 days, production 365).

    Why: in COMPLIANCE mode nobody, including the account root, can delete or shorten the
    audit record before it expires.

    Fix: set `object_lock_enabled = true` and add an object lock configuration with
    `mode = "COMPLIANCE"` and `days` at or above the tier's retention.

    See: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html
    """
    assert ctx.policy is not None
    floor = ctx.policy.object_lock_retention_in_days
    if floor is None:
        return not_applicable("the tier requires no object lock")
    enabled = res.get("object_lock_enabled")
    if enabled is UNKNOWN:
        return unknown("object_lock_enabled is known only after apply", "object_lock_enabled")
    if as_bool(enabled) is not True:
        return failed("object_lock_enabled is not true on an audit bucket",
                      "object_lock_enabled")
    locks = ctx.index.referrers(res, types=("aws_s3_bucket_object_lock_configuration",),
                                attrs=("bucket",))
    if not locks:
        return failed("no aws_s3_bucket_object_lock_configuration for this bucket",
                      "object_lock_enabled")
    lock = locks[0]
    mode = lock.get("rule", "default_retention", "mode")
    days = lock.get("rule", "default_retention", "days")
    years = lock.get("rule", "default_retention", "years")
    if UNKNOWN in (mode, days, years):
        return unknown("the object lock retention is known only after apply",
                       f"{lock.address}.rule")
    if mode != "COMPLIANCE":
        return failed(f"object lock mode is {mode}, not COMPLIANCE",
                      f"{lock.address}.rule.default_retention.mode")
    total = (as_int(days) or 0) + (as_int(years) or 0) * _DAYS_PER_YEAR
    if total < floor:
        return failed(f"object lock retention is {total} days, below the "
                      f"{ctx.policy.tier.value} floor of {floor}",
                      f"{lock.address}.rule.default_retention")
    return passed(f"object lock compliance, {total} days (floor {floor})")
