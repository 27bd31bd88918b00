"""The drill account's plan as pure data: vault, key, access policy and restore role (no Node)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from keyplane.desired import aws, names
from keyplane.desired import policy as pol
from keyplane.desired.errors import AwsDeclarationError
from keyplane.model import Cloud, Environment, load_estate
from keyplane.model.loader import environment_files
from keyplane.model.stacks import drill_s3_state_key, drill_stack_file, drill_stack_name
from keyplane.model.tiers import Tier
from tests.conftest import EXAMPLE_ENVIRONMENTS

SOURCE, DRILL = "210987654321", "456789012345"


@pytest.fixture(scope="module")
def estate() -> dict[str, Environment]:
    files = environment_files(Path(EXAMPLE_ENVIRONMENTS))
    return {e.name: e for e in load_estate(files).environments}


@pytest.fixture(scope="module")
def prod(estate) -> aws.DrillAccountPlan:
    plan = aws.plan_drill_account(estate["prod"])
    assert plan is not None
    return plan


def _statements(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


def test_only_environments_declaring_a_drill_account_get_one(estate) -> None:
    planned = {name: aws.plan_drill_account(env) for name, env in estate.items()}
    assert {n for n, p in planned.items() if p is not None} == {"prod", "staging"}
    staging = planned["staging"]
    assert staging is not None
    # both environments drill into the same account, each into a vault and role of its own
    assert (staging.account_id, staging.vault.name, staging.restore_role.name) == (
        DRILL, "keyplane-staging-drill", "keyplane-staging-backup-service")
    assert staging.source_tier is Tier.NON_PRODUCTION
    env = estate["prod"]
    aws_keys_only_gcp = env.model_copy(update={"keys": env.keys_on(Cloud.GCP)})
    assert aws.plan_drill_account(aws_keys_only_gcp) is None


def test_the_vault_lives_in_the_drill_account_encrypted_with_its_own_key(prod) -> None:
    assert (prod.account_id, prod.source_account_id, prod.region) == (DRILL, SOURCE, "us-east-1")
    assert prod.vault.name == names.drill_vault_name("prod") == "keyplane-prod-drill"
    assert prod.vault.arn == names.drill_vault_arn("aws", "us-east-1", DRILL, "prod") == (
        f"arn:aws:backup:us-east-1:{DRILL}:backup-vault:keyplane-prod-drill")
    assert prod.vault.kms_key_arn == aws.ref("drill/key", "arn") == prod.key.arn
    assert [a.name for a in prod.key.aliases] == ["alias/keyplane-prod-drill"]
    # scratch copies: ephemeral tier, no vault lock (the drill deletes its copies)
    assert prod.tier is Tier.EPHEMERAL and prod.source_tier is Tier.CA
    assert prod.vault.tags == {"keyplane:env": "prod", "keyplane:tier": "ephemeral"}
    assert prod.vault.prevent_destroy is False
    # the provider acts in the drill account only
    assert (prod.provider.allowed_account_ids, prod.provider.region, prod.provider.alias) == (
        (DRILL,), "us-east-1", None)


def test_the_vault_policy_lets_the_source_account_copy_in_and_nothing_else(prod) -> None:
    assert prod.vault_policy.backup_vault_name == aws.ref("drill/vault", "name")
    assert prod.vault_policy.document == {"Version": "2012-10-17", "Statement": [{
        "Sid": "CopyIntoFromSourceAccount", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
        "Action": ["backup:CopyIntoBackupVault"], "Resource": "*"}]}


def test_the_key_lets_the_source_backup_role_copy_in_and_the_restore_role_read(prod) -> None:
    st = _statements(prod.key.policy)
    backup_role = f"arn:aws:iam::{SOURCE}:role/keyplane-prod-backup-service"
    restore_role = f"arn:aws:iam::{DRILL}:role/keyplane-prod-backup-service"
    via = {"kms:ViaService": "backup.us-east-1.amazonaws.com"}
    use = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
           "kms:ReEncrypt*"]
    for sid, principal in (("SourceBackupCopyIn", backup_role), ("RestoreRoleUse", restore_role)):
        assert (st[sid]["Principal"], st[sid]["Action"], st[sid]["Condition"]) == (
            {"AWS": principal}, use, {"StringEquals": via})
    for sid, principal in (("SourceBackupGrants", backup_role),
                           ("RestoreRoleGrants", restore_role)):
        assert (st[sid]["Principal"], st[sid]["Action"], st[sid]["Condition"]) == (
            {"AWS": principal}, ["kms:CreateGrant"],
            {"StringEquals": via, "Bool": {"kms:GrantIsForAWSResource": "true"}})
    # administration without use: the environment's key admins, and the drill account's IAM
    for sid, principal in (("KeyAdministration", f"arn:aws:iam::{SOURCE}:role/keyplane-prod-key-admin"),
                           ("DrillAccountAdministration", f"arn:aws:iam::{DRILL}:root")):
        assert st[sid]["Principal"] == {"AWS": principal}
        assert st[sid]["Action"] == sorted(pol.KMS_ADMIN_ACTIONS)
        assert not set(st[sid]["Action"]) & set(pol.KMS_USE_ACTIONS)
    assert st["DenyShortDeletionWindow"]["Condition"] == {
        "NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "7"}}
    assert set(st) == {"KeyAdministration", "DrillAccountAdministration",
                       "DenyShortDeletionWindow", "SourceBackupCopyIn", "SourceBackupGrants",
                       "RestoreRoleUse", "RestoreRoleGrants"}
    # the source account is the one foreign account the key names, and it is declared
    assert prod.key.tags == {"keyplane:env": "prod", "keyplane:tier": "ephemeral",
                             "keyplane:key": "keyplane/drill",
                             "keyplane:declared-accounts": SOURCE}
    assert (prod.key.rotation_enabled, prod.key.rotation_period_in_days,
            prod.key.deletion_window_in_days) == (True, 90, 7)
    # KMS refuses a policy naming a role that does not exist yet: the key waits for it
    assert prod.key.depends_on == (prod.restore_role.path,)


def test_the_restore_role_is_assumed_by_aws_backup_in_the_drill_account_only(prod) -> None:
    role = prod.restore_role
    assert (role.name, role.arn) == (
        names.drill_restore_role_name("prod"),
        names.drill_restore_role_arn("aws", DRILL, "prod"))
    assert role.arn == f"arn:aws:iam::{DRILL}:role/keyplane-prod-backup-service"
    assert role.trust_policy == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": DRILL}}}]}
    assert [(a.path, a.policy_arn) for a in role.managed_policies] == [
        ("iam/restore-AWSBackupServiceRolePolicyForRestores",
         "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"),
        ("iam/restore-AWSBackupServiceRolePolicyForS3Restore",
         "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore")]
    assert all(a.role == aws.ref(role.path, "name") for a in role.managed_policies)
    assert role.inline_policies == ()
    assert role.tags["keyplane:role"] == "service"


def test_the_drill_operator_role_is_for_the_backup_operators_and_only_drill_leftovers(
        prod, estate) -> None:
    role = prod.iam.role("drill-operator")
    operators = estate["prod"].principals.backup_operators.aws
    assert role.arn == f"arn:aws:iam::{DRILL}:role/keyplane-prod-drill-operator"
    principal = role.trust_policy["Statement"][0]["Principal"]["AWS"]
    assert sorted([principal] if isinstance(principal, str) else principal) == sorted(operators)
    assert role.tags["keyplane:role"] == "backup-operator"
    (policy,) = role.inline_policies
    st = _statements(policy.document)
    assert "Principal" not in json_text(policy.document)
    # restores only of this account's recovery points, passing only the restore role to backup
    assert st["RestoreDrillCopies"]["Resource"] == \
        f"arn:aws:backup:us-east-1:{DRILL}:recovery-point:*"
    assert st["PassRestoreRole"]["Resource"] == prod.restore_role.arn
    assert st["PassRestoreRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}
    # what it may delete is what the drill made: kp-drill-* tables, buckets and objects
    assert st["CheckAndRemoveRestoredTables"]["Resource"] == \
        f"arn:aws:dynamodb:us-east-1:{DRILL}:table/kp-drill-*"
    assert st["CheckAndRemoveRestoredBuckets"]["Resource"] == "arn:aws:s3:::kp-drill-*"
    assert {s["Resource"] for s in st.values()} - {"*"} and \
        [sid for sid, s in st.items() if s["Resource"] == "*"] == ["FollowRestoreJobs"]
    assert not any(a.startswith("kms:") or a == "*" for s in st.values() for a in s["Action"])


def test_without_backup_operators_no_drill_operator_role(estate) -> None:
    env = estate["prod"]
    bare = env.model_copy(update={"principals": env.principals.model_copy(
        update={"backup_operators": None})})
    plan = aws.plan_drill_account(bare)
    assert plan is not None and [r.name for r in plan.iam.roles] == [
        "keyplane-prod-backup-service"]


def test_the_source_backup_key_lets_aws_backup_copy_into_the_drill_account_only(estate) -> None:
    backup = aws.plan_environment(estate["prod"]).backup
    assert backup is not None
    st = _statements(backup.key.policy)["DrillAccountCopy"]
    assert st["Principal"] == {"AWS": f"arn:aws:iam::{DRILL}:root"}
    assert st["Action"] == ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"]
    assert st["Condition"] == {
        "StringEquals": {"kms:ViaService": "backup.us-east-1.amazonaws.com",
                         "kms:CallerAccount": DRILL},
        "Bool": {"kms:GrantIsForAWSResource": "true"}}
    # the gate's cross-account rule reads the accounts the key is declared for from this tag
    assert DRILL in backup.key.tags["keyplane:declared-accounts"].split()


def json_text(doc: Any) -> str:
    import json

    return json.dumps(doc)


def test_paths_are_unique_and_references_name_planned_resources(prod) -> None:
    operator = prod.iam.role("drill-operator")
    records = [prod.provider, prod.restore_role, *prod.restore_role.managed_policies, prod.key,
               *prod.key.aliases, prod.vault, prod.vault_policy, operator,
               *operator.inline_policies]
    paths = [r.path for r in records]
    assert len(paths) == len(set(paths))
    referenced = {p for r in records for f in dataclasses.fields(r)
                  for p, _ in aws.references(getattr(r, f.name))}
    assert referenced == {"iam/restore", "iam/drill-operator", "drill/key", "drill/vault"}
    assert referenced <= set(paths)
    assert list(prod.kms_keys()) == [prod.key]


def test_names_and_stack_of_the_drill_account() -> None:
    assert drill_stack_name("prod") == "prod-aws-drill"
    assert drill_stack_file("prod", Path("out")) == Path("out/stacks/prod-aws-drill/cdk.tf.json")
    assert drill_s3_state_key("keyplane/prod.tfstate") == "keyplane/prod-aws-drill.tfstate"
    assert drill_s3_state_key("keyplane/prod") == "keyplane/prod-aws-drill"
    # a drill account that is also the copy account keeps the two vaults apart
    assert names.drill_vault_name("prod") != names.copy_vault_name("prod")


def test_refuses_a_drill_account_that_is_the_environments_own(estate) -> None:
    env = estate["prod"]
    assert env.aws is not None and env.aws.backup is not None
    same = env.model_copy(update={"aws": env.aws.model_copy(update={
        "backup": env.aws.backup.model_copy(update={"drill_account_id": SOURCE})})})
    with pytest.raises(AwsDeclarationError) as info:
        aws.plan_drill_account(same)
    assert (info.value.code, info.value.message) == (
        "KP309", f"aws.backup.drill_account_id {SOURCE} is the account of environment 'prod'; "
                 "restore drills need a separate account")
