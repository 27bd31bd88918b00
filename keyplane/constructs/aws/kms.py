"""Tiered KMS keys: one key (automatic rotation) or one key per live generation.

Construct ids are part of the contract: `<key name>/key` for a key that rotates
automatically, `<key name>/g<N>/key` for generation N of a key that cannot, and
`<key name>/alias` for the alias that follows the current generation. Renaming any
of them replaces a key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktn import ITerraformDependable, TerraformProvider, TerraformResourceLifecycle
from cdktn_provider_aws.kms_alias import KmsAlias
from cdktn_provider_aws.kms_external_key import KmsExternalKey
from cdktn_provider_aws.kms_key import KmsKey
from cdktn_provider_aws.kms_replica_key import KmsReplicaKey
from constructs import Construct

from keyplane.constructs.aws import policy as pol
from keyplane.constructs.aws.errors import ConstructConfigError
from keyplane.model import limits
from keyplane.model.environment import Generation, KeyDecl
from keyplane.model.specs import (
    AWS_KEY_SPECS,
    AWS_KEY_USAGE,
    Cloud,
    KeyFamily,
    Origin,
    rotation_eligibility,
)
from keyplane.model.tags import (
    AWS_TAG_CREATED_ON,
    AWS_TAG_GENERATION,
    AWS_TAG_KEY,
    aws_tags,
    service_key_name,
)
from keyplane.model.tiers import TierPolicy, policy_for

# (actions, resource ARNs) a key's user needs on this key: what IAM identity policies list.
Grant = tuple[tuple[str, ...], list[str]]


def _check_key(key: KeyDecl, *, custom_key_store_id: str | None,
               replica_providers: Mapping[str, Any]) -> KeyFamily:
    """Eager checks shared by single keys and generations; returns the key's family."""
    if key.cloud is not Cloud.AWS:
        raise ConstructConfigError(f"key '{key.name}' is on {key.cloud.value}; this construct "
                                   "builds aws keys only", code="KP301")
    if key.spec not in AWS_KEY_SPECS:
        raise ConstructConfigError(f"key '{key.name}': spec '{key.spec}' is not an aws key "
                                   f"spec; allowed: {', '.join(AWS_KEY_SPECS)}", code="KP301")
    info = AWS_KEY_SPECS[key.spec]
    if key.usage not in info.usages:
        raise ConstructConfigError(f"key '{key.name}': spec '{key.spec}' cannot be used to "
                                   f"{key.usage.value}", code="KP301")
    tier = policy_for(key.tier)
    if key.origin is Origin.CLOUDHSM:
        if custom_key_store_id is None:
            raise ConstructConfigError(f"key '{key.name}' has origin cloudhsm and needs a "
                                       "custom_key_store_id", code="KP301")
        if key.spec != "SYMMETRIC_DEFAULT":
            raise ConstructConfigError(f"key '{key.name}': custom key stores hold only "
                                       f"SYMMETRIC_DEFAULT keys, got '{key.spec}'",
                                       code="KP301")
    elif custom_key_store_id is not None:
        raise ConstructConfigError(f"key '{key.name}' has origin "
                                   f"{key.origin.value if key.origin else 'none'}; "
                                   "custom_key_store_id applies to origin cloudhsm only",
                                   code="KP301")
    window = key.deletion_window_in_days
    if window is None or not limits.AWS_KMS_DELETION_WINDOW.contains(window):
        raise ConstructConfigError(
            f"key '{key.name}': deletion_window_in_days must be "
            f"{limits.AWS_KMS_DELETION_WINDOW.describe()}, got {window}", code="KP303")
    if window < tier.min_deletion_window_in_days:
        raise ConstructConfigError(
            f"key '{key.name}': deletion_window_in_days must be at least "
            f"{tier.min_deletion_window_in_days} for the {key.tier.value} tier, got {window}",
            code="KP303")
    replicas = key.replica_regions or ()
    if replicas and not tier.replicas_allowed:
        raise ConstructConfigError(f"key '{key.name}': {key.tier.value} keys have no "
                                   "multi-region replicas", code="KP304")
    if len(replicas) < tier.min_replica_regions:
        raise ConstructConfigError(
            f"key '{key.name}': {key.tier.value} keys need at least {tier.min_replica_regions} "
            f"replica region(s), got {len(replicas)}", code="KP304")
    if replicas and key.origin is Origin.EXTERNAL:
        raise ConstructConfigError(f"key '{key.name}': imported keys are single-region in "
                                   "keyplane; remove replica_regions", code="KP304")
    missing = [r for r in replicas if r not in replica_providers]
    if missing:
        raise ConstructConfigError(f"key '{key.name}': no provider for replica region(s) "
                                   f"{', '.join(missing)}", code="KP304")
    return info.family


