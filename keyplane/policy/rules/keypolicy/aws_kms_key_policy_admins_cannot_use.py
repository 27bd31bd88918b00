"""Key administrators cannot use `ca` or `production` keys."""

from __future__ import annotations

from keyplane.model.tiers import SeparationOfDuties
from keyplane.policy.keypolicy import KEY_TYPES, key_policy
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
from keyplane.policy.policydoc import CRYPTO_ACTIONS, is_admin, principal_role
from keyplane.policy.registry import RuleContext, rule


@rule(title="Key administrators cannot use the key", severity=Severity.CRITICAL, control=Control.ACCESS,
      types=KEY_TYPES)
def aws_kms_key_policy_admins_cannot_use(res: Resource, ctx: RuleContext) -> Verdict | None:
    """Where the tier requires full separation of duties, no statement lets the key-admin
    role encrypt, decrypt, sign, generate data keys or MACs.

    Why: an administrator who can also use a CA or production key can sign with it and
    then cover the change; admin and user are distinct principals.

    Fix: remove cryptographic actions from the key-admin statement; grant them to the
    workload's key-user role only.

    See: shared/TIERS.md (separation of duties)
    """
    assert ctx.policy is not None
    if ctx.policy.separation_of_duties is not SeparationOfDuties.FULL:
        return not_applicable("the tier does not require full separation of duties")
    kp = key_policy(res, ctx.index)
    if kp.unknown:
        return unknown("the key policy is known only after apply", "policy")
    if kp.error:
        return failed(kp.error, "policy")
    pending = None
    for st in kp.statements:
        if not st.allow:
            continue
        used = [a for a in CRYPTO_ACTIONS if st.grants(a)]
        if not used:
            continue
        for p in st.principals:
            role = principal_role(p, res, ctx.index)
            if role is UNKNOWN:
                pending = pending or st
            elif is_admin(role):
                return failed(f"{st.where} lets key administrator {p.value} use the key "
                              f"({used[0]})", f"policy.{st.where}")
    if pending is not None:
        return unknown(f"{pending.where} grants key use to a principal known only after apply",
                       f"policy.{pending.where}")
    return passed("administrators cannot use the key")
