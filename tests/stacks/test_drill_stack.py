"""The drill account's stack (`<env>-aws-drill`), asserted on the synthesized JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keyplane.model.environment import GcsBackend, StateBackend
from tests.conftest import scratch_dir
from tests.constructs.aws.helpers import aws_only, example_estate, resources, synth_aws_estate

pytestmark = pytest.mark.synth

SOURCE, DRILL = "210987654321", "456789012345"


def _drill_doc(env: str = "prod") -> dict[str, Any]:
    out, _ = synth_aws_estate()
    doc: dict[str, Any] = json.loads(
        (out / "stacks" / f"{env}-aws-drill" / "cdk.tf.json").read_text())
    return doc


def _one(doc: dict[str, Any], rtype: str, path: str) -> dict[str, Any]:
    return resources(doc, rtype)[path]


def test_the_drill_stack_holds_the_vault_its_key_its_policy_and_the_restore_role() -> None:
    doc = _drill_doc()
    assert doc["//"]["metadata"]["stackName"] == "prod-aws-drill"
    assert {rtype: sorted(resources(doc, rtype)) for rtype in doc["resource"]} == {
        "aws_iam_role": ["aws/iam/drill-operator", "aws/iam/restore"],
        "aws_iam_role_policy": ["aws/iam/drill-operator-policy"],
        "aws_iam_role_policy_attachment": [
            "aws/iam/restore-AWSBackupServiceRolePolicyForRestores",
            "aws/iam/restore-AWSBackupServiceRolePolicyForS3Restore"],
        "aws_kms_key": ["aws/drill/key"],
        "aws_kms_alias": ["aws/drill/key-alias"],
        "aws_backup_vault": ["aws/drill/vault"],
        "aws_backup_vault_policy": ["aws/drill/vault-policy"]}
    # no vault lock: the drill deletes the copies it made
    assert "aws_backup_vault_lock_configuration" not in doc["resource"]
    vault = _one(doc, "aws_backup_vault", "aws/drill/vault")
    assert vault["name"] == "keyplane-prod-drill"
    assert vault["kms_key_arn"].startswith("${aws_kms_key.aws_drill_key_")
    assert vault["tags"] == {"keyplane:env": "prod", "keyplane:tier": "ephemeral"}
    access = _one(doc, "aws_backup_vault_policy", "aws/drill/vault-policy")
    assert access["backup_vault_name"].startswith("${aws_backup_vault.aws_drill_vault_")
    assert json.loads(access["policy"]) == {"Version": "2012-10-17", "Statement": [{
        "Sid": "CopyIntoFromSourceAccount", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{SOURCE}:root"},
        "Action": ["backup:CopyIntoBackupVault"], "Resource": "*"}]}
    key = _one(doc, "aws_kms_key", "aws/drill/key")
    statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    assert statements["SourceBackupCopyIn"]["Principal"] == {
        "AWS": f"arn:aws:iam::{SOURCE}:role/keyplane-prod-backup-service"}
    assert statements["RestoreRoleUse"]["Principal"] == {
        "AWS": f"arn:aws:iam::{DRILL}:role/keyplane-prod-backup-service"}
    assert (key["enable_key_rotation"], key["deletion_window_in_days"],
            key["bypass_policy_lockout_safety_check"]) == (True, 7, False)
    restore = next(n for n, r in doc["resource"]["aws_iam_role"].items()
                   if r["//"]["metadata"]["path"].endswith("/iam/restore"))
    assert key["depends_on"] == [f"aws_iam_role.{restore}"]
    assert _one(doc, "aws_kms_alias", "aws/drill/key-alias")["name"] == "alias/keyplane-prod-drill"
    role = _one(doc, "aws_iam_role", "aws/iam/restore")
    assert role["name"] == "keyplane-prod-backup-service"
    assert json.loads(role["assume_role_policy"])["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": DRILL}}


def test_the_drill_stack_is_pinned_to_the_drill_account_with_a_state_of_its_own() -> None:
    doc = _drill_doc()
    assert doc["provider"]["aws"] == [{"allowed_account_ids": [DRILL], "region": "us-east-1",
                                       "default_tags": [{"tags": {"keyplane:env": "prod"}}]}]
    assert doc["terraform"]["backend"] == {"s3": {
        "bucket": "acme-terraform-state-prod", "encrypt": True,
        "key": "keyplane/prod-aws-drill.tfstate", "region": "us-east-1", "use_lockfile": True}}
    assert doc["terraform"]["required_version"] == ">= 1.10.0"
    assert doc["terraform"]["required_providers"] == {
        "aws": {"source": "hashicorp/aws", "version": ">= 5.100.0, < 7.0.0"}}
    staging = _drill_doc("staging")
    assert staging["provider"]["aws"][0]["allowed_account_ids"] == [DRILL]
    assert _one(staging, "aws_backup_vault", "aws/drill/vault")["name"] == \
        "keyplane-staging-drill"
    assert staging["terraform"]["backend"]["s3"]["key"] == "keyplane/staging-aws-drill.tfstate"


def test_the_environment_stack_is_the_same_with_or_without_a_drill_account() -> None:
    from keyplane.stacks.app import synth

    out, _ = synth_aws_estate()
    env = aws_only(example_estate()["prod"])
    assert env.aws is not None and env.aws.backup is not None
    without = env.model_copy(update={"aws": env.aws.model_copy(update={
        "backup": env.aws.backup.model_copy(update={"drill_account_id": None})})})
    alone = scratch_dir("stack-") / "out"
    synth([without], alone)
    assert sorted(json.loads((alone / "manifest.json").read_text())["stacks"]) == [
        "prod-aws", "prod-aws-hsm"]
    # the environment's stack differs only in its backup key: with a drill account, AWS
    # Backup may use it to copy recovery points into that account
    with_drill = json.loads((out / "stacks" / "prod-aws" / "cdk.tf.json").read_text())
    without_drill = json.loads((alone / "stacks" / "prod-aws" / "cdk.tf.json").read_text())

    def backup_key(doc: dict) -> tuple[str, dict]:
        return next((n, r) for n, r in doc["resource"]["aws_kms_key"].items()
                    if r["//"]["metadata"]["path"].endswith("/backup/key"))

    name, key_with = backup_key(with_drill)
    _, key_without = backup_key(without_drill)
    sids_with = [st["Sid"] for st in json.loads(key_with["policy"])["Statement"]]
    sids_without = [st["Sid"] for st in json.loads(key_without["policy"])["Statement"]]
    assert [s for s in sids_with if s not in sids_without] == ["DrillAccountCopy"]
    assert key_with["tags"]["keyplane:declared-accounts"].split()[-1] == DRILL
    del with_drill["resource"]["aws_kms_key"][name], without_drill["resource"]["aws_kms_key"][name]
    assert with_drill == without_drill


def test_local_and_gcs_backends_of_the_drill_stack() -> None:
    from keyplane.stacks.app import synth

    env = aws_only(example_estate()["staging"])
    out = scratch_dir("stack-") / "out"
    synth([env.model_copy(update={"state_backend": None}),
           aws_only(example_estate()["prod"]).model_copy(update={
               "state_backend": StateBackend(gcs=GcsBackend(bucket="b", prefix="p"))})], out)
    local = json.loads((out / "stacks" / "staging-aws-drill" / "cdk.tf.json").read_text())
    assert local["terraform"]["backend"]["local"]["path"].endswith(
        "terraform.staging-aws-drill.tfstate")
    gcs = json.loads((out / "stacks" / "prod-aws-drill" / "cdk.tf.json").read_text())
    assert gcs["terraform"]["backend"] == {"gcs": {"bucket": "b", "prefix": "p/aws-drill"}}
