"""Everything keyplane creates in one environment's AWS account, composed from the constructs.

Construct ids under `aws/`: `providers`, `iam`, `cloudhsm`, `keys/<key name>`,
`audit`, `alarms`, `backup`. They are part of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from keyplane.constructs.aws import policy as pol
from keyplane.constructs.aws.alarms import KeyAlarms, KeyAlarmsConfig
from keyplane.constructs.aws.audit import AuditSink, AuditSinkConfig
from keyplane.constructs.aws.backup import BackupVault, BackupVaultConfig
from keyplane.constructs.aws.cloudhsm import CloudHsmKeyStore, CloudHsmKeyStoreConfig
from keyplane.constructs.aws.errors import ConstructConfigError
from keyplane.constructs.aws.iam import SeparationOfDuties, SeparationOfDutiesConfig
from keyplane.constructs.aws.kms import ManagedKey, ManagedKeyConfig
from keyplane.constructs.aws.provider import AwsProviders, AwsProvidersConfig
from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud, KeyUsage, Origin
from keyplane.model.tags import ROLE_CEREMONY
from keyplane.model.tiers import Tier, highest, policy_for


@dataclass(frozen=True, kw_only=True)
class AwsEnvironmentConfig:
    """An environment with at least one aws key and an `aws` section."""

    env: Environment

    def __post_init__(self) -> None:
        if self.env.aws is None:
            raise ConstructConfigError(f"environment '{self.env.name}' has aws keys but no aws "
                                       "section", code="KP310")
        if not self.env.keys_on(Cloud.AWS):
            raise ConstructConfigError(f"environment '{self.env.name}' has no aws keys; "
                                       "keyplane creates no aws resources for it",
                                       code="KP310")

    @property
    def tier(self) -> Tier:
        """The highest tier among the environment's aws keys: what shared resources meet."""
        top = highest([k.tier for k in self.env.keys_on(Cloud.AWS)])
        assert top is not None
        return top


class AwsEnvironment(Construct):
    """Providers, separation-of-duties roles, keys, audit sink, alarms and backup vault."""

    def __init__(self, scope: Construct, id_: str, *, env: Environment) -> None:
        super().__init__(scope, id_)
        config = AwsEnvironmentConfig(env=env)
        assert env.aws is not None
        keys = env.keys_on(Cloud.AWS)
        tier = config.tier
        replica_regions = sorted({r for k in keys for r in (k.replica_regions or ())})
        self.providers = AwsProviders(self, "providers", config=AwsProvidersConfig(
            env_name=env.name, account_id=env.aws.account_id, region=env.aws.region,
            replica_regions=tuple(replica_regions)))
        self.sod = SeparationOfDuties(self, "iam",
                                      config=SeparationOfDutiesConfig(env=env, tier=tier))
        principals = self.sod.principals

        key_store_id = None
        if any(k.origin is Origin.CLOUDHSM for k in keys):
            if env.aws.cloudhsm is None:
                raise ConstructConfigError("origin cloudhsm needs an aws.cloudhsm section",
                                           code="KP307")
            self.cloudhsm = CloudHsmKeyStore(self, "cloudhsm", config=CloudHsmKeyStoreConfig(
                env_name=env.name, cloudhsm=env.aws.cloudhsm))
            key_store_id = self.cloudhsm.key_store_id

        humans = frozenset(w.name for w in env.workloads if w.human)
        scope = Construct(self, "keys")
        self.keys: dict[str, ManagedKey] = {}
        role_deps = list(self.sod.roles.values())
        for key in keys:
            floor = policy_for(key.tier).min_deletion_window_in_days

            def doc(verify_only: bool, key=key, floor=floor) -> pol.PolicyDocument:
                return pol.key_policy(pol.KeyPolicyInput(
                    principals=principals, key=key, min_deletion_window_in_days=floor,
                    verify_only=verify_only, human_workloads=humans))

            self.keys[key.name] = ManagedKey(scope, key.name, config=ManagedKeyConfig(
                env_name=env.name, key=key, policy=doc(False), verify_only_policy=doc(True),
                custom_key_store_id=key_store_id if key.origin is Origin.CLOUDHSM else None,
                replica_providers=self.providers.replicas, depends_on=role_deps))

        # Identity policies of key users: only their keys, only their operations.
        grants: dict[str, list[tuple[tuple[str, ...], list[str]]]] = {}
        for key in keys:
            for user in key.users:
                grants.setdefault(user, []).extend(self.keys[key.name].grants())
        for user, user_grants in sorted(grants.items()):
            self.sod.grant_key_use(f"user-{user}", user_grants, mfa=user in humans)
        ca_keys = [k for k in keys if k.tier is Tier.CA]
        if ca_keys and principals.has_ceremony:
            self.sod.grant_key_use(ROLE_CEREMONY, [g for k in ca_keys
                                                   for g in self.keys[k.name].grants()],
                                   mfa=True)

        self.audit = AuditSink(self, "audit", config=AuditSinkConfig(
            env_name=env.name, account_id=env.aws.account_id, region=env.aws.region,
            tier=tier), sod=self.sod)

        top = policy_for(tier)
        ceremony = {k.name: [a for r in self.keys[k.name].all_keys for a in r.arns]
                    for k in ca_keys}
        # Sign volume of every live generation in every Region: signing with the overlap
        # generation or in a replica Region is as watched as with the current one.
        volume = {k.name: [a for r in self.keys[k.name].all_keys for a in r.arns] for k in keys
                  if k.usage is KeyUsage.SIGN and policy_for(k.tier).sign_volume_anomaly_alarm}
        if top.alarms or volume:
            self.alarms = KeyAlarms(self, "alarms", config=KeyAlarmsConfig(
                env_name=env.name, tier=tier, log_group_name=self.audit.log_group_name,
                topic_kms_key_arn=self.audit.key.arn, principals=principals,
                ceremony_keys=ceremony, sign_volume_keys=volume))
        if top.vault_lock_mode is not None:
            self.backup = BackupVault(self, "backup", config=BackupVaultConfig(
                env_name=env.name, region=env.aws.region, tier=tier, backup=env.aws.backup),
                sod=self.sod)
