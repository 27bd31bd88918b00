"""Every IAM role the stack declares exists."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.access._roles import observed_roles, role_subject, roles_unread


@check(title="Declared roles exist", control=Control.ACCESS, needs={Facet.ROLES})
def role_missing(ctx: CheckContext) -> Iterator[Result]:
    """Every IAM role the stack declares (the duties' roles, the workloads' key-user roles,
    the roles AWS services assume for keyplane) exists in the account.

    Why: a deleted role breaks what depends on it (a workload cannot sign, the trail cannot
    deliver to its log group, backups stop), and the key policies that named it now name a
    principal that no longer exists: a role created again under the same name is not trusted
    by them until they are re-applied.

    Fix: re-apply the environment's stack so Terraform creates the role again (and re-apply
    the key policies that name it), then find out who called DeleteRole (the audit trail).

    See: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-roles
    """
    if ctx.state.env.aws is None:
        return
    roles = observed_roles(ctx)
    if roles is None:
        yield from roles_unread(ctx, ctx.state.all_roles)
        return
    for exp in ctx.state.all_roles:
        if exp.name not in roles:
            yield fail(role_subject(ctx, exp, None), f"role {exp.name} ({exp.role}) does not exist")
