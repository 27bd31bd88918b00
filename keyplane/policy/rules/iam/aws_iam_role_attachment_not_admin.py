"""No managed policy attached to a role grants every action, or IAM or KMS administration."""

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
    passed,
    unknown,
)
from keyplane.policy.registry import RuleContext, rule

# AWS managed policies that hand out administration, by what they grant (from each policy's
# document in the IAM console / `aws iam get-policy-version`). A role holding one of these
# can rewrite any key policy or assume any keyplane role, whatever the key policies say.
ADMIN_MANAGED_POLICIES: dict[str, str] = {
    "AdministratorAccess": "every action on every resource",
    "AdministratorAccess-Amplify": "every action of many services",
    "PowerUserAccess": "every action outside iam and organizations, kms included",
    "IAMFullAccess": "iam:* (any role, any policy)",
    "AWSKeyManagementServicePowerUser": "kms key administration (policies, deletion)",
}
_ADMIN = ADMIN_MANAGED_POLICIES
# What makes a customer-managed policy an admin policy: any of these, allowed on `*`.
_ADMIN_ACTIONS = ("*", "iam:*", "kms:*", "iam:PutRolePolicy", "iam:AttachRolePolicy",
                  "iam:UpdateAssumeRolePolicy", "kms:PutKeyPolicy")


def _managed_name(arn: str) -> str | None:
    """`AdministratorAccess` for `arn:aws:iam::aws:policy/AdministratorAccess` (AWS managed)."""
    parts = arn.split(":")
    if len(parts) >= 6 and parts[4] == "aws" and parts[5].startswith("policy/"):
        return parts[5].rsplit("/", 1)[-1]
    return None


@rule(title="Roles get no managed policy that grants everything or IAM/KMS administration",
      severity=Severity.HIGH, control=Control.ACCESS, types=("aws_iam_role_policy_attachment",
                                     "aws_iam_policy_attachment"), needs_tier=False)
def aws_iam_role_attachment_not_admin(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A policy attachment never gives a role `*`, `iam:*` or `kms:*` (or the IAM and KMS
    actions that amount to them) through an AWS managed or customer-managed policy.

    Why: separation of duties lives in key policies and in the identity policies of the key
    roles; an attached AdministratorAccess (or IAMFullAccess, or a home-made policy with
    `kms:*`) lets the role rewrite key policies, assume the key-user roles or schedule key
    deletion, and post-apply would otherwise see nothing wrong in the keys themselves.

    Fix: attach only the service-role policies a role needs (keyplane's backup role uses
    AWSBackupServiceRolePolicyForBackup/ForRestores) and grant key use through keyplane's
    inline key-user policies.

    See: https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html
    """
    arn = res.get("policy_arn")
    raw = res.raw("policy_arn")
    if isinstance(arn, str):
        name = _managed_name(arn)
        if name in _ADMIN:
            return failed(f"attaches the aws managed policy {name}: {_ADMIN[name]}", "policy_arn")
        if name is not None:
            return passed(f"attaches the aws managed policy {name}")
    # A customer-managed policy: judge its document when it is in the same plan or stack.
    targets = ctx.index.targets(res, "policy_arn", types=("aws_iam_policy",))
    if not targets:
        if arn is UNKNOWN or (isinstance(raw, str) and "${" in raw):
            return unknown("policy_arn is known only after apply and names no policy of this "
                           "configuration", "policy_arn")
        return passed("attaches a customer-managed policy defined elsewhere") \
            if isinstance(arn, str) else unknown("policy_arn is not set", "policy_arn")
    doc: Any = policydoc.document(targets[0], "policy")
    if doc is UNKNOWN or (isinstance(doc, str) and doc.startswith("${")):
        return unknown(f"the policy of {targets[0].address} is known only after apply",
                       "policy_arn")
    try:
        statements = policydoc.parse(doc)
    except policydoc.PolicyParseError as exc:
        return failed(f"{targets[0].address}: {exc}", "policy_arn")
    for st in statements:
        if not st.allow or "*" not in st.resources:
            continue
        granted = [a for a in _ADMIN_ACTIONS if st.grants(a)]
        if granted:
            return failed(f"attaches {targets[0].address}, whose {st.where} allows "
                          f"{granted[0]} on every resource", "policy_arn")
    return passed(f"attaches {targets[0].address}, which grants no administration")
