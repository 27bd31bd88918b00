"""OIDC trust policies pin the token's audience and its exact subject."""

from __future__ import annotations

from keyplane.policy import policydoc
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

_EXACT = frozenset({"stringequals", "forallvalues:stringequals", "foranyvalue:stringequals"})


@rule(title="OIDC trust pins the audience and the exact subject", severity=Severity.CRITICAL,
      control=Control.ACCESS, types=("aws_iam_role",), needs_tier=False)
def aws_iam_oidc_trust_pinned(res: Resource, ctx: RuleContext) -> Verdict | None:
    """Every statement allowing `sts:AssumeRoleWithWebIdentity` requires `<issuer>:aud` and
    `<issuer>:sub` with `StringEquals` and no wildcard.

    Why: without an exact `sub`, any repository or workflow of the identity provider (for
    GitHub, every repository on github.com) can assume the role and use the key.

    Fix: add `StringEquals` conditions on `<issuer>:aud` and `<issuer>:sub` with the
    workload's exact audience and subject from the inventory.

    See: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html
    """
    doc = policydoc.document(res, "assume_role_policy")
    if doc is UNKNOWN:
        return unknown("assume_role_policy is known only after apply", "assume_role_policy")
    if doc is None:
        return not_applicable("no trust policy")
    try:
        statements = policydoc.parse(doc)
    except policydoc.PolicyParseError as exc:
        return failed(str(exc), "assume_role_policy")
    seen = False
    for st in statements:
        if not st.allow or not st.grants("sts:AssumeRoleWithWebIdentity"):
            continue
        seen = True
        where = f"assume_role_policy.{st.where}"
        for suffix in (":aud", ":sub"):
            exact = [v for c in st.conditions if c.key.endswith(suffix)
                     and c.operator in _EXACT for v in c.values]
            loose = [c for c in st.conditions if c.key.endswith(suffix) and c.operator not in _EXACT]
            if not exact or any("*" in v or "?" in v for v in exact) or loose:
                return failed(f"{st.where} trusts a web identity without an exact "
                              f"StringEquals on {suffix[1:]}", where)
    if not seen:
        return not_applicable("the role trusts no web identity")
    return passed("web identity trust pins aud and sub")
