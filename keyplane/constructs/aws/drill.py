"""The drill account's part of an environment, rendered from `DrillAccountPlan`.

Restore drills copy a recovery point into this account's vault and restore it from
there (AWS Backup restores only recovery points the restoring account holds). Construct
ids under the stack's `aws` construct: `providers`, `iam` (the restore role), `drill`
(the vault's key and alias, the vault, its access policy). They are part of the contract.
"""

from __future__ import annotations

from cdktn_provider_aws.backup_vault import BackupVault as AwsBackupVault
from cdktn_provider_aws.backup_vault_policy import BackupVaultPolicy
from constructs import Construct

from keyplane.constructs.aws.iam import SeparationOfDuties
from keyplane.constructs.aws.kms import infrastructure_key
from keyplane.constructs.aws.provider import AwsProviders
from keyplane.constructs.aws.rendered import Rendered, child_id, lifecycle
from keyplane.desired import policy as pol
from keyplane.desired.aws import DrillAccountPlan

DRILL_SCOPE = "drill"


class DrillAccount(Construct):
    """Provider pinned to the drill account, restore role, vault key, vault and its policy."""

    def __init__(self, scope: Construct, id_: str, *, plan: DrillAccountPlan) -> None:
        super().__init__(scope, id_)
        self.plan = plan
        rendered = Rendered()
        self.providers = AwsProviders(self, "providers", plan=(plan.provider,), rendered=rendered)
        self.iam = SeparationOfDuties(self, "iam", plan=plan.iam, rendered=rendered)
        self.iam.render_policies()
        drill = Construct(self, DRILL_SCOPE)
        self.key = infrastructure_key(drill, DRILL_SCOPE, plan.key, rendered)
        vault = plan.vault
        self.vault = rendered.add(vault.path, AwsBackupVault(
            drill, child_id(DRILL_SCOPE, vault.path), name=vault.name,
            kms_key_arn=rendered.resolve(vault.kms_key_arn), tags=dict(vault.tags),
            lifecycle=lifecycle(vault.prevent_destroy)))
        access = plan.vault_policy
        self.vault_policy = rendered.add(access.path, BackupVaultPolicy(
            drill, child_id(DRILL_SCOPE, access.path),
            backup_vault_name=rendered.resolve(access.backup_vault_name),
            policy=pol.to_json(rendered.resolve(access.document))))
