"""Grants and cross-account access are given only where declared."""

from __future__ import annotations

from collections import Counter

from keyplane.policy.keypolicy import KEY_TYPES, key_policy
from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.policydoc import account_of
from keyplane.policy.registry import RuleContext, rule

_GRANT_ACTIONS = ("kms:CreateGrant",)


@rule(title="Key policy gives grants and cross-account access only where declared",
      severity=Severity.HIGH, control=Control.ACCESS, types=KEY_TYPES)
def aws_kms_key_policy_grants_declared(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`kms:CreateGrant` is allowed only with `kms:GrantIsForAWSResource = true`, and no
    statement names a principal of another account than the key's own, unless the key's
    `keyplane:declared-accounts` tag (written from the inventory) declares that account.

    Why: a grant is a second, invisible key policy; limited to AWS services acting for the
    key's users, it cannot be used to hand the key to someone else. A principal in another
    account is access nobody declared in the inventory (a waiver records an exception).

    Fix: add `"Bool": {"kms:GrantIsForAWSResource": "true"}` to statements that allow
    CreateGrant; remove foreign-account principals or record them with a waiver.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
    """
    kp = key_policy(res, ctx.index)
    if kp.unknown:
        return unknown("the key policy is known only after apply", "policy")
    if kp.error:
        return failed(kp.error, "policy")
    accounts: Counter[str] = Counter()
    for st in kp.statements:
        for p in st.principals:
            acct = account_of(p.value) if p.kind == "AWS" else None
            if acct:
                accounts[acct] += 1
    home = accounts.most_common(1)[0][0] if accounts else None
    for st in kp.statements:
        if not st.allow:
            continue
        if any(st.grants(a) for a in _GRANT_ACTIONS):
            flag = [v.lower() for v in st.condition_values(
                "kms:GrantIsForAWSResource", frozenset({"bool"}))]
            if flag != ["true"]:
                return failed(f"{st.where} allows kms:CreateGrant without "
                              "kms:GrantIsForAWSResource = true", f"policy.{st.where}")
        for p in st.principals:
            acct = account_of(p.value) if p.kind == "AWS" else None
            if acct and home and acct != home and acct not in res.context.declared_accounts:
                return failed(f"{st.where} names principal {p.value} of account {acct}, not "
                              f"the key's account {home}", f"policy.{st.where}")
    return passed("grants are for aws resources only and no foreign account is named")
