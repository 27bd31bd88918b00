"""Keys and vaults of tiers that require it set `lifecycle.prevent_destroy`."""

from __future__ import annotations

from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, not_applicable, passed
from keyplane.policy.registry import RuleContext, rule

_TYPES = ("aws_kms_key", "aws_kms_replica_key", "aws_kms_external_key",
          "aws_kms_replica_external_key", "aws_kms_custom_key_store", "google_kms_crypto_key",
          "google_kms_key_ring", "aws_backup_vault")


@rule(title="Keys and vaults of ca and production set prevent_destroy", severity=Severity.HIGH,
      control=Control.PROTECTION, types=_TYPES, inputs=("synth",))
def lifecycle_prevent_destroy(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`lifecycle.prevent_destroy` is true where the tier requires it (ca, production).

    Why: Terraform then refuses any plan that would destroy the resource, a second lock
    behind the gate's own check on plans. (Plan JSON does not carry lifecycle settings,
    so this rule reads synth JSON.)

    Fix: keyplane's constructs set it from the tier; do not override it.

    See: https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle
    """
    assert ctx.policy is not None
    if not ctx.policy.prevent_destroy:
        return not_applicable("the tier does not require prevent_destroy")
    if res.prevent_destroy:
        return passed("lifecycle.prevent_destroy is true")
    return failed(f"lifecycle.prevent_destroy is not true on a {ctx.policy.tier.value} "
                  f"{res.type}", "lifecycle.prevent_destroy")
