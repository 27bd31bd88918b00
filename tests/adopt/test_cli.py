"""`keyplane adopt ENV` against the sandbox: what it prints, writes, refuses and exits with.

AWS through moto's server behind keyplane's AWS front (custom key stores and CloudHSM are the
front's fakes); GCP through the real google-cloud-kms client against the in-process Cloud
KMS fake over gRPC.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from keyplane.cli import COMMANDS
from keyplane.model.loader import load_environment
from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.server import Sandbox
from tests.adopt.estate import make_legacy_account, write_environment
from tests.sandbox.helpers import aws, gcp, run_cli, start_sandbox

pytestmark = pytest.mark.integration

ESCROW = "legacy-import=s3://acme-legacy-escrow/legacy-import:app-data"


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """`adopt` in the CLI's registry (keyplane.cli.COMMANDS), as the product registers it."""
    monkeypatch.setitem(COMMANDS, "adopt", "keyplane.commands.adopt:adopt")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


_accounts = iter(range(1, 100))


def _account() -> str:
    return f"7310000000{next(_accounts):02d}"


def _adopt(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path, *args: str,
           env: str = "legacy") -> tuple[int, str, str]:
    return run_cli(capsys, "adopt", env, "-d", str(envs), "--endpoint-url", sb.aws.url,
                   "--gcp-endpoint", sb.gcp.target, "--synth-dir", str(envs.parent / "cdktf.out"),
                   "-q", *args)


