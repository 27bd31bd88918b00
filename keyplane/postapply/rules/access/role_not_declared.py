"""No role is named like a keyplane role of the environment unless the stack declares it."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tags import AWS_TAG_ENV
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.access._roles import observed_roles, role_subject, roles_unread


@check(title="No undeclared keyplane roles", control=Control.ACCESS, needs={Facet.ROLES})
def role_not_declared(ctx: CheckContext) -> Iterator[Result]:
    """Every IAM role named `keyplane-<env>-*` (and not tagged as another environment's) is
    one the environment's stack declares.

    Why: a role named like keyplane's reads as part of the environment in every console and
    review, so it is trusted at a glance; one nobody declared was made by hand (or by an
    attacker) and nothing reviews what it can do or who can assume it.

    Fix: delete the role, or declare what it is for in the inventory so the stack creates it
    and the gate reviews it; find out who created it (CreateRole in the audit trail).

    See: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_manage_delete.html
    """
    env = ctx.state.env
    if env.aws is None:
        return
    roles = observed_roles(ctx)
    if roles is None:
        yield from roles_unread(ctx, [None])
        return
    declared = {r.name for r in ctx.state.all_roles}
    prefix = f"keyplane-{env.name}-"
    for name, obs in sorted(roles.items()):
        if name in declared or not name.startswith(prefix) \
                or obs.tags.get(AWS_TAG_ENV) not in (None, env.name):
            continue
        yield fail(role_subject(ctx, None, obs), f"role {name} is named like a keyplane role of "
                                                 f"{env.name} but the stack does not declare it",
                   actual=name)