@dataclass(frozen=True, kw_only=True)
class TieredKmsKeyConfig:
    """One KMS key of a declared key (or of one of its generations).

    Everything comes from the filled-in `KeyDecl`: spec, usage, origin, deletion
    window, rotation period, replicas. `generation` (default: none) marks a key
    that cannot rotate automatically; `alias_name` (default: no alias) is created
    in the primary Region and in every replica Region.
    """

    env_name: str
    key: KeyDecl
    policy: pol.PolicyDocument
    generation: Generation | None = None
    alias_name: str | None = None
    custom_key_store_id: str | None = None
    replica_providers: Mapping[str, TerraformProvider] = field(default_factory=dict)
    depends_on: Sequence[ITerraformDependable] = ()

    def __post_init__(self) -> None:
        key = self.key
        family = _check_key(key, custom_key_store_id=self.custom_key_store_id,
                            replica_providers=self.replica_providers)
        elig = rotation_eligibility(cloud=Cloud.AWS, family=family,
                                    origin=key.origin or Origin.KMS,
                                    custom_key_store=self.custom_key_store_id is not None)
        if key.rotation_period_in_days is not None:
            if not elig:
                raise ConstructConfigError(f"key '{key.name}' cannot rotate automatically: "
                                           f"{elig.reason}", code="KP302")
            lim = limits.AWS_KMS_ROTATION_PERIOD
            if not lim.contains(key.rotation_period_in_days):
                raise ConstructConfigError(
                    f"key '{key.name}': rotation_period_in_days must be {lim.describe()}, got "
                    f"{key.rotation_period_in_days}", code="KP302")
            if self.generation is not None:
                raise ConstructConfigError(f"key '{key.name}' rotates automatically; it has no "
                                           "generations", code="KP305")
        elif self.generation is None:
            raise ConstructConfigError(f"key '{key.name}' cannot rotate automatically "
                                       f"({elig.reason}) and needs a generation",
                                       code="KP305")
        elif self.generation not in key.generations:
            raise ConstructConfigError(f"key '{key.name}': generation "
                                       f"{self.generation.generation} is not declared",
                                       code="KP305")

    @property
    def rotates(self) -> bool:
        """Whether the cloud rotates this key's material (the model filled a period)."""
        return self.key.rotation_period_in_days is not None

    def tags(self) -> dict[str, str]:
        """`keyplane:env/tier/key`, plus generation and creation date for generation keys."""
        tags = aws_tags(self.env_name, self.key.tier, self.key.name)
        if self.generation is not None:
            tags[AWS_TAG_GENERATION] = str(self.generation.generation)
            tags[AWS_TAG_CREATED_ON] = self.generation.created_on.isoformat()
        return tags


