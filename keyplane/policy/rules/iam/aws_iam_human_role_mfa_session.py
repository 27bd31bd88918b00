"""Roles that people assume require MFA and a short session."""

from __future__ import annotations

from keyplane.model import tags as T
from keyplane.model.tiers import HUMAN_SESSION_MAX_SECONDS
from keyplane.policy import policydoc
from keyplane.policy.facts import as_int
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

# The separation-of-duties roles people take (workload key-user roles are machines).
HUMAN_ROLES = frozenset({T.ROLE_KEY_ADMIN, T.ROLE_BACKUP_OPERATOR, T.ROLE_AUDITOR,
                         T.ROLE_BREAK_GLASS, T.ROLE_CEREMONY})
# IAM Identity Center permission-set roles: MFA is enforced at sign-in, and
# aws:MultiFactorAuthPresent is not in the context of a session chained from them.
SSO_ROLE_PATH = ":role/aws-reserved/sso.amazonaws.com/"


@rule(title="Human roles require MFA and a short session", severity=Severity.HIGH, control=Control.ACCESS,
      types=("aws_iam_role",))
def aws_iam_human_role_mfa_session(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A key-admin, backup-operator, auditor, break-glass or ceremony role trusts only
    callers with `aws:MultiFactorAuthPresent = true` (or only IAM Identity Center roles, which
    enforce MFA at sign-in) and has a session of at most one hour.

    Why: these roles can change, delete, restore or (ceremony) use keys; a stolen
    long-lived session or a password alone must not be enough.

    Fix: add `"Bool": {"aws:MultiFactorAuthPresent": "true"}` to every Allow statement of
    the trust policy and set `max_session_duration = 3600`.

    See: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_configure-api-require.html
    """
    role = res.context.role
    if role is None:
        name = res.get("name")
        role = policydoc.role_from_name(name) if isinstance(name, str) else None
    if role not in HUMAN_ROLES:
        return not_applicable("not a role people assume")
    doc = policydoc.document(res, "assume_role_policy")
    if doc is UNKNOWN:
        return unknown("assume_role_policy is known only after apply", "assume_role_policy")
    try:
        statements = policydoc.parse(doc if doc is not None else "{}")
    except policydoc.PolicyParseError as exc:
        return failed(str(exc), "assume_role_policy")
    for st in statements:
        if not st.allow:
            continue
        if st.principals and all(p.kind == "AWS" and SSO_ROLE_PATH in p.value
                                 for p in st.principals):
            continue  # IAM Identity Center enforces MFA at sign-in; the key is absent here
        mfa = [v.lower() for v in st.condition_values("aws:MultiFactorAuthPresent",
                                                       frozenset({"bool"}))]
        if mfa != ["true"]:
            return failed(f"{st.where} lets the {role} role be assumed without "
                          "aws:MultiFactorAuthPresent = true", f"assume_role_policy.{st.where}")
    value = res.get("max_session_duration")
    if value is UNKNOWN:
        return unknown("max_session_duration is known only after apply", "max_session_duration")
    session = as_int(value) if value is not None else HUMAN_SESSION_MAX_SECONDS
    if session is None or session > HUMAN_SESSION_MAX_SECONDS:
        return failed(f"max_session_duration is {value} seconds, above "
                      f"{HUMAN_SESSION_MAX_SECONDS} for a human role", "max_session_duration")
    return passed(f"{role} role requires mfa, sessions of {session} seconds")
