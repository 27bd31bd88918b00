"""No key-policy statement allows a wildcard principal without an org/account condition."""

from __future__ import annotations

from keyplane.policy.keypolicy import KEY_TYPES, key_policy
from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="Key policy allows no wildcard principal without an org or account condition",
      severity=Severity.CRITICAL, control=Control.ACCESS, types=KEY_TYPES)
def aws_kms_key_policy_no_public_principal(res: Resource, ctx: RuleContext) -> Verdict | None:
    """Every Allow statement with `Principal: *` (or a NotPrincipal) is pinned by
    `aws:PrincipalOrgID`, `aws:PrincipalAccount` or `kms:CallerAccount`.

    Why: a wildcard principal opens the key to every AWS account. `kms:ViaService` alone
    does not help: any account can call that service. The pinning condition must use an
    exact operator (no `...IfExists`, no wildcard value).

    Fix: name the principals, or add `StringEquals` on `aws:PrincipalOrgID` /
    `aws:PrincipalAccount` / `kms:CallerAccount` to the statement.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
    """
    kp = key_policy(res, ctx.index)
    if kp.unknown:
        return unknown("the key policy is known only after apply", "policy")
    if kp.error:
        return failed(kp.error, "policy")
    for st in kp.statements:
        if not st.allow:
            continue
        wildcard = st.not_principal or any(p.is_wildcard for p in st.principals)
        if wildcard and not st.pins_account():
            via = " (kms:ViaService alone does not pin the caller's account)" \
                if any(c.key == "kms:viaservice" for c in st.conditions) else ""
            return failed(f"{st.where} allows any principal without an aws:PrincipalOrgID, "
                          f"aws:PrincipalAccount or kms:CallerAccount condition{via}",
                          f"policy.{st.where}")
    return passed("no unconstrained wildcard principal")
