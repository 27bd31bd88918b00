"""Separation of duties: the IAM roles around an environment's keys, rendered from the plan.

Role names and the `keyplane:role` tag follow `keyplane.model.tags`. Construct ids
are the role names' suffixes (`key-admin`, `user-<workload>`, ...): stable, since
renaming one replaces a role and breaks every key policy that names it.
"""

from __future__ import annotations

from cdktn_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from cdktn_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from keyplane.constructs.aws.rendered import Rendered, child_id, is_below
from keyplane.desired import policy as pol
from keyplane.desired.aws import IamPlan


class SeparationOfDuties(Construct):
    """Key admin, key users, backup operator, auditor, break-glass, ceremony and service roles.

    The roles and OIDC providers are rendered at once; the inline policies below `iam`
    by `render_policies`, once the keys they name exist.
    """

    def __init__(self, scope: Construct, id_: str, *, plan: IamPlan, rendered: Rendered) -> None:
        super().__init__(scope, id_)
        self.plan = plan
        self._path = id_
        self._rendered = rendered
        self.oidc: dict[str, IamOpenidConnectProvider] = {}
        for provider in plan.oidc_providers:
            self.oidc[provider.issuer] = rendered.add(provider.path, IamOpenidConnectProvider(
                self, child_id(id_, provider.path), url=provider.url,
                client_id_list=list(provider.client_ids), tags=dict(provider.tags)))
        self.roles: dict[str, IamRole] = {}
        for role in plan.roles:
            self.roles[role.construct_id] = rendered.add(role.path, IamRole(
                self, child_id(id_, role.path), name=role.name, description=role.description,
                assume_role_policy=pol.to_json(rendered.resolve(role.trust_policy)),
                max_session_duration=role.max_session_duration, tags=dict(role.tags)))
            if role.import_id is not None:  # a keyplane role that exists already (adopted)
                self.roles[role.construct_id].import_from(role.import_id)

    def render_policies(self) -> None:
        """The inline policies and attachments planned below `iam`."""
        render_role_policies(self, self._path, self.plan, self._rendered)

    def role_for_workload(self, workload: str) -> IamRole:
        """The key-user role of `workload`."""
        return self.roles[f"user-{workload}"]


def render_role_policies(scope: Construct, path: str, plan: IamPlan, rendered: Rendered) -> None:
    """The roles' inline policies and managed policy attachments planned directly below `path`."""
    for role in plan.roles:
        for inline in role.inline_policies:
            if is_below(path, inline.path):
                policy = rendered.add(inline.path, IamRolePolicy(
                    scope, child_id(path, inline.path), name=inline.name,
                    role=rendered.resolve(inline.role),
                    policy=pol.to_json(rendered.resolve(inline.document))))
                if inline.import_id is not None:
                    policy.import_from(inline.import_id)
        for attachment in role.managed_policies:
            if is_below(path, attachment.path):
                rendered.add(attachment.path, IamRolePolicyAttachment(
                    scope, child_id(path, attachment.path), role=rendered.resolve(attachment.role),
                    policy_arn=attachment.policy_arn))
