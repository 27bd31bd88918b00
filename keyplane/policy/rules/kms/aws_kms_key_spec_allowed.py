"""The key spec, usage and origin of a KMS key are allowed for its tier."""

from __future__ import annotations

from keyplane.model.specs import AWS_KEY_USAGE, Origin
from keyplane.policy.facts import AWS_KEY_TYPES, aws_key_facts
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="KMS key spec, usage and origin are allowed for the tier", severity=Severity.HIGH,
      control=Control.PROTECTION, types=AWS_KEY_TYPES)
def aws_kms_key_spec_allowed(res: Resource, ctx: RuleContext) -> Verdict | None:
    """The key spec exists, supports the key usage, meets the tier's RSA size, and imported
    material is used only where the tier allows it.

    Why: a spec/usage mismatch fails at apply, a short RSA key weakens every signature it
    makes, and imported material is exportable by construction.

    Fix: choose a spec from keyplane.model.specs.AWS_KEY_SPECS whose usages include the
    key's, with at least the tier's RSA size; declare imported keys only in tiers that
    allow them (with an escrow copy).

    See: https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html
    """
    assert ctx.policy is not None
    f = aws_key_facts(res, ctx.index)
    if f.origin is Origin.EXTERNAL and not ctx.policy.external_origin_allowed:
        return failed(f"imported key material is not allowed in tier {ctx.policy.tier.value}",
                      "origin")
    if f.spec is UNKNOWN:
        return unknown("key spec is known only after apply", "customer_master_key_spec")
    if f.info is None:
        return failed(f"customer_master_key_spec '{f.spec}' is not an aws kms key spec",
                      "customer_master_key_spec")
    usage = f.usage
    if usage is UNKNOWN:
        return unknown("key_usage is known only after apply", "key_usage")
    allowed = sorted(AWS_KEY_USAGE[u] for u in f.info.usages)
    if usage not in allowed:
        return failed(f"key_usage {usage} is not supported by {f.spec}; allowed: "
                      f"{', '.join(allowed)}", "key_usage")
    if f.info.rsa_bits is not None and f.info.rsa_bits < ctx.policy.min_rsa_bits:
        return failed(f"{f.spec} is below the {ctx.policy.tier.value} minimum of "
                      f"{ctx.policy.min_rsa_bits}-bit rsa", "customer_master_key_spec")
    return passed(f"{f.spec} for {usage}")
