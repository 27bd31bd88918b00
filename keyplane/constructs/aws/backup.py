"""A locked AWS Backup vault per environment, its own KMS key, plan, copies and restore tests.

The vault serves the whole environment, so it carries the highest tier of the
environment's keys: COMPLIANCE lock for ca/production, GOVERNANCE for
non-production, no vault for an environment of ephemeral keys only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle
from cdktn_provider_aws.backup_plan import (
    BackupPlan,
    BackupPlanRule,
    BackupPlanRuleCopyAction,
    BackupPlanRuleCopyActionLifecycle,
    BackupPlanRuleLifecycle,
)
from cdktn_provider_aws.backup_restore_testing_plan import (
    BackupRestoreTestingPlan,
    BackupRestoreTestingPlanRecoveryPointSelection,
)
from cdktn_provider_aws.backup_restore_testing_selection import BackupRestoreTestingSelection
from cdktn_provider_aws.backup_selection import (
    BackupSelection,
    BackupSelectionCondition,
    BackupSelectionConditionStringEquals,
)
from cdktn_provider_aws.backup_vault import BackupVault as AwsBackupVault
from cdktn_provider_aws.backup_vault_lock_configuration import BackupVaultLockConfiguration
from cdktn_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from keyplane.constructs.aws import policy as pol
from keyplane.constructs.aws.errors import ConstructConfigError
from keyplane.constructs.aws.iam import SeparationOfDuties, backup_service_role_name
from keyplane.constructs.aws.kms import infrastructure_key
from keyplane.model import limits
from keyplane.model.environment import AwsBackup
from keyplane.model.tags import (
    AWS_TAG_DECLARED_ACCOUNTS,
    AWS_TAG_ENV,
    ROLE_BACKUP_OPERATOR,
    aws_tags,
)
from keyplane.model.tiers import Tier, policy_for

# Tiers whose drills restore from backups (shared/TIERS.md, restore drill cadence).
RESTORE_TESTING_TIERS = frozenset({Tier.CA, Tier.PRODUCTION})
# AWS Backup's names for the resource types keyplane can back up and restore-test.
RESOURCE_TYPES = {"dynamodb": "DynamoDB", "s3": "S3", "rds": "RDS", "elasticfilesystem": "EFS",
                  "ec2": "EBS", "fsx": "FSx", "docdb": "DocumentDB"}
# AWS managed policies of the backup service role, with the path AWS files each under: the
# S3 ones live at the root, not under service-role/ (an ARN with the wrong path does not exist,
# and the first apply fails on it: found by the sandbox, whose IAM holds AWS's catalogue).
MANAGED_POLICIES = (("service-role/", "AWSBackupServiceRolePolicyForBackup"),
                    ("service-role/", "AWSBackupServiceRolePolicyForRestores"),
                    ("", "AWSBackupServiceRolePolicyForS3Backup"),
                    ("", "AWSBackupServiceRolePolicyForS3Restore"))
# Schedules (UTC): daily backups keep the CloudHSM-style "at least every 24 h" cadence.
BACKUP_SCHEDULE = "cron(0 5 ? * * *)"
# How long a restored copy stays for the drill's checks (within the 0-168 h limit).
RESTORE_VALIDATION_WINDOW_HOURS = 24


def restore_testing_schedule(cadence_in_days: int) -> str:
    """A cron expression that runs every `cadence_in_days` (a whole number of months)."""
    if cadence_in_days % 30:
        raise ConstructConfigError(f"restore testing cadence must be a multiple of 30 days, "
                                   f"got {cadence_in_days}", code="KP309")
    months = cadence_in_days // 30
    return f"cron(0 6 1 {'*' if months == 1 else f'*/{months}'} ? *)"


def resource_type(arn: str) -> str:
    """AWS Backup's protected resource type of an ARN (`arn:aws:dynamodb:...` -> DynamoDB)."""
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    if service not in RESOURCE_TYPES:
        raise ConstructConfigError(f"cannot back up '{arn}': service '{service}' is not one "
                                   f"of {', '.join(sorted(RESOURCE_TYPES))}", code="KP309")
    return RESOURCE_TYPES[service]