def test_prints_the_entries_and_writes_them_only_with_write(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    acct = _account()
    legacy = make_legacy_account(sb, acct, "legacy")
    envs = tmp_path / "environments"
    path = write_environment(envs, "legacy", acct)
    before = path.read_text(encoding="utf-8")

    code, out, err = _adopt(capsys, sb, envs, "--tier-rule", "sensitivity=ci:ephemeral")
    assert code == 1, err
    assert path.read_text(encoding="utf-8") == before  # nothing written without --write
    assert out.startswith("keyplane adopt legacy: 5 key(s) to adopt (4 to review), 1 refused, "
                          "1 existing keyplane role(s) to import\n")
    assert ("refused: imported key material needs its encrypted escrow copy: pass --escrow "
            "legacy-import=<s3:// or gs:// location>:<wrapping key of this environment>") in out
    assert "#   - name: legacy-import" in out  # shown commented out, not offered

    code, out, err = _adopt(capsys, sb, envs, "--tier-rule", "sensitivity=ci:ephemeral",
                            "--escrow", ESCROW, "--write")
    assert code == 1, err
    assert f"keyplane: wrote {path}" in err
    text = path.read_text(encoding="utf-8")
    assert text.startswith(before.split("keys: []")[0])  # the file's head, comments and all
    assert "# legacy: the legacy account, being brought under keyplane" in text
    assert "# read for the multi-region key's replica" in text
    env = load_environment(path)  # what --write leaves is a valid inventory
    adopted = {k.adopt.aws_key_id: k for k in env.keys if k.adopt}
    assert set(adopted) == set(legacy.keys)
    by_name = {k.name: k for k in env.keys}
    assert set(by_name) == {"legacy-release", "adopted-" + legacy.ecc[:8], "app-data",
                            "shared-data", "legacy-import", "legacy-hsm"}
    assert by_name["adopted-" + legacy.ecc[:8]].tier.value == "ephemeral"
    assert by_name["adopted-" + legacy.ecc[:8]].review is False  # a rule decided it
    assert by_name["app-data"].review is True  # keyplane's suggestion: a person confirms it
    assert by_name["legacy-hsm"].adopt.custom_key_store == "legacy-hsm"  # type: ignore[union-attr]
    assert by_name["shared-data"].adopt.replicas == {  # type: ignore[union-attr]
        "us-west-2": legacy.shared}
    assert by_name["legacy-import"].escrow is not None
    assert env.adopt is not None and env.adopt.aws_roles == ("keyplane-legacy-key-admin",)
    raw = YAML(typ="safe").load(text)
    assert raw["keys"][0]["adopt"]["aws_key_id"] in legacy.keys
    assert f"# adopted: arn:aws:kms:us-east-1:{acct}:key/{legacy.rsa}" in text


def test_json_lists_imports_changes_and_what_is_left_alone(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    acct = _account()
    legacy = make_legacy_account(sb, acct, "legacy")
    envs = tmp_path / "environments"
    write_environment(envs, "legacy", acct)
    code, out, err = _adopt(capsys, sb, envs, "--format", "json", "--escrow", ESCROW,
                            "--default-tier", "non-production")
    assert code == 1, err
    doc = json.loads(out)
    assert (doc["command"], doc["environment"], doc["exit_code"], doc["written"]) == (
        "adopt", "legacy", 1, None)
    keys = {k["name"]: k for k in doc["keys"]}
    data = keys["app-data"]
    assert (data["tier"], data["review"], data["blocked"]) == ("non-production", False, None)
    assert data["imports"] == [f"key {legacy.data} (us-east-1)", "alias alias/app-data (us-east-1)"]
    assert data["changes"][0] == ("automatic rotation: off -> on, every 365 days (the "
                                  "non-production tier's)")
    assert data["left"] == ["alias alias/app-data-old (us-east-1): not managed by keyplane, "
                            "left as it is"]
    assert keys["shared-data"]["imports"] == [
        f"key {legacy.shared} (us-east-1)", "alias alias/shared-data (us-east-1)",
        f"replica {legacy.shared} (us-west-2)", "alias alias/shared-data (us-west-2)"]
    assert doc["roles"]["imported"] == ["keyplane-legacy-key-admin"]
    assert doc["unknowns"] == []


def test_nothing_to_adopt_exits_0(sb: Sandbox, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    envs = tmp_path / "environments"
    path = write_environment(envs, "legacy", _account())
    before = path.read_text(encoding="utf-8")
    code, out, err = _adopt(capsys, sb, envs, "--write")
    assert (code, err) == (0, "")
    assert out == ("keyplane adopt legacy: 0 key(s) to adopt (0 to review), 0 refused, 0 "
                   "existing keyplane role(s) to import\n")
    assert path.read_text(encoding="utf-8") == before


def test_fails_a_bad_rule_before_reading_anything(sb: Sandbox, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    envs = tmp_path / "environments"
    write_environment(envs, "legacy", _account())
    sb.front.record_calls, sb.front.calls = True, []
    try:
        code, out, err = _adopt(capsys, sb, envs, "--tier-rule", "team=release:prod")
    finally:
        sb.front.record_calls = False
    assert code == 2 and out == ""
    assert err == ("keyplane: error KP201: --tier-rule: unknown tier 'prod'; allowed: ca, "
                   "production, non-production, ephemeral\n")
    assert sb.front.calls == []


def test_fails_incomplete_reads_with_exit_3_and_writes_nothing(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    acct = _account()
    make_legacy_account(sb, acct, "legacy")
    envs = tmp_path / "environments"
    path = write_environment(envs, "legacy", acct)
    before = path.read_text(encoding="utf-8")
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="kms",
                                operation="ListAliases", region="us-west-2", account=acct)]
    try:
        code, out, err = _adopt(capsys, sb, envs, "--escrow", ESCROW, "--write",
                                "--max-attempts", "1")
    finally:
        sb.front.rules = []
    assert code == 3
    assert path.read_text(encoding="utf-8") == before
    assert "not written (a read failed); the entries would be:" in out
    assert "? not read: aws:us-west-2:aliases: " in out
    assert "keyplane: error KP204: 1 read(s) failed; " in err


def test_fails_an_adopted_key_the_inventory_refuses_and_offers_the_rest(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An escrow copy that names no key of the environment: the loader refuses the entry
    (KP114), so only that entry is refused and the others are offered."""
    acct = _account()
    make_legacy_account(sb, acct, "legacy")
    envs = tmp_path / "environments"
    write_environment(envs, "legacy", acct)
    code, out, err = _adopt(capsys, sb, envs, "--format", "json", "--escrow",
                            "legacy-import=s3://escrow/legacy:no-such-key")
    assert code == 1, err
    keys = {k["name"]: k for k in json.loads(out)["keys"]}
    assert keys["legacy-import"]["blocked"] == (
        "the inventory refuses it: KP114 escrow wrapping_key 'no-such-key' is not a key of this "
        "environment (keys[legacy-import].escrow.wrapping_key)")
    assert all(k["blocked"] is None for n, k in keys.items() if n != "legacy-import")


# ---- GCP -----------------------------------------------------------------------------------


def _gcp_env(envs: Path, project: str) -> Path:
    envs.mkdir(parents=True, exist_ok=True)
    path = envs / "gdev.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: gdev
        kind: non-production
        gcp:
          project_id: {project}
          location: europe-west1
        principals:
          key_admins:
            gcp: [group:admins@example.com]
          backup_operators: {{}}
          auditors: {{}}
          break_glass:
            gcp: [user:break-glass@example.com]
        keys: []
        """), encoding="utf-8")
    return path


def test_gcp_keys_are_adopted_with_their_ring_and_current_version(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = "acme-adopt-gdev"
    client = gcp(sb)
    parent = f"projects/{project}/locations/europe-west1"
    ring = client.create_key_ring(request={"parent": parent, "key_ring_id": "legacy"}).name
    client.create_crypto_key(request={"parent": ring, "crypto_key_id": "data", "crypto_key": {
        "purpose": "ENCRYPT_DECRYPT", "labels": {"team": "pki"},
        "version_template": {"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION",
                             "protection_level": "SOFTWARE"}}})
    tls = client.create_crypto_key(request={"parent": ring, "crypto_key_id": "tls", "crypto_key": {
        "purpose": "ASYMMETRIC_SIGN", "version_template": {"algorithm": "EC_SIGN_P256_SHA256"}}})
    client.create_crypto_key(request={"parent": ring, "crypto_key_id": "Old_Key", "crypto_key": {
        "purpose": "ENCRYPT_DECRYPT"}})
    envs = tmp_path / "environments"
    path = _gcp_env(envs, project)
    code, out, err = _adopt(capsys, sb, envs, "--format", "json", "--write", env="gdev")
    assert code == 1, err
    keys = {k["name"]: k for k in json.loads(out)["keys"]}
    assert keys["Old_Key"]["blocked"].startswith("crypto key id 'Old_Key' is not a keyplane key "
                                                 "name")
    assert keys["tls"]["entry"]["adopt"] == {
        "gcp_crypto_key": tls.name, "key_ring": ring, "generation": 1,
        "crypto_key_version": f"{tls.name}/cryptoKeyVersions/1"}
    env = load_environment(path)
    data = env.key("data")
    assert (data.tier.value, data.protection_level, data.deletion_window_in_days) == (
        "non-production", "SOFTWARE", 30)
    assert data.adopt is not None and data.adopt.labels == {"team": "pki"}
    assert data.adopt.key_ring == ring


def _production_env(envs: Path, account: str) -> Path:
    envs.mkdir(parents=True, exist_ok=True)
    path = envs / "payments.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: payments
        kind: production
        aws:
          account_id: "{account}"
          region: us-east-1
          replica_regions: [us-west-2]
        principals:
          key_admins:
            aws: [arn:aws:iam::{account}:role/admins]
          backup_operators:
            aws: [arn:aws:iam::{account}:role/backup]
          auditors:
            aws: [arn:aws:iam::{account}:role/audit]
          break_glass:
            aws: [arn:aws:iam::{account}:role/break-glass]
        keys: []
        """), encoding="utf-8")
    return path


def test_a_production_account_adopts_only_what_the_tier_can_hold(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Production keys need a replica Region and an owner: a single-region key is refused (it
    cannot become multi-region without a new key); a multi-region one is adopted once an
    owner is named."""
    acct = _account()
    kms = aws(sb, acct, "kms")
    single = kms.create_key(Description="single")["KeyMetadata"]["KeyId"]
    shared = kms.create_key(MultiRegion=True, Description="shared")["KeyMetadata"]["KeyId"]
    kms.replicate_key(KeyId=shared, ReplicaRegion="us-west-2")
    envs = tmp_path / "environments"
    path = _production_env(envs, acct)
    code, out, err = _adopt(capsys, sb, envs, "--format", "json", env="payments")
    assert code == 1, err
    keys = {k["resource"].rsplit("/", 1)[1]: k for k in json.loads(out)["keys"]}
    assert keys[single]["blocked"].startswith("production keys need at least 1 replica region(s)")
    assert keys[shared]["blocked"] == (
        f"the inventory refuses it: KP105 key 'adopted-{shared[:8]}' is a production key, so it "
        "needs an 'owner' (the team or address answerable for it, e.g. pki-team@example.com) "
        f"(keys[adopted-{shared[:8]}])")
    code, out, err = _adopt(capsys, sb, envs, "--format", "json", "--owner", "payments-team",
                            "--write", env="payments")
    assert code == 1, err
    env = load_environment(path)
    (key,) = env.keys
    assert (key.tier.value, key.owner, key.replica_regions, key.review) == (
        "production", "payments-team", ("us-west-2",), True)
    assert key.adopt is not None and key.adopt.replicas == {"us-west-2": shared}
