"""Only key administrators are granted `kms:*` (or `*`, or NotAction) in a key policy."""

from __future__ import annotations

from keyplane.policy.keypolicy import KEY_TYPES, key_policy
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.policydoc import is_admin, principal_role
from keyplane.policy.registry import RuleContext, rule


@rule(title="Key policy grants kms:* to key administrators only", severity=Severity.CRITICAL,
      control=Control.ACCESS, types=KEY_TYPES)
def aws_kms_key_policy_no_wildcard_actions(res: Resource, ctx: RuleContext) -> Verdict | None:
    """No Allow statement grants `kms:*`, `*` or a NotAction list to a principal other than
    the key-admin role (`keyplane:role = key-admin`, `keyplane-<env>-key-admin`).

    Why: a wildcard grant gives use, policy change and deletion in one; for the account
    root it delegates the key to every IAM policy of the account (AWS's default key
    policy), which defeats separation of duties.

    Fix: list the actions each role needs (keyplane's permission sets), and keep
    administrative wildcards, if any, to the key-admin role.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
    """
    kp = key_policy(res, ctx.index)
    if kp.unknown:
        return unknown("the key policy is known only after apply", "policy")
    if kp.error:
        return failed(kp.error, "policy")
    pending = None
    for st in kp.statements:
        if not st.allow or not st.grants_wildcard():
            continue
        for p in st.principals:
            role = principal_role(p, res, ctx.index)
            if role is UNKNOWN:
                pending = pending or st
                continue
            if not is_admin(role):
                who = "the account root (aws's default key policy)" if kp.default else p.value
                return failed(f"{st.where} grants {', '.join(st.actions) or 'NotAction'} to "
                              f"{who}, which is not a key administrator", f"policy.{st.where}")
    if pending is not None:
        return unknown(f"{pending.where} grants a wildcard to a principal known only after "
                       "apply", f"policy.{pending.where}")
    return passed("no wildcard action for non-admins")
