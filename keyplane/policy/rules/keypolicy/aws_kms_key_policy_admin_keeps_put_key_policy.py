"""A key administrator keeps `kms:PutKeyPolicy`: the policy does not lock admins out."""

from __future__ import annotations

from keyplane.policy.keypolicy import KEY_TYPES, key_policy
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.policydoc import is_admin, principal_role
from keyplane.policy.registry import RuleContext, rule


@rule(title="A key administrator keeps kms:PutKeyPolicy", severity=Severity.CRITICAL, control=Control.ACCESS,
      types=KEY_TYPES)
def aws_kms_key_policy_admin_keeps_put_key_policy(res: Resource,
                                                  ctx: RuleContext) -> Verdict | None:
    """Some Allow statement grants `kms:PutKeyPolicy` to the key-admin role, and no Deny
    statement takes it away from that role unconditionally.

    Why: a key whose policy nobody can change is unmanageable; AWS only recovers it through
    a support case. This is the lockout that AWS's safety check exists to prevent.

    Fix: keep a statement for the key-admin role with `kms:PutKeyPolicy` (keyplane's admin
    permission set) and do not deny it to that role.

    See: https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
    """
    kp = key_policy(res, ctx.index)
    if kp.unknown:
        return unknown("the key policy is known only after apply", "policy")
    if kp.error:
        return failed(kp.error, "policy")
    admins_allowed, pending = False, False
    for st in kp.statements:
        if not st.grants("kms:PutKeyPolicy"):
            continue
        for p in st.principals:
            role = principal_role(p, res, ctx.index)
            if role is UNKNOWN:
                pending = True
                continue
            hits_admin = is_admin(role) or p.is_wildcard
            if not st.allow and hits_admin and not st.conditions and not st.not_principal:
                return failed(f"{st.where} denies kms:PutKeyPolicy to the key administrators: "
                              "they would be locked out", f"policy.{st.where}")
            if st.allow and is_admin(role):
                admins_allowed = True
    if admins_allowed:
        return passed("the key-admin role keeps kms:PutKeyPolicy")
    if pending:
        return unknown("principals of the key policy are known only after apply", "policy")
    return failed("no statement grants kms:PutKeyPolicy to the key-admin role: administrators "
                  "would be locked out", "policy")
