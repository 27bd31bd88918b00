"""No keyplane role has a permissions policy the stack does not declare."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.access._roles import (
    admin_reason,
    observed_roles,
    role_subject,
    roles_unread,
    widening,
)
from keyplane.postapply.stack import matches


@check(title="Roles have only their declared policies", control=Control.ACCESS,
       needs={Facet.ROLES})
def role_policy_added(ctx: CheckContext) -> Iterator[Result]:
    """Every IAM role the stack declares has only the permissions policies the stack
    declares: no managed policy attached that it does not attach, no inline policy it does
    not declare, no statement of a declared inline policy widened or added, none of its Deny
    statements removed. A policy that is AdministratorAccess, PowerUserAccess or
    IAMFullAccess, or that allows `*`, `iam:*` or `kms:*`, is reported as administrator access.

    Why: a role's policies decide what its holder can do; one attached policy turns a
    key-user or auditor role into an administrator who can rewrite key policies, create
    grants, or give itself any other role, with nothing changed on the keys the gate reviewed.

    Fix: detach the policy (`aws iam detach-role-policy`) or delete the inline policy
    (`aws iam delete-role-policy`), or re-apply the stack; then find out who attached it
    (AttachRolePolicy, PutRolePolicy in the audit trail) and what the role did since.

    See: https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html
    """
    if ctx.state.env.aws is None:
        return
    roles = observed_roles(ctx)
    if roles is None:
        yield from roles_unread(ctx, ctx.state.all_roles)
        return
    for exp in ctx.state.all_roles:
        obs = roles.get(exp.name)
        if obs is None:
            continue  # a missing role is access.role_missing's
        subject = role_subject(ctx, exp, obs)
        for arn in obs.attached_policy_arns:
            if any(matches(d, arn) for d in exp.managed_policy_arns):
                continue
            admin = admin_reason(arn, obs.attached_policies.get(arn))
            yield fail(subject, f"managed policy {arn.rsplit('/', 1)[-1]} is attached to "
                                f"{exp.name} but not declared" + (f" ({admin})" if admin else ""),
                       expected=list(exp.managed_policy_arns), actual=arn)
        for name, doc in sorted(obs.inline_policies.items()):
            if name not in exp.inline_policies:
                admin = admin_reason(None, doc)
                yield fail(subject, f"inline policy {name} of {exp.name} is not declared"
                                    + (f" ({admin})" if admin else ""),
                           expected=sorted(exp.inline_policies), actual=name)
                continue
            added, dropped = widening(exp.inline_policies[name], doc)
            if not added and not dropped:
                continue
            parts = []
            if added:
                parts.append(f"allows {len(added)} statement(s) the stack does not declare "
                             f"({_sids(added)})")
            if dropped:
                parts.append(f"drops the deny statement(s) {_sids(dropped)}")
            admin = admin_reason(None, {"Statement": added})
            yield fail(subject, f"inline policy {name} of {exp.name} {' and '.join(parts)}"
                                + (f" ({admin})" if admin else ""),
                       expected=exp.inline_policies[name], actual=doc)


def _sids(stmts: list[dict[str, Any]]) -> str:
    return ", ".join(str(s.get("Sid") or "no sid") for s in stmts)
