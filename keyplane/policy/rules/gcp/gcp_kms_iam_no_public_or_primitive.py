"""No Cloud KMS or project IAM binding names allUsers, allAuthenticatedUsers or a primitive role."""

from __future__ import annotations

from typing import Any

from keyplane.policy.facts import members
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule

PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
_TYPES = tuple(f"google_{scope}_iam_{kind}"
               for scope in ("kms_crypto_key", "kms_key_ring", "project")
               for kind in ("member", "binding", "policy"))


def _bindings(res: Resource) -> Any:
    """(role, members) pairs of a member, binding or policy resource; UNKNOWN if unknowable."""
    if res.type.endswith(("_member", "_binding")):
        role, who = res.get("role"), members(res)
        if role is UNKNOWN or who is UNKNOWN:
            return UNKNOWN
        return [(role, who)]
    import json

    data = res.get("policy_data")
    if data is UNKNOWN:
        return UNKNOWN
    try:
        doc = json.loads(data) if isinstance(data, str) else {}
    except json.JSONDecodeError:
        return []
    return [(b.get("role"), b.get("members") or []) for b in doc.get("bindings") or []
            if isinstance(b, dict)]


@rule(title="No public members or primitive roles on keys or the project",
      severity=Severity.CRITICAL, control=Control.ACCESS, types=_TYPES, needs_tier=False)
def gcp_kms_iam_no_public_or_primitive(res: Resource, ctx: RuleContext) -> Verdict | None:
    """No binding grants a role to `allUsers` or `allAuthenticatedUsers`, and none grants the
    primitive roles owner, editor or viewer.

    Why: public members open a key to the internet; primitive roles include every Cloud KMS
    permission (owner and editor can decrypt, sign and destroy) and defeat separation of
    duties.

    Fix: grant the predefined Cloud KMS roles (cryptoKeySignerVerifier,
    cryptoKeyEncrypterDecrypter, admin) to named members only.

    See: https://cloud.google.com/kms/docs/iam
    """
    pairs = _bindings(res)
    if pairs is UNKNOWN:
        return unknown("the binding's role or members are known only after apply")
    for role, who in pairs:
        if role in PRIMITIVE_ROLES and res.type.startswith(("google_kms_", "google_project_")):
            return failed(f"grants the primitive role {role}", "role")
        public = sorted(PUBLIC_MEMBERS.intersection(m for m in who if isinstance(m, str)))
        if public:
            return failed(f"grants {role} to {', '.join(public)}", "members")
    return passed("named members and predefined roles only")
