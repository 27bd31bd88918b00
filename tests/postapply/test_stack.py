"""The synthesized stacks read through the gate's reader, and the expected state built from them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from keyplane.model import load_estate
from keyplane.policy.policydoc import UNRESOLVED
from keyplane.postapply.errors import HookSetupError
from keyplane.postapply.expected import expected_state
from keyplane.postapply.stack import load_environment_stacks, load_stack
from tests.conftest import BASE_ENV, REPO, write_env

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


def _key(name: str, tier: str = "production", gen: int | None = None, **attrs: object) -> dict:
    tags = {"keyplane:key": name, "keyplane:tier": tier}
    if gen is not None:
        tags["keyplane:generation"] = str(gen)
    return {"tags": tags, **attrs}


def _write(base: Path, name: str, doc: dict) -> Path:
    path = base / "stacks" / name / "cdk.tf.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    return path


def _env(env_dir: Path, text: str = BASE_ENV):  # type: ignore[no-untyped-def]
    write_env(env_dir, text)
    return load_estate([env_dir / "prod.yaml"]).get("prod")


def test_expected_state_takes_policy_rotation_alias_and_log_group_from_the_stack(
        env_dir: Path, tmp_path: Path) -> None:
    env = _env(env_dir)
    path = _write(tmp_path, "prod-aws", stack_doc())
    stack = load_stack(path, account_id="111122223333", region="us-east-1")
    assert stack is not None
    state = expected_state(env, stack)
    data = next(k for k in state.aws_keys if k.key.name == "data")
    assert (data.rotation_period_in_days, data.alias, data.address, data.construct_path) == (
        120, "alias/data-v2", "aws_kms_key.data", "prod/keys/data/Key")
    principals = [s["Principal"]["AWS"] for s in data.policy["Statement"]]
    assert principals == ["arn:aws:iam::111122223333:role/keyplane-prod-user-signer", UNRESOLVED]
    assert [(g.name, g.retention_in_days) for g in state.log_groups] == [("/kp/audit", 731)]
    assert state.source == f"synth {path}"
    assert (data.rotation_enabled, data.key_spec, data.key_usage, data.origin) == (
        True, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "AWS_KMS")
    assert data.tags == {"keyplane:env": "prod", "keyplane:key": "data",
                         "keyplane:tier": "production"}


def test_keys_follow_the_inventory_order_newest_generation_first(env_dir: Path,
                                                                 tmp_path: Path) -> None:
    env = _env(env_dir)
    assert load_stack(tmp_path / "stacks" / "prod-aws" / "cdk.tf.json", account_id=None,
                      region=None) is None
    doc = {"resource": {"aws_kms_key": {
        "cs1": _key("code-signing", gen=1, customer_master_key_spec="ECC_NIST_P384",
                    key_usage="SIGN_VERIFY"),
        "data": _key("data"),
        "cs2": _key("code-signing", gen=2, customer_master_key_spec="ECC_NIST_P384",
                    key_usage="SIGN_VERIFY")}}}
    state = expected_state(env, load_stack(_write(tmp_path, "prod-aws", doc),
                                           account_id="111122223333", region="us-east-1"))
    assert [k.id for k in state.aws_keys] == ["data", "code-signing@g2", "code-signing@g1"]
    g1 = state.aws_keys[2]
    # what the stack cannot say comes from the inventory: the current generation, and the
    # verification window of the retired one
    assert (g1.current, g1.enabled, g1.created_on.isoformat(), g1.key_spec) == (
        False, True, "2025-06-01", "ECC_NIST_P384")
    assert (state.aws_keys[1].current, state.aws_keys[1].key.tier.value) == (True, "production")


def test_what_the_stack_and_the_inventory_disagree_on_is_noted_not_guessed(
        env_dir: Path, tmp_path: Path) -> None:
    env = _env(env_dir)
    doc = {"resource": {"aws_kms_key": {
        "data": _key("data"), "stray": _key("stray"),
        "cs9": _key("code-signing", gen=9), "svc": _key("keyplane/audit")}}}
    state = expected_state(env, load_stack(_write(tmp_path, "prod-aws", doc),
                                           account_id="111122223333", region="us-east-1"))
    assert [k.id for k in state.aws_keys] == ["data"]
    assert state.notes == (
        "aws_kms_key.stray is in the synthesized stack but not in the inventory",
        "aws_kms_key.cs9 is generation 9 of code-signing, which the inventory does not declare",
        "code-signing@g2 is declared but not in the synthesized stack; run `keyplane synth prod`",
        "code-signing@g1 is declared but not in the synthesized stack; run `keyplane synth prod`",
        "attest is declared but not in the synthesized stack; run `keyplane synth prod`")


def test_imported_cloudhsm_and_replicated_keys_roles_and_cluster_come_from_the_stack(
        env_dir: Path, tmp_path: Path) -> None:
    env = _env(env_dir, BASE_ENV.replace("usage: encrypt\n        users: [signer]",
                                         "usage: encrypt\n        users: [signer]\n"
                                         "        replica_regions: [us-west-2]"))
    doc = {
        "provider": {"aws": [{"region": "us-east-1"}, {"alias": "west", "region": "us-west-2"}]},
        "resource": {
            "aws_kms_key": {"data": _key("data", multi_region=True,
                                         custom_key_store_id="${aws_kms_custom_key_store.s.id}")},
            "aws_kms_replica_key": {"data_west": {"provider": "aws.west",
                                                  "primary_key_arn": "${aws_kms_key.data.arn}"}},
            "aws_kms_external_key": {"cs2": _key("code-signing", gen=2, key_spec="ECC_NIST_P384",
                                                 key_usage="SIGN_VERIFY")},
            "aws_kms_alias": {
                "cs": {"name": "alias/code-signing",
                       "target_key_id": "${aws_kms_external_key.cs2.id}"},
                "cs_west": {"name": "alias/code-signing", "provider": "aws.west",
                            "target_key_id": "${aws_kms_replica_key.data_west.key_id}"}},
            "aws_iam_role": {
                "admin": {"name": "keyplane-prod-key-admin",
                          "tags": {"keyplane:role": "key-admin"}},
                "signer": {"name": "keyplane-prod-user-signer",
                           "tags": {"keyplane:role": "key-user"}},
                "logs": {"name": "keyplane-prod-cloudtrail-logs",
                         "tags": {"keyplane:role": "service"}}},
            "aws_cloudhsm_v2_cluster": {"c": {"tags": {
                "keyplane:backup-retention-in-days": "379"}}}}}
    state = expected_state(env, load_stack(_write(tmp_path, "prod-aws", doc),
                                           account_id="111122223333", region="us-east-1"))
    data, cs2 = state.aws_keys[0], state.aws_keys[1]
    assert (data.origin, data.multi_region, data.replica_regions) == (
        "AWS_CLOUDHSM", True, ("us-west-2",))
    assert (cs2.origin, cs2.key_spec, cs2.alias, cs2.aliases, cs2.address) == (
        "EXTERNAL", "ECC_NIST_P384", "alias/code-signing", ("alias/code-signing",),
        "aws_kms_external_key.cs2")
    assert [(r.name, r.role, r.workload, r.human) for r in state.roles] == [
        ("keyplane-prod-key-admin", "key-admin", None, False),
        ("keyplane-prod-user-signer", "key-user", "signer", False)]
    assert state.cloudhsm_backup_retention_in_days == 379


def test_gcp_keys_take_ring_members_and_version_template_from_the_stack(
        env_dir: Path, tmp_path: Path) -> None:
    env = _env(env_dir)
    _write(tmp_path, "prod-aws", {"resource": {}})
    _write(tmp_path, "prod-gcp", {
        "provider": {"google": [{"project": "acme-test-prod",
                                 "default_labels": {"keyplane-env": "prod"}}]},
        "resource": {
            "google_kms_key_ring": {"ring": {"name": "pki", "location": "us-east4",
                                             "project": "acme-test-prod"}},
            "google_kms_crypto_key": {
                "attest": {"name": "attest", "key_ring": "${google_kms_key_ring.ring.id}",
                           "purpose": "ASYMMETRIC_SIGN", "rotation_period": "7776000s",
                           "labels": {"keyplane-key": "attest", "keyplane-tier": "production"},
                           "version_template": {"algorithm": "EC_SIGN_P384_SHA384",
                                                "protection_level": "HSM"}},
                "audit": {"name": "keyplane-audit", "key_ring": "${google_kms_key_ring.ring.id}"}},
            "google_kms_crypto_key_iam_member": {
                "signer": {"crypto_key_id": "${google_kms_crypto_key.attest.id}",
                           "role": "roles/cloudkms.signerVerifier",
                           "member": "serviceAccount:signer@acme-test-prod.iam.gserviceaccount.com"},
                "agent": {"crypto_key_id": "${google_kms_crypto_key.attest.id}",
                          "role": "roles/cloudkms.signerVerifier",
                          "member": "serviceAccount:${data.x.y.email}"}}}})
    state = expected_state(env, load_environment_stacks(env, tmp_path))
    [attest] = state.gcp_keys
    assert (attest.name, attest.purpose, attest.algorithm, attest.protection_level,
            attest.rotation_period_seconds) == (
        "projects/acme-test-prod/locations/us-east4/keyRings/pki/cryptoKeys/attest",
        "ASYMMETRIC_SIGN", "EC_SIGN_P384_SHA384", "HSM", 7776000)
    assert attest.members == {"roles/cloudkms.signerVerifier": frozenset(
        {"serviceAccount:signer@acme-test-prod.iam.gserviceaccount.com"})}
    assert attest.labels == {"keyplane-env": "prod", "keyplane-key": "attest",
                             "keyplane-tier": "production"}


def test_fails_on_a_truncated_stack(tmp_path: Path) -> None:
    path = tmp_path / "cdk.tf.json"
    path.write_text('{"resource": {')
    with pytest.raises(HookSetupError) as exc:
        load_stack(path, account_id=None, region=None)
    assert exc.value.code == "KP608"
    assert exc.value.message.startswith(f"synthesized stack {path} is not readable json")


def test_fails_on_a_stack_whose_resources_are_not_objects(tmp_path: Path) -> None:
    path = tmp_path / "cdk.tf.json"
    path.write_text('{"resource": {"aws_kms_key": ["not", "named"]}}')
    with pytest.raises(HookSetupError) as exc:
        load_stack(path, account_id=None, region=None)
    assert exc.value.code == "KP608"
    assert exc.value.message.startswith(f"synthesized stack {path} is not a stack: "
                                        "resource.aws_kms_key must be an object")


def test_fails_when_a_cloud_of_the_environment_was_never_synthesized(env_dir: Path,
                                                                     tmp_path: Path) -> None:
    env = _env(env_dir)  # keys on aws and gcp
    _write(tmp_path, "prod-aws", stack_doc())
    with pytest.raises(HookSetupError) as exc:
        load_environment_stacks(env, tmp_path)
    gcp = tmp_path / "stacks" / "prod-gcp" / "cdk.tf.json"
    assert (exc.value.code, exc.value.message) == (
        "KP609", f"no synthesized stack at {gcp}; run `keyplane synth prod` first (or give "
                 "--synth-dir where it wrote cdktf.out)")


def test_both_clouds_stacks_are_read_as_one(env_dir: Path, tmp_path: Path) -> None:
    env = _env(env_dir)
    for name, doc in (("prod-aws", stack_doc()), ("prod-gcp", {"resource": {
            "google_kms_key_ring": {"ring": {"name": "prod", "location": "us-east1"}}}})):
        _write(tmp_path, name, doc)
    stack = load_environment_stacks(env, tmp_path)
    assert [r.address for r in stack.resources("google_kms_key_ring")] == [
        "google_kms_key_ring.ring"]
    assert stack.get("aws_kms_key", "data") is not None
    assert stack.account_id == "111122223333"


def test_the_expected_state_is_read_never_rederived() -> None:
    for module in ("expected.py", "stack.py"):
        text = (REPO / "keyplane" / "postapply" / module).read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) keyplane\.constructs", text, re.M), module
        assert "except Exception" not in text, module
    assert not (REPO / "keyplane" / "postapply" / "synth.py").exists()
    assert not (REPO / "keyplane" / "postapply" / "policy_doc.py").exists()
