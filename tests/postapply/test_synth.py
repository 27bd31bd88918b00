"""The tolerant synth-JSON reader and the expected state it overlays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyplane.model import load_estate
from keyplane.postapply.errors import HookSetupError
from keyplane.postapply.expected import expected_state
from keyplane.postapply.synth import UNRESOLVED, load_environment_stacks, load_stack
from tests.conftest import BASE_ENV, write_env

POLICY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "KeyUse", "Effect": "Allow", "Principal": {"AWS": "${aws_iam_role.user_signer.arn}"},
    "Action": ["kms:Encrypt"], "Resource": "*"}, {
    "Sid": "Other", "Effect": "Allow", "Principal": {"AWS": "${aws_iam_role.elsewhere.arn}"},
    "Action": ["kms:Decrypt"], "Resource": "*"}]}


def stack_doc() -> dict:
    return {
        "provider": {"aws": [{"region": "us-east-1", "default_tags": [{"tags": {
            "keyplane:env": "prod"}}]}]},
        "resource": {
            "aws_iam_role": {"user_signer": {"name": "keyplane-prod-user-signer"},
                             "elsewhere": {"name": "${var.name}"}},
            "aws_kms_key": {"data": {
                "tags": {"keyplane:key": "data", "keyplane:tier": "production"},
                "enable_key_rotation": True, "rotation_period_in_days": 120,
                "policy": json.dumps(POLICY),
                "//": {"metadata": {"path": "prod/keys/data/Key"}}}},
            "aws_kms_alias": {"data": {"name": "alias/data-v2",
                                       "target_key_id": "${aws_kms_key.data.key_id}"}},
            "aws_cloudwatch_log_group": {"audit": {"name": "/kp/audit",
                                                   "retention_in_days": 731}}}}


def test_overlay_takes_policy_rotation_alias_and_log_group_from_the_stack(
        env_dir: Path, tmp_path: Path) -> None:
    write_env(env_dir, BASE_ENV)
    env = load_estate([env_dir / "prod.yaml"]).get("prod")
    path = tmp_path / "stacks" / "prod-aws" / "cdk.tf.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(stack_doc()))
    stack = load_stack(path, account_id="111122223333", region="us-east-1")
    state = expected_state(env, stack)
    data = next(k for k in state.aws_keys if k.key.name == "data")
    assert (data.rotation_period_in_days, data.alias, data.address, data.construct_path) == (
        120, "alias/data-v2", "aws_kms_key.data", "prod/keys/data/Key")
    principals = [s["Principal"]["AWS"] for s in data.policy["Statement"]]
    assert principals == ["arn:aws:iam::111122223333:role/keyplane-prod-user-signer", UNRESOLVED]
    assert [(g.name, g.retention_in_days) for g in state.log_groups] == [("/kp/audit", 731)]
    assert state.source == f"synth {path}"


def test_without_a_stack_the_inventory_is_the_expected_state(env_dir: Path,
                                                             tmp_path: Path) -> None:
    write_env(env_dir, BASE_ENV)
    env = load_estate([env_dir / "prod.yaml"]).get("prod")
    assert load_stack(tmp_path / "stacks" / "prod-aws" / "cdk.tf.json", account_id=None,
                      region=None) is None
    state = expected_state(env)
    assert state.source == "inventory"
    assert [k.id for k in state.aws_keys] == ["data", "code-signing@g2", "code-signing@g1"]


def test_fails_on_a_truncated_stack(tmp_path: Path) -> None:
    path = tmp_path / "cdk.tf.json"
    path.write_text('{"resource": {')
    with pytest.raises(HookSetupError) as exc:
        load_stack(path, account_id=None, region=None)
    assert exc.value.code == "KP608"
    assert exc.value.message.startswith(f"synthesized stack {path} is not readable json")


def test_fails_when_a_cloud_of_the_environment_was_never_synthesized(env_dir: Path,
                                                                     tmp_path: Path) -> None:
    write_env(env_dir, BASE_ENV)  # keys on aws and gcp
    env = load_estate([env_dir / "prod.yaml"]).get("prod")
    aws = tmp_path / "stacks" / "prod-aws" / "cdk.tf.json"
    aws.parent.mkdir(parents=True)
    aws.write_text(json.dumps(stack_doc()))
    with pytest.raises(HookSetupError) as exc:
        load_environment_stacks(env, tmp_path)
    gcp = tmp_path / "stacks" / "prod-gcp" / "cdk.tf.json"
    assert (exc.value.code, exc.value.message) == (
        "KP609", f"no synthesized stack at {gcp}; run `keyplane synth prod` first (or give "
                 "--synth-dir where it wrote cdktf.out)")


def test_both_clouds_stacks_are_read_as_one(env_dir: Path, tmp_path: Path) -> None:
    write_env(env_dir, BASE_ENV)
    env = load_estate([env_dir / "prod.yaml"]).get("prod")
    for name, doc in (("prod-aws", stack_doc()), ("prod-gcp", {"resource": {
            "google_kms_key_ring": {"ring": {"name": "prod", "location": "us-east1"}}}})):
        path = tmp_path / "stacks" / name / "cdk.tf.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(doc))
    stack = load_environment_stacks(env, tmp_path)
    assert [r.address for r in stack.resources("google_kms_key_ring")] == [
        "google_kms_key_ring.ring"]
    assert stack.get("aws_kms_key", "data") is not None
    assert stack.account_id == "111122223333"
