"""Adoption, end to end with real Terraform: the first plan imports and replaces nothing.

Keys made directly with boto3 in the sandbox (RSA_3072 and ECC_NIST_P256 signing keys, a
symmetric key with rotation off, a multi-Region key with a replica in us-west-2, a key with
imported material, a key in a CloudHSM custom key store named by its owner) and a keyplane
role left over from an earlier attempt; then `keyplane adopt --write`, `keyplane synth`, and
the real hashicorp/aws provider's `terraform plan` + `show -json` against the sandbox. Every
adopted key, replica and alias is imported (no-op or an in-place update), no key is created
or replaced, nothing is destroyed; the creates are keyplane's own resources (audit trail,
alarms, backup vault, roles). The in-place updates are the ones `adopt` listed. Then the
apply, and a second plan that must be empty (the import blocks stay, and import nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyplane.cli import COMMANDS
from keyplane.model.loader import load_environment
from keyplane.sandbox import terraform as tf
from keyplane.sandbox.server import Sandbox
from tests.adopt.estate import connect_keyplane_store, make_legacy_account, write_environment
from tests.conftest import REPO
from tests.sandbox.helpers import aws, run_cli, start_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.synth]

ACCT = "731100000001"
KEY_TYPES = {"aws_kms_key", "aws_kms_external_key", "aws_kms_replica_key",
             "aws_kms_replica_external_key", "google_kms_crypto_key"}
# Attributes of an imported key the plan must leave as they are: those that force a new key,
# and the description (the adopted entry keeps the existing one verbatim).
FIXED = {"aws_kms_key": ("key_usage", "customer_master_key_spec", "multi_region",
                         "custom_key_store_id", "description"),
         "aws_kms_external_key": ("multi_region", "description"),
         "aws_kms_replica_key": ("primary_key_arn",)}


@pytest.fixture
def terraform_ready() -> None:
    """Skip unless terraform and a hashicorp/aws provider mirror are installed."""
    from keyplane.postapply.errors import HookSetupError

    try:
        tf.find_terraform()
        mirror = tf.find_plugin_dir()
    except HookSetupError as exc:
        pytest.skip(exc.message)
    if mirror is None:
        pytest.skip("no hashicorp/aws provider mirror (/opt/tf-plugins or $KEYPLANE_TF_PLUGIN_DIR)")


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def _changes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return list(plan.get("resource_changes", []))


def _path(rc: dict[str, Any], stack: dict[str, Any]) -> str:
    """The construct path of a planned resource (from the stack's metadata)."""
    body = stack["resource"][rc["type"]][rc["name"]]
    return str(body["//"]["metadata"]["path"])


def test_first_plan_of_an_adopted_account_imports_and_replaces_no_key(
        terraform_ready: None, sb: Sandbox, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "adopt", "keyplane.commands.adopt:adopt")
    legacy = make_legacy_account(sb, ACCT, "legacy")
    envs = tmp_path / "environments"
    path = write_environment(envs, "legacy", ACCT)
    synth_dir = tmp_path / "cdktf.out"

    # adopt (rules: the CI-tagged key is ephemeral; the rest gets keyplane's suggestion)
    code, out, err = run_cli(capsys, "adopt", "legacy", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--synth-dir", str(synth_dir), "-q", "--format", "json",
                             "--tier-rule", "sensitivity=ci:ephemeral", "--escrow",
                             "legacy-import=s3://acme-legacy-escrow/legacy-import:app-data",
                             "--write")
    assert code == 1, err
    report = json.loads(out)
    adopted = {k["name"]: k for k in report["keys"]}
    assert all(k["written"] for k in adopted.values()), [k["blocked"] for k in adopted.values()]
    env = load_environment(path)
    assert {k.adopt.aws_key_id for k in env.keys if k.adopt} == set(legacy.keys)

    # synth, keyplane's own key store (keyplane keystore connect), the real plan
    proc = subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()", "synth",
                           "legacy", "-d", str(envs), "--out-dir", str(synth_dir), "-q"],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    connect_keyplane_store(sb, env)
    stack_file = synth_dir / "stacks" / "legacy-aws" / "cdk.tf.json"
    stack = json.loads(stack_file.read_text(encoding="utf-8"))
    ws = tf.prepare(stack_file, tmp_path / "work", aws_endpoint=sb.aws.url, account_id=ACCT)
    assert tf.skew(stack, ws.provider_version) == []
    tf.init(ws)
    planfile = ws.directory / "plan.tfplan"
    tf.plan(ws, out=planfile)
    plan = tf.show_json(ws, planfile)
    changes = _changes(plan)

    # nothing destroyed, no key created or replaced except keyplane's own service keys
    assert [rc["address"] for rc in changes if "delete" in rc["change"]["actions"]] == []
    keys = [rc for rc in changes if rc["type"] in KEY_TYPES]
    created = {_path(rc, stack) for rc in keys if rc["change"]["actions"] == ["create"]}
    assert created == {"legacy-aws/aws/audit/key", "legacy-aws/aws/backup/key"}
    imported_keys = [rc for rc in keys if rc["change"].get("importing")]
    assert {rc["change"]["importing"]["id"] for rc in imported_keys} == set(legacy.keys)
    assert len(imported_keys) == 7  # six keys and the replica
    for rc in imported_keys:
        assert rc["change"]["actions"] in (["no-op"], ["update"]), rc["address"]
        assert not rc["change"].get("replace_paths"), rc["address"]
        before, after = rc["change"]["before"], rc["change"]["after"]
        for fixed in FIXED[rc["type"]]:  # what would force a new key: the key's own values
            assert after[fixed] == before[fixed], (rc["address"], fixed)

    # every import: keys, the replica, the six existing aliases, the leftover role and its policy
    importing = {(rc["type"], rc["change"]["importing"]["id"]) for rc in changes
                 if rc["change"].get("importing")}
    assert importing == {
        *{("aws_kms_key", k) for k in (legacy.rsa, legacy.ecc, legacy.data, legacy.shared,
                                        legacy.hsm)},
        ("aws_kms_external_key", legacy.imported),
        ("aws_kms_replica_key", legacy.shared),
        *{("aws_kms_alias", a) for a in ("alias/legacy-release", "alias/app-data",
                                          "alias/shared-data", "alias/legacy-import",
                                          "alias/legacy-hsm")},
        ("aws_iam_role", "keyplane-legacy-key-admin"),
        ("aws_iam_role_policy", "keyplane-legacy-key-admin:keyplane"),
    }
    n_importing = sum(1 for rc in changes if rc["change"].get("importing"))
    assert n_importing == 15  # alias/shared-data in both Regions
    aliases = [rc for rc in changes if rc["type"] == "aws_kms_alias" and rc["change"].get("importing")]
    assert all(rc["change"]["actions"] == ["no-op"] for rc in aliases)

    # the in-place updates are those `adopt` listed: rotation on where the tier demands it ...
    by_key_id = {rc["change"]["importing"]["id"]: rc for rc in imported_keys
                 if rc["type"] != "aws_kms_replica_key"}
    rotation_turned_on = {kid for kid, rc in by_key_id.items()
                          if rc["change"]["after"].get("enable_key_rotation")
                          and not rc["change"]["before"].get("enable_key_rotation")}
    listed = {adopted[n]["entry"]["adopt"]["aws_key_id"] for n in adopted
              if any(c.startswith("automatic rotation: off -> on") for c in adopted[n]["changes"])}
    assert rotation_turned_on == listed == {legacy.data, legacy.shared}
    # ... the deletion window (terraform state only), keyplane's tags beside the owner's
    for name, a in adopted.items():
        rc = by_key_id[a["entry"]["adopt"]["aws_key_id"]]
        after = rc["change"]["after"]
        assert rc["change"]["before"]["deletion_window_in_days"] is None
        assert after["deletion_window_in_days"] == {"ephemeral": 7}.get(a["tier"], 14)
        assert after["tags"]["keyplane:key"] == name
        assert rc["change"]["before"]["tags"].items() <= after["tags"].items()  # owner's kept
        assert rc["change"]["actions"] == ["update"]
    # updated in place: the seven imported keys and the leftover role with its policy; every
    # other change is a create of keyplane's own (audit trail, alarms, backup vault, roles)
    updated = {(rc["type"], rc["change"].get("importing", {}).get("id")) for rc in changes
               if rc["change"]["actions"] == ["update"]}
    assert len(updated) == 9 and all(i is not None for _, i in updated)
    assert {tuple(rc["change"]["actions"]) for rc in changes
            if not rc["change"].get("importing")} == {("create",)}

    # apply; the second plan is empty (the import blocks stay in the stack and import nothing)
    tf.apply(ws)
    assert tf.plan(ws, detailed_exitcode=True) == 0
    kms = aws(sb, ACCT, "kms")
    for key_id in legacy.keys:
        md = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        assert md["KeyState"] == "Enabled"
    # the adopted keys of the home Region and keyplane's own two (audit trail, backup vault)
    assert len(kms.list_keys()["Keys"]) == len(legacy.keys) + 2
    assert kms.get_key_rotation_status(KeyId=legacy.data)["KeyRotationEnabled"] is True

    # once applied the keys carry keyplane's tags: nothing left to adopt
    code, out, err = run_cli(capsys, "adopt", "legacy", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--synth-dir", str(synth_dir), "-q")
    assert code == 0, out + err
    assert out.startswith("keyplane adopt legacy: 0 key(s) to adopt")