@dataclass(frozen=True, kw_only=True)
class BackupVaultConfig:
    """The backup vault of an environment; `tier` is the highest tier it serves.

    `backup` (default: none) names the resources the plan protects, the account that
    receives cross-account copies (required for ca) and the drill account.
    """

    env_name: str
    region: str
    tier: Tier
    backup: AwsBackup | None = None

    def __post_init__(self) -> None:
        tier = policy_for(self.tier)
        if tier.vault_lock_mode is None or tier.vault_min_retention_in_days is None:
            raise ConstructConfigError(f"the {self.tier.value} tier has no backup vault",
                                       code="KP309")
        if not limits.BACKUP_VAULT_RETENTION.contains(tier.vault_min_retention_in_days):
            raise ConstructConfigError(
                f"min retention must be {limits.BACKUP_VAULT_RETENTION.describe()}, got "
                f"{tier.vault_min_retention_in_days}", code="KP309")
        if tier.cross_account_backup_copy and (self.backup is None
                                               or self.backup.copy_to_account_id is None):
            raise ConstructConfigError(f"the {self.tier.value} tier copies backups to another "
                                       "account; set aws.backup.copy_to_account_id",
                                       code="KP309")
        if not limits.BACKUP_RESTORE_VALIDATION_WINDOW.contains(
                RESTORE_VALIDATION_WINDOW_HOURS):
            raise ConstructConfigError("restore validation window out of range", code="KP309")
        for res in self.resources:
            resource_type(res.arn)
        if self.tier in RESTORE_TESTING_TIERS and tier.drill_cadence_in_days is not None:
            restore_testing_schedule(tier.drill_cadence_in_days)

    @property
    def resources(self) -> tuple:  # type: ignore[type-arg]
        """The declared resources to back up (default: none)."""
        return self.backup.resources if self.backup is not None else ()

    @property
    def vault_name(self) -> str:
        """`keyplane-<env>`; the copy account is expected to hold `keyplane-<env>-copy`."""
        return f"keyplane-{self.env_name}"


