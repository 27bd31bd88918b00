"""A locked AWS Backup vault per environment, its own KMS key, plan, copies and restore tests.

The vault serves the whole environment, so it carries the highest tier of the
environment's keys: COMPLIANCE lock for ca/production, GOVERNANCE for
non-production, no vault for an environment of ephemeral keys only. What is built is
decided in `keyplane.desired.aws`; this construct renders it.
"""

from __future__ import annotations

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
from constructs import Construct

from keyplane.constructs.aws.iam import render_role_policies
from keyplane.constructs.aws.kms import infrastructure_key
from keyplane.constructs.aws.rendered import Rendered, child_id, lifecycle
from keyplane.desired import aws as desired
from keyplane.desired.aws import IamPlan


class BackupVault(Construct):
    """Backup KMS key, vault, vault lock, service role policies, plan, selection and restore
    tests."""

    def __init__(self, scope: Construct, id_: str, *, plan: desired.BackupPlan, iam: IamPlan,
                 rendered: Rendered) -> None:
        super().__init__(scope, id_)
        self.plan = plan
        self.service_role = rendered[plan.service_role]
        # The service role lives with the other roles; its managed policies attach here.
        render_role_policies(self, id_, iam, rendered)
        self.key = infrastructure_key(self, id_, plan.key, rendered)
        vault = plan.vault
        self.vault = rendered.add(vault.path, AwsBackupVault(
            self, child_id(id_, vault.path), name=vault.name,
            kms_key_arn=rendered.resolve(vault.kms_key_arn), tags=dict(vault.tags),
            lifecycle=lifecycle(vault.prevent_destroy)))
        lock = plan.lock
        self.lock = rendered.add(lock.path, BackupVaultLockConfiguration(
            self, child_id(id_, lock.path), backup_vault_name=rendered.resolve(lock.backup_vault_name),
            min_retention_days=lock.min_retention_days,
            changeable_for_days=lock.changeable_for_days))
        if plan.plan is not None:
            self._plan(id_, plan.plan, rendered)
        if plan.selection is not None:
            sel = plan.selection
            rendered.add(sel.path, BackupSelection(
                self, child_id(id_, sel.path), name=sel.name, plan_id=rendered.resolve(sel.plan_id),
                iam_role_arn=rendered.resolve(sel.iam_role_arn), resources=list(sel.resources),
                condition=[BackupSelectionCondition(string_equals=[
                    BackupSelectionConditionStringEquals(key=sel.condition_tag_key,
                                                         value=sel.condition_tag_value)])]))
        if plan.restore_testing is not None:
            testing = plan.restore_testing
            rendered.add(testing.path, BackupRestoreTestingPlan(
                self, child_id(id_, testing.path), name=testing.name,
                schedule_expression=testing.schedule_expression,
                recovery_point_selection=[BackupRestoreTestingPlanRecoveryPointSelection(
                    algorithm=testing.algorithm,
                    include_vaults=rendered.resolve(list(testing.include_vaults)),
                    recovery_point_types=list(testing.recovery_point_types),
                    selection_window_days=testing.selection_window_days)],
                tags=dict(testing.tags)))
        for s in plan.restore_testing_selections:
            rendered.add(s.path, BackupRestoreTestingSelection(
                self, child_id(id_, s.path), name=s.name,
                restore_testing_plan_name=rendered.resolve(s.restore_testing_plan_name),
                protected_resource_type=s.protected_resource_type,
                protected_resource_arns=list(s.protected_resource_arns),
                iam_role_arn=rendered.resolve(s.iam_role_arn),
                validation_window_hours=s.validation_window_hours))

    def _plan(self, scope_path: str, rules: desired.BackupRulesPlan, rendered: Rendered) -> None:
        copies = None
        if rules.copy_destination_vault_arn is not None:
            copies = [BackupPlanRuleCopyAction(
                destination_vault_arn=rules.copy_destination_vault_arn,
                lifecycle=BackupPlanRuleCopyActionLifecycle(
                    delete_after=rules.copy_delete_after_days))]
        rule = BackupPlanRule(rule_name=rules.rule_name,
                              target_vault_name=rendered.resolve(rules.target_vault_name),
                              schedule=rules.schedule,
                              lifecycle=BackupPlanRuleLifecycle(delete_after=rules.delete_after_days),
                              recovery_point_tags=dict(rules.recovery_point_tags),
                              copy_action=copies)
        self.backup_plan = rendered.add(rules.path, BackupPlan(
            self, child_id(scope_path, rules.path), name=rules.name, rule=[rule],
            tags=dict(rules.tags)))
