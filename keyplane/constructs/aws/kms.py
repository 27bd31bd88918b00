"""Tiered KMS keys: one key (automatic rotation) or one key per live generation, from the plan.

Construct ids are part of the contract: `<key name>/key` for a key that rotates
automatically, `<key name>/g<N>/key` for generation N of a key that cannot, and
`<key name>/alias` for the alias that follows the current generation. Renaming any
of them replaces a key.

A record with an `import_id` (an adopted key, replica or alias) is rendered with a Terraform
`import` block (`import_from`): the first plan imports the existing resource into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cdktn_provider_aws.kms_alias import KmsAlias
from cdktn_provider_aws.kms_external_key import KmsExternalKey
from cdktn_provider_aws.kms_key import KmsKey
from cdktn_provider_aws.kms_replica_key import KmsReplicaKey
from constructs import Construct

from keyplane.constructs.aws.rendered import Rendered, child_id, lifecycle
from keyplane.desired import policy as pol
from keyplane.desired.aws import KMS_EXTERNAL_KEY, AliasPlan, KmsKeyPlan, ManagedKeyPlan


class KeyResources:
    """The resources of one KMS key: the key, its replicas and its own aliases."""

    def __init__(self, scope: Construct, scope_path: str, plan: KmsKeyPlan,
                 rendered: Rendered) -> None:
        self.plan = plan
        # Every argument a guardrail reads is written out, defaults included, so a plan
        # shows it as configured rather than "known after apply".
        common: dict[str, Any] = {
            "description": plan.description,
            "deletion_window_in_days": plan.deletion_window_in_days,
            "bypass_policy_lockout_safety_check": plan.bypass_policy_lockout_safety_check,
            "policy": pol.to_json(rendered.resolve(plan.policy)),
            "tags": dict(plan.tags),
            "lifecycle": lifecycle(plan.prevent_destroy),
            "depends_on": rendered.depends(plan.depends_on),
        }
        self.key: KmsKey | KmsExternalKey = rendered.add(plan.path, _key(
            scope, child_id(scope_path, plan.path), plan, rendered, common))
        if plan.import_id is not None:
            self.key.import_from(plan.import_id)
        self.replicas: dict[str, KmsReplicaKey] = {}
        for replica in plan.replicas:
            self.replicas[replica.region] = rendered.add(replica.path, KmsReplicaKey(
                scope, child_id(scope_path, replica.path),
                primary_key_arn=rendered.resolve(replica.primary_key_arn),
                provider=rendered.provider(replica.region), enabled=replica.enabled,
                description=replica.description,
                deletion_window_in_days=replica.deletion_window_in_days,
                bypass_policy_lockout_safety_check=replica.bypass_policy_lockout_safety_check,
                policy=pol.to_json(rendered.resolve(replica.policy)), tags=dict(replica.tags),
                lifecycle=lifecycle(replica.prevent_destroy),
                depends_on=rendered.depends(replica.depends_on)))
            if replica.import_id is not None:
                self.replicas[replica.region].import_from(replica.import_id)
        self.aliases = render_aliases(scope, scope_path, plan.aliases, rendered)

    @property
    def arns(self) -> list[str]:
        """The ARNs of the key and its replicas (tokens until apply)."""
        return [self.key.arn, *(r.arn for r in self.replicas.values())]


def _key(scope: Construct, id_: str, plan: KmsKeyPlan, rendered: Rendered,
         common: dict[str, Any]) -> KmsKey | KmsExternalKey:
    if plan.resource_type == KMS_EXTERNAL_KEY:
        # No key material here: the escrowed import procedure brings it; until then
        # the key waits in PendingImport.
        # key_spec/key_usage exist from hashicorp/aws 6.11 (imported asymmetric and HMAC
        # keys); a symmetric imported key leaves them out and works with 5.100 too.
        spec: dict[str, Any] = {} if plan.spec == "SYMMETRIC_DEFAULT" else {
            "key_spec": plan.spec, "key_usage": plan.usage}
        return KmsExternalKey(scope, id_, enabled=plan.enabled, multi_region=plan.multi_region,
                              **spec, **common)
    rotation: dict[str, Any] = {"enable_key_rotation": plan.rotation_enabled}
    if plan.rotation_enabled:
        rotation["rotation_period_in_days"] = plan.rotation_period_in_days
    return KmsKey(scope, id_, customer_master_key_spec=plan.spec, key_usage=plan.usage,
                  is_enabled=plan.enabled, multi_region=plan.multi_region,
                  custom_key_store_id=rendered.resolve(plan.custom_key_store_id),
                  **rotation, **common)


def render_aliases(scope: Construct, scope_path: str, aliases: Sequence[AliasPlan],
                   rendered: Rendered) -> list[KmsAlias]:
    """The planned aliases directly below `scope_path` (existing ones imported)."""
    out = []
    for a in aliases:
        alias = rendered.add(a.path, KmsAlias(scope, child_id(scope_path, a.path), name=a.name,
                                              target_key_id=rendered.resolve(a.target_key_id),
                                              provider=rendered.provider(a.region)))
        if a.import_id is not None:
            alias.import_from(a.import_id)
        out.append(alias)
    return out


class TieredKmsKey(Construct):
    """One generation of a declared key: its KMS key, replicas and generation alias."""

    def __init__(self, scope: Construct, id_: str, *, scope_path: str, plan: KmsKeyPlan,
                 rendered: Rendered) -> None:
        super().__init__(scope, id_)
        self.resources = KeyResources(self, scope_path, plan, rendered)


class ManagedKey(Construct):
    """A declared key with its alias: `key` (automatic rotation) or `g<N>` per generation."""

    def __init__(self, scope: Construct, id_: str, *, plan: ManagedKeyPlan,
                 rendered: Rendered) -> None:
        super().__init__(scope, id_)
        self.plan = plan
        self.generations: dict[int, KeyResources] = {}
        if plan.rotates:
            # A key that rotates automatically has its resources directly under the
            # declared key's id: `<name>/key`, `<name>/alias`.
            self.current = KeyResources(self, plan.path, plan.current, rendered)
        else:
            for key in plan.keys:
                assert key.generation is not None
                self.generations[key.generation] = TieredKmsKey(
                    self, child_id(plan.path, key.scope), scope_path=key.scope, plan=key,
                    rendered=rendered).resources
            self.current = self.generations[plan.current.generation or 0]
        self.aliases = render_aliases(self, plan.path, plan.aliases, rendered)

    @property
    def all_keys(self) -> list[KeyResources]:
        """Every KMS key of this declared key (one, or one per generation)."""
        return list(self.generations.values()) or [self.current]


def infrastructure_key(scope: Construct, scope_path: str, plan: KmsKeyPlan,
                       rendered: Rendered) -> KmsKey:
    """The symmetric key of one of keyplane's own services (audit trail, backup vault), with
    its alias: construct ids `key` and `key-alias` under `scope`."""
    key = KmsKey(scope, child_id(scope_path, plan.path), description=plan.description,
                 customer_master_key_spec=plan.spec, key_usage=plan.usage,
                 enable_key_rotation=plan.rotation_enabled,
                 rotation_period_in_days=plan.rotation_period_in_days,
                 multi_region=plan.multi_region,
                 bypass_policy_lockout_safety_check=plan.bypass_policy_lockout_safety_check,
                 deletion_window_in_days=plan.deletion_window_in_days,
                 policy=pol.to_json(rendered.resolve(plan.policy)), tags=dict(plan.tags),
                 lifecycle=lifecycle(plan.prevent_destroy),
                 depends_on=rendered.depends(plan.depends_on))
    rendered.add(plan.path, key)
    render_aliases(scope, scope_path, plan.aliases, rendered)
    return key
