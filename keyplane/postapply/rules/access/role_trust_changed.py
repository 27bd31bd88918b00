"""Every keyplane role's trust policy is the one the stack declares."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.access._roles import (
    observed_roles,
    role_subject,
    roles_unread,
    trust_changes,
)


@check(title="Role trust policies are as declared", control=Control.ACCESS, needs={Facet.ROLES})
def role_trust_changed(ctx: CheckContext) -> Iterator[Result]:
    """The trust policy (who may assume it) of every IAM role the stack declares is the one
    the stack declares, statement by statement: no wildcard or undeclared principal, no
    removed or loosened MFA condition, no removed or loosened OIDC `sub`/`aud` condition.

    Why: whoever can assume a role holds everything the role can do. A key-user role that
    trusts `*`, another account, or any GitHub repository (its `sub` condition gone) hands its
    keys to them, while the key policy the gate reviewed still names only the role.

    Fix: re-apply the environment's stack (Terraform restores `assume_role_policy`), then find
    out who called UpdateAssumeRolePolicy (the audit trail) and what the role did since: its
    sessions show in CloudTrail as `AssumeRole*` events on the role's ARN.

    See: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#term_trust-policy
    """
    if ctx.state.env.aws is None:
        return
    roles = observed_roles(ctx)
    if roles is None:
        yield from roles_unread(ctx, ctx.state.all_roles)
        return
    for exp in ctx.state.all_roles:
        obs = roles.get(exp.name)
        if obs is None or exp.trust_policy is None:
            continue  # a missing role is access.role_missing's
        changes = trust_changes(exp.trust_policy, obs.trust_policy)
        if changes:
            yield fail(role_subject(ctx, exp, obs),
                       f"trust policy of {exp.name} changed: {'; '.join(changes)}",
                       expected=exp.trust_policy, actual=obs.trust_policy)
