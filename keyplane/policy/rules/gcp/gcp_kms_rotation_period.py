"""Symmetric crypto keys rotate within the tier's maximum; other keys are not asked to."""

from __future__ import annotations

from keyplane.model.limits import GCP_ROTATION_PERIOD_HOURS
from keyplane.policy.facts import SECONDS_PER_DAY, SECONDS_PER_HOUR, gcp_eligibility, seconds
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


@rule(title="Cloud KMS rotation period is within the tier's maximum", severity=Severity.HIGH,
      control=Control.ROTATION, types=("google_kms_crypto_key",))
def gcp_kms_rotation_period(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A symmetric crypto key sets `rotation_period` at most the tier's maximum (and within
    Cloud KMS's 24 h to 876,000 h); asymmetric and MAC keys set none.

    Why: Cloud KMS rotates symmetric keys only; the tier bounds how long one version
    protects data. Asymmetric keys are renewed by generation.

    Fix: set `rotation_period = "<seconds>s"` on symmetric keys; remove it from others.

    See: https://cloud.google.com/kms/docs/key-rotation
    """
    assert ctx.policy is not None
    elig = gcp_eligibility(res)
    if elig is UNKNOWN:
        return unknown("the key's algorithm is known only after apply",
                       "version_template.algorithm")
    value = res.get("rotation_period")
    if elig is None or not elig:
        if value is not None and value is not UNKNOWN:
            reason = elig.reason if elig is not None else "the algorithm is not known"
            return failed(f"rotation_period is set but {reason}", "rotation_period")
        return not_applicable(elig.reason if elig is not None else "unknown algorithm")
    if value is UNKNOWN:
        return unknown("rotation_period is known only after apply", "rotation_period")
    if value is None:
        return failed("rotation_period is not set on a key that can rotate automatically",
                      "rotation_period")
    secs = seconds(value)
    if secs is None or not GCP_ROTATION_PERIOD_HOURS.contains(int(secs // SECONDS_PER_HOUR)):
        return failed(f"rotation_period must be {GCP_ROTATION_PERIOD_HOURS.describe()}, got "
                      f"{value}", "rotation_period")
    maximum = ctx.policy.max_rotation_period_in_days
    if secs > maximum * SECONDS_PER_DAY:
        return failed(f"rotation_period is {secs / SECONDS_PER_DAY:g} days, above the "
                      f"{ctx.policy.tier.value} maximum of {maximum}", "rotation_period")
    return passed(f"rotates every {secs / SECONDS_PER_DAY:g} days (maximum {maximum})")