class KeyResources:
    """The resources of one KMS key: the key, its replicas and its aliases."""

    def __init__(self, scope: Construct, config: TieredKmsKeyConfig) -> None:
        key, tier = config.key, policy_for(config.key.tier)
        self.config = config
        gen = config.generation
        enabled = gen.enabled if gen is not None else True
        described = key.description or key.name
        if gen is not None:
            described += f" (generation {gen.generation})"
        lifecycle = TerraformResourceLifecycle(prevent_destroy=True) \
            if tier.prevent_destroy else None
        # Every argument a guardrail reads is written out, defaults included, so a plan
        # shows it as configured rather than "known after apply".
        common: dict[str, Any] = {
            "description": described,
            "deletion_window_in_days": key.deletion_window_in_days,
            "bypass_policy_lockout_safety_check": False,
            "policy": pol.to_json(config.policy),
            "tags": config.tags(),
            "lifecycle": lifecycle,
            "depends_on": list(config.depends_on) or None,
        }
        multi = bool(key.replica_regions)
        self.key: KmsKey | KmsExternalKey
        if key.origin is Origin.EXTERNAL:
            # No key material here: the escrowed import procedure brings it; until then
            # the key waits in PendingImport.
            # key_spec/key_usage exist from hashicorp/aws 6.11 (imported asymmetric and HMAC
            # keys); a symmetric imported key leaves them out and works with 5.100 too.
            spec: dict[str, Any] = {} if key.spec == "SYMMETRIC_DEFAULT" else {
                "key_spec": key.spec, "key_usage": AWS_KEY_USAGE[key.usage]}
            self.key = KmsExternalKey(scope, "key", enabled=enabled, multi_region=multi,
                                      **spec, **common)
        else:
            rotation: dict[str, Any] = {"enable_key_rotation": False}
            if config.rotates:
                rotation = {"enable_key_rotation": True,
                            "rotation_period_in_days": key.rotation_period_in_days}
            self.key = KmsKey(scope, "key", customer_master_key_spec=key.spec,
                              key_usage=AWS_KEY_USAGE[key.usage], is_enabled=enabled,
                              multi_region=multi,
                              custom_key_store_id=config.custom_key_store_id,
                              **rotation, **common)
        self.replicas: dict[str, KmsReplicaKey] = {}
        for region in key.replica_regions or ():
            self.replicas[region] = KmsReplicaKey(
                scope, f"replica-{region}", primary_key_arn=self.key.arn,
                provider=config.replica_providers[region], enabled=enabled, **common)
        self.aliases: list[KmsAlias] = []
        if config.alias_name is not None:
            self.aliases = alias_everywhere(scope, "alias", config.alias_name, self)

    @property
    def arns(self) -> list[str]:
        """The ARNs of the key and its replicas (tokens until apply)."""
        return [self.key.arn, *(r.arn for r in self.replicas.values())]


class TieredKmsKey(Construct):
    """A KMS key whose every control comes from its tier, with its replicas and alias."""

    def __init__(self, scope: Construct, id_: str, *, config: TieredKmsKeyConfig) -> None:
        super().__init__(scope, id_)
        self.resources = KeyResources(self, config)


def alias_everywhere(scope: Construct, id_: str, name: str, target: KeyResources
                     ) -> list[KmsAlias]:
    """The alias `name` in the primary Region and in every replica Region of `target`."""
    out = [KmsAlias(scope, id_, name=name, target_key_id=target.key.id)]
    providers = target.config.replica_providers
    for region, replica in target.replicas.items():
        out.append(KmsAlias(scope, f"{id_}-{region}", name=name, target_key_id=replica.key_id,
                            provider=providers[region]))
    return out


@dataclass(frozen=True, kw_only=True)
class ManagedKeyConfig:
    """A declared key: one KMS key when it rotates automatically, else one per generation.

    `policy` is the policy of the key (or of its current generation); `verify_only_policy`
    (default: `policy`) is given to generations that are no longer current.
    """

    env_name: str
    key: KeyDecl
    policy: pol.PolicyDocument
    verify_only_policy: pol.PolicyDocument | None = None
    custom_key_store_id: str | None = None
    replica_providers: Mapping[str, TerraformProvider] = field(default_factory=dict)
    depends_on: Sequence[ITerraformDependable] = ()

    def __post_init__(self) -> None:
        key = self.key
        _check_key(key, custom_key_store_id=self.custom_key_store_id,
                   replica_providers=self.replica_providers)
        if key.alias is None or not key.alias.startswith("alias/") \
                or key.alias.startswith(limits.AWS_RESERVED_ALIAS_PREFIX):
            raise ConstructConfigError(f"key '{key.name}': alias must start with 'alias/' and "
                                       f"not 'alias/aws/', got {key.alias!r}", code="KP301")
        if key.rotation_period_in_days is None:
            if key.generation is None or key.current_generation() is None:
                listed = ", ".join(str(g.generation) for g in key.generations) or "none"
                raise ConstructConfigError(
                    f"key '{key.name}': current generation {key.generation} is not among the "
                    f"declared generations ({listed})", code="KP305")
            numbers = [g.generation for g in key.generations]
            if len(set(numbers)) != len(numbers):
                raise ConstructConfigError(f"key '{key.name}': generations must be distinct, "
                                           f"got {', '.join(map(str, numbers))}", code="KP305")


