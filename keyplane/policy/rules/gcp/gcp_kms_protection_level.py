"""Cloud KMS crypto keys use the protection level their tier requires."""

from __future__ import annotations

from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="Cloud KMS protection level meets the tier", severity=Severity.HIGH, control=Control.PROTECTION,
      types=("google_kms_crypto_key",))
def gcp_kms_protection_level(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`version_template.protection_level` is one the tier allows (ca and production: HSM).

    Why: SOFTWARE keys are protected by software only; CA and production keys live in
    Cloud HSM (FIPS 140-2 Level 3).

    Fix: set `version_template { protection_level = "HSM" }` (a new key: the protection
    level of a crypto key cannot change).

    See: https://cloud.google.com/kms/docs/algorithms#protection_levels
    """
    assert ctx.policy is not None
    level = res.get("version_template", "protection_level", default="SOFTWARE")
    if level is UNKNOWN:
        return unknown("protection_level is known only after apply",
                       "version_template.protection_level")
    allowed = sorted(ctx.policy.gcp_protection_levels)
    if level not in allowed:
        return failed(f"protection_level is {level}; {ctx.policy.tier.value} allows "
                      f"{', '.join(allowed)}", "version_template.protection_level")
    return passed(f"protection level {level}")