class BackupVault(Construct):
    """Backup KMS key, vault, vault lock, service role, plan, selection and restore tests."""

    def __init__(self, scope: Construct, id_: str, *, config: BackupVaultConfig,
                 sod: SeparationOfDuties) -> None:
        super().__init__(scope, id_)
        env, tier = config.env_name, policy_for(config.tier)
        p = sod.principals
        part, acct, region = p.partition, p.account_id, config.region
        tags = aws_tags(env, config.tier)
        keep = TerraformResourceLifecycle(prevent_destroy=True) if tier.prevent_destroy \
            else None
        service_role_arn = f"arn:{part}:iam::{acct}:role/{backup_service_role_name(env)}"
        via_backup = {"StringEquals": {"kms:ViaService": f"backup.{region}.amazonaws.com"}}

        self.service_role = sod.service_role(
            "backup-service", backup_service_role_name(env), "backup.amazonaws.com", None,
            "aws backup runs the plan and restore tests")
        for path, name in MANAGED_POLICIES:
            # construct id unchanged (addresses are part of the contract)
            IamRolePolicyAttachment(self, f"service-role-{name}", role=self.service_role.name,
                                    policy_arn=f"arn:{part}:iam::aws:policy/{path}{name}")

        statements = pol.administration(p)
        statements += pol.deletion_guard(p, min_window_in_days=tier.min_deletion_window_in_days)
        statements += pol.auditing(p)
        statements.append(pol.statement(
            "BackupServiceUse", "Allow", {"AWS": service_role_arn},
            ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
             "kms:ReEncrypt*"], via_backup))
        # Grants only for AWS resources (the vault's recovery points), never to a principal.
        statements.append(pol.statement(
            "BackupServiceGrants", "Allow", {"AWS": service_role_arn}, ["kms:CreateGrant"],
            {**via_backup, "Bool": {"kms:GrantIsForAWSResource": "true"}}))
        if p.has_backup_operator:
            statements.append(pol.statement(
                "BackupOperatorGrantsForBackup", "Allow",
                {"AWS": p.role_arn(ROLE_BACKUP_OPERATOR)},
                ["kms:CreateGrant", "kms:DescribeKey"],
                {**via_backup, "Bool": {"kms:GrantIsForAWSResource": "true"}}))
        copy_account = config.backup.copy_to_account_id if config.backup else None
        if tier.cross_account_backup_copy and copy_account:
            statements.append(pol.statement(
                "CrossAccountCopy", "Allow", {"AWS": f"arn:{part}:iam::{copy_account}:root"},
                ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"],
                {"StringEquals": {"kms:ViaService": f"backup.{region}.amazonaws.com",
                                  "kms:CallerAccount": copy_account},
                 "Bool": {"kms:GrantIsForAWSResource": "true"}}))
            key_tags = {**tags, AWS_TAG_DECLARED_ACCOUNTS: copy_account}
        else:
            key_tags = tags
        self.key = infrastructure_key(
            self, env=env, purpose="backup", description=f"keyplane {env}: backup vault",
            tier=tier, policy=pol.to_json(pol.document(statements)), tags=key_tags,
            lifecycle=keep, depends_on=list(sod.roles.values()))
        self.vault = AwsBackupVault(self, "vault", name=config.vault_name,
                                    kms_key_arn=self.key.arn, tags=tags, lifecycle=keep)
        assert tier.vault_min_retention_in_days is not None
        compliance = tier.vault_lock_mode == "COMPLIANCE"
        self.lock = BackupVaultLockConfiguration(
            self, "vault-lock", backup_vault_name=self.vault.name,
            min_retention_days=tier.vault_min_retention_in_days,
            # changeable_for_days is what makes a lock COMPLIANCE: after the cooling-off
            # period nobody, not even the root user, can change or remove it.
            changeable_for_days=(limits.BACKUP_VAULT_LOCK_CHANGEABLE_FOR_DAYS.minimum
                                 if compliance else None))
        if not config.resources:
            return
        retention = tier.vault_min_retention_in_days
        copies = None
        if tier.cross_account_backup_copy and copy_account:
            copies = [BackupPlanRuleCopyAction(
                destination_vault_arn=(f"arn:{part}:backup:{region}:{copy_account}:"
                                       f"backup-vault:{config.vault_name}-copy"),
                lifecycle=BackupPlanRuleCopyActionLifecycle(delete_after=retention))]
        rule = BackupPlanRule(rule_name="daily", target_vault_name=self.vault.name,
                              schedule=BACKUP_SCHEDULE,
                              lifecycle=BackupPlanRuleLifecycle(delete_after=retention),
                              recovery_point_tags=tags, copy_action=copies)
        self.plan = BackupPlan(self, "plan", name=f"keyplane-{env}", rule=[rule], tags=tags)
        # The declared ARNs, and only those still tagged for this environment: a resource
        # that moved to another environment leaves the plan instead of mixing estates.
        BackupSelection(self, "selection", name=f"keyplane-{env}", plan_id=self.plan.id,
                        iam_role_arn=self.service_role.arn,
                        resources=sorted(r.arn for r in config.resources),
                        condition=[BackupSelectionCondition(string_equals=[
                            BackupSelectionConditionStringEquals(
                                key=f"aws:ResourceTag/{AWS_TAG_ENV}", value=env)])])
        if config.tier not in RESTORE_TESTING_TIERS or tier.drill_cadence_in_days is None:
            return
        plan_name = re.sub(r"[^A-Za-z0-9_]", "_", f"keyplane_{env}_restore_testing")
        testing = BackupRestoreTestingPlan(
            self, "restore-testing", name=plan_name,
            schedule_expression=restore_testing_schedule(tier.drill_cadence_in_days),
            recovery_point_selection=[BackupRestoreTestingPlanRecoveryPointSelection(
                algorithm="LATEST_WITHIN_WINDOW", include_vaults=[self.vault.arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=tier.drill_cadence_in_days)],
            tags=tags)
        by_type: dict[str, list[str]] = {}
        for res in config.resources:
            by_type.setdefault(resource_type(res.arn), []).append(res.arn)
        for rtype, arns in sorted(by_type.items()):
            BackupRestoreTestingSelection(
                self, f"restore-testing-{rtype.lower()}", name=f"keyplane_{rtype.lower()}",
                restore_testing_plan_name=testing.name, protected_resource_type=rtype,
                protected_resource_arns=sorted(arns), iam_role_arn=self.service_role.arn,
                validation_window_hours=RESTORE_VALIDATION_WINDOW_HOURS)