class ManagedKey(Construct):
    """A declared key with its alias: `key` (automatic rotation) or `g<N>` per generation."""

    def __init__(self, scope: Construct, id_: str, *, config: ManagedKeyConfig) -> None:
        super().__init__(scope, id_)
        key = config.key
        self.config = config
        self.generations: dict[int, KeyResources] = {}
        self.aliases: list[KmsAlias] = []
        common: dict[str, Any] = {
            "env_name": config.env_name,
            "key": key,
            "custom_key_store_id": config.custom_key_store_id,
            "replica_providers": config.replica_providers,
            "depends_on": config.depends_on,
        }
        if key.rotation_period_in_days is not None:
            # A key that rotates automatically has its resources directly under the
            # declared key's id: `<name>/key`, `<name>/alias`.
            self.current = KeyResources(self, TieredKmsKeyConfig(
                policy=config.policy, alias_name=key.alias, **common))
            return
        verify_policy = config.verify_only_policy or config.policy
        for gen in sorted(key.generations, key=lambda g: g.generation):
            is_current = gen.generation == key.generation
            self.generations[gen.generation] = TieredKmsKey(
                self, f"g{gen.generation}",
                config=TieredKmsKeyConfig(
                    policy=config.policy if is_current else verify_policy, generation=gen,
                    alias_name=f"{key.alias}/g{gen.generation}", **common)).resources
        assert key.generation is not None and key.alias is not None
        self.current = self.generations[key.generation]
        # The alias is a child of the declared key, not of a generation, so a rotation
        # updates it in place (UpdateAlias) instead of deleting and re-creating it.
        self.aliases = alias_everywhere(self, "alias", key.alias, self.current)

    def grants(self) -> list[Grant]:
        """What a user of this key needs: full use of the current key, verify-only on
        enabled older generations, nothing on disabled ones."""
        key = self.config.key
        family = pol.key_family(key)
        out: list[Grant] = [(pol.use_actions(key.usage, family), self.current.arns)]
        older = [k for n, k in sorted(self.generations.items())
                 if n != key.generation and k.config.generation is not None
                 and k.config.generation.enabled]
        if older:
            out.append((pol.use_actions(key.usage, family, verify_only=True),
                        [a for k in older for a in k.arns]))
        return out

    @property
    def all_keys(self) -> list[KeyResources]:
        """Every KMS key of this declared key (one, or one per generation)."""
        return list(self.generations.values()) or [self.current]


def infrastructure_key(scope: Construct, *, env: str, purpose: str, description: str,
                       tier: TierPolicy, policy: str, tags: dict[str, str],
                       lifecycle: Any, depends_on: list[Any]) -> KmsKey:
    """The symmetric key of one of keyplane's own services (audit trail, backup vault).

    Construct ids `key` and `key-alias` under `scope`, alias `alias/keyplane-<env>-<purpose>`;
    rotation at the tier's maximum period and the tier's deletion window.
    """
    key = KmsKey(scope, "key", description=description,
                 customer_master_key_spec="SYMMETRIC_DEFAULT", key_usage="ENCRYPT_DECRYPT",
                 enable_key_rotation=True, rotation_period_in_days=tier.max_rotation_period_in_days,
                 multi_region=False, bypass_policy_lockout_safety_check=False,
                 deletion_window_in_days=tier.default_deletion_window_in_days, policy=policy,
                 tags={**tags, AWS_TAG_KEY: service_key_name(purpose)}, lifecycle=lifecycle,
                 depends_on=depends_on)
    KmsAlias(scope, "key-alias", name=f"alias/keyplane-{env}-{purpose}", target_key_id=key.key_id)
    return key
