"""Automatic rotation is on where the key can rotate, and never demanded where it cannot."""

from __future__ import annotations

from keyplane.policy.facts import AWS_KEY_TYPES, as_bool, aws_eligibility
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


@rule(title="KMS key rotation is enabled where the key can rotate", severity=Severity.HIGH,
      control=Control.ROTATION, types=AWS_KEY_TYPES)
def aws_kms_key_rotation_enabled(res: Resource, ctx: RuleContext) -> Verdict | None:
    """Symmetric KMS keys with KMS material rotate automatically; other keys are not asked to.

    Why: automatic rotation bounds how much data one key version protects. AWS rotates only
    symmetric encryption keys with KMS-generated material outside custom key stores
    (asymmetric, HMAC, imported and custom-store keys use generations instead); the one
    eligibility function of keyplane.model decides which is which.

    Fix: set `enable_key_rotation = true` on eligible keys; remove it from keys that cannot
    rotate and rotate them by generation (`keyplane rotate`).

    See: https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html
    """
    elig = aws_eligibility(res, ctx.index)
    if elig is UNKNOWN:
        return unknown("key spec or key store is known only after apply; cannot tell whether "
                       "rotation applies", "customer_master_key_spec")
    value = res.get("enable_key_rotation")
    enabled = as_bool(value)
    if elig is None:
        return failed("key spec is not an aws kms key spec", "customer_master_key_spec")
    if not elig:
        if enabled is True:
            return failed(f"enable_key_rotation is true but {elig.reason}",
                          "enable_key_rotation")
        return not_applicable(elig.reason)
    if value is UNKNOWN:
        return unknown("enable_key_rotation is known only after apply", "enable_key_rotation")
    if enabled is True:
        return passed("automatic rotation is enabled")
    return failed("enable_key_rotation is not true on a key that can rotate automatically",
                  "enable_key_rotation")
