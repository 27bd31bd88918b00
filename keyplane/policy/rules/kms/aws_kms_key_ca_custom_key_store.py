"""`ca` keys live in a CloudHSM custom key store."""

from __future__ import annotations

from keyplane.model.tags import SERVICE_KEY_PREFIX
from keyplane.model.tiers import AwsProtection
from keyplane.policy.facts import AWS_KEY_TYPES
from keyplane.policy.model import (
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


@rule(title="CA keys live in a CloudHSM custom key store", severity=Severity.CRITICAL,
      control=Control.PROTECTION, types=AWS_KEY_TYPES)
def aws_kms_key_ca_custom_key_store(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A declared key (`keyplane:key` tag) of a tier that requires CloudHSM sets
    `custom_key_store_id`; shared audit and backup keys of that tier are exempt.

    Why: root and intermediate CA keys stay in a single-tenant CloudHSM cluster the estate
    controls (origin AWS_CLOUDHSM), with its own backups. Custom key stores hold symmetric
    keys only and cannot rotate automatically: such keys are re-keyed by ceremony.

    Fix: set `custom_key_store_id` to the environment's `aws_kms_custom_key_store`.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/keystore-cloudhsm.html
    """
    assert ctx.policy is not None
    if ctx.policy.aws_protection is not AwsProtection.CLOUDHSM:
        return not_applicable("the tier does not require a custom key store")
    if res.context.key is None or res.context.key.startswith(SERVICE_KEY_PREFIX):
        # keyplane's service keys (audit, backup) carry the ca tier they serve but hold no
        # CA material; custom key stores are for declared keys (keyplane:key tag).
        return not_applicable("a keyplane service key, not a declared ca key")
    store = res.is_set("custom_key_store_id")
    if store is None:
        return unknown("custom_key_store_id is known only after apply", "custom_key_store_id")
    if store:
        return passed("the key is in a custom key store")
    return failed(f"a {ctx.policy.tier.value} key must be in a cloudhsm custom key store; "
                  "custom_key_store_id is not set", "custom_key_store_id")
