"""No member is both administrator and user of a crypto key."""

from __future__ import annotations

from keyplane.model.tiers import SeparationOfDuties
from keyplane.policy.facts import members
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

ADMIN_ROLES = frozenset({"roles/cloudkms.admin", "roles/owner", "roles/editor"})
USER_ROLES = frozenset({
    "roles/cloudkms.cryptoKeyEncrypterDecrypter", "roles/cloudkms.cryptoKeyEncrypter",
    "roles/cloudkms.cryptoKeyDecrypter", "roles/cloudkms.signerVerifier",
    "roles/cloudkms.signer", "roles/cloudkms.macSigner", "roles/cloudkms.macSignerVerifier",
    "roles/cloudkms.cryptoOperator"})
_IAM = ("google_kms_crypto_key_iam_member", "google_kms_crypto_key_iam_binding",
        "google_kms_key_ring_iam_member", "google_kms_key_ring_iam_binding")


@rule(title="Crypto key administrators are not its users", severity=Severity.HIGH, control=Control.ACCESS,
      types=("google_kms_crypto_key",))
def gcp_kms_admin_user_separation(res: Resource, ctx: RuleContext) -> Verdict | None:
    """Where the tier separates duties, no member holds an admin role and a use role
    (encrypt/decrypt, sign, MAC) on the key or its key ring.

    Why: an administrator who can also use the key can sign with it and then change its
    policy to hide it.

    Fix: grant `roles/cloudkms.admin` and the use roles to different members.

    See: https://cloud.google.com/kms/docs/separation-of-duties
    """
    assert ctx.policy is not None
    if ctx.policy.separation_of_duties is SeparationOfDuties.NONE:
        return not_applicable("the tier does not separate duties")
    bindings = ctx.index.referrers(res, types=_IAM, attrs=("crypto_key_id",))
    for ring in ctx.index.targets(res, "key_ring", types=("google_kms_key_ring",)):
        bindings += ctx.index.referrers(ring, types=_IAM, attrs=("key_ring_id",))
    admins: set[str] = set()
    users: set[str] = set()
    for b in bindings:
        role = b.get("role")
        who = members(b)
        if role is UNKNOWN or who is UNKNOWN:
            return unknown(f"{b.address} role or members are known only after apply")
        for m in who:
            if role in ADMIN_ROLES:
                admins.add(m)
            if role in USER_ROLES:
                users.add(m)
    both = sorted(admins & users)
    if both:
        return failed(f"{', '.join(both)} is both administrator and user of the key")
    return passed("administrators and users are distinct members")
