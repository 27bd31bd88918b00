"""Cloud KMS crypto keys use an algorithm that fits their purpose and the tier."""

from __future__ import annotations

from keyplane.model.specs import GCP_ALGORITHMS, gcp_purpose
from keyplane.policy.facts import gcp_algorithm
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="Cloud KMS algorithm fits the purpose and the tier", severity=Severity.HIGH,
      control=Control.PROTECTION, types=("google_kms_crypto_key",))
def gcp_kms_algorithm_allowed(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`version_template.algorithm` is a known Cloud KMS algorithm for the key's `purpose`,
    at least the tier's RSA size.

    Why: a mismatched algorithm fails at apply; a short RSA key weakens every certificate
    it signs.

    Fix: choose an algorithm from keyplane.model.specs.GCP_ALGORITHMS for the purpose, with
    at least the tier's RSA size.

    See: https://cloud.google.com/kms/docs/algorithms
    """
    assert ctx.policy is not None
    algo = gcp_algorithm(res)
    purpose = res.get("purpose", default="ENCRYPT_DECRYPT")
    if algo is UNKNOWN or purpose is UNKNOWN:
        return unknown("the key's algorithm or purpose is known only after apply",
                       "version_template.algorithm")
    info = GCP_ALGORITHMS.get(algo) if isinstance(algo, str) else None
    if info is None:
        return failed(f"algorithm {algo} is not a cloud kms algorithm keyplane knows",
                      "version_template.algorithm")
    purposes = {gcp_purpose(u, info.family) for u in info.usages}
    if purpose not in purposes:
        return failed(f"algorithm {algo} does not fit purpose {purpose}; it fits "
                      f"{', '.join(sorted(purposes))}", "purpose")
    if info.rsa_bits is not None and info.rsa_bits < ctx.policy.min_rsa_bits:
        return failed(f"{algo} is below the {ctx.policy.tier.value} minimum of "
                      f"{ctx.policy.min_rsa_bits}-bit rsa", "version_template.algorithm")
    return passed(f"{algo} for {purpose}")
