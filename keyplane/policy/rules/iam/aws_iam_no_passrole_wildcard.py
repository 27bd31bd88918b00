"""No IAM policy allows `iam:PassRole` on every role."""

from __future__ import annotations

from typing import Any

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


@rule(title="IAM policies never allow iam:PassRole on every role", severity=Severity.HIGH,
      control=Control.ACCESS,
      types=("aws_iam_policy", "aws_iam_role_policy", "aws_iam_role", "aws_iam_user_policy",
             "aws_iam_group_policy"), needs_tier=False)
def aws_iam_no_passrole_wildcard(res: Resource, ctx: RuleContext) -> Verdict | None:
    """No Allow statement grants `iam:PassRole` (directly or through `iam:*`/`*`) on
    resource `*`.

    Why: PassRole on every role lets the holder hand any role, including a key-admin or
    ceremony role, to a service it controls: a privilege escalation around every key policy.

    Fix: list the role ARNs that may be passed, and add an `iam:PassedToService` condition.

    See: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html
    """
    docs: list[tuple[str, Any]] = []
    if res.type == "aws_iam_role":
        for i, block in enumerate(res.blocks("inline_policy")):
            docs.append((f"inline_policy[{i}].policy",
                         block.get("policy") if isinstance(block, dict) else None))
        if not docs:
            return not_applicable("no inline policy")
    else:
        docs.append(("policy", policydoc.document(res, "policy")))
    for attr, doc in docs:
        if doc is UNKNOWN or (isinstance(doc, str) and doc.startswith("${")):
            return unknown(f"{attr} is known only after apply", attr)
        if doc is None:
            continue
        try:
            statements = policydoc.parse(doc)
        except policydoc.PolicyParseError as exc:
            return failed(str(exc), attr)
        for st in statements:
            if st.allow and st.grants("iam:PassRole") and "*" in st.resources:
                return failed(f"{st.where} allows iam:PassRole on every role (resource *)",
                              f"{attr}.{st.where}")
    return passed("iam:PassRole is limited to named roles")
