"""`keyplane drift` against the sandbox, with drift injected through the SDKs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import (
    applied_env,
    aws,
    gcp,
    key_arn,
    patch_backoff,
    run_cli,
    start_sandbox,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def clear_faults(sb: Sandbox) -> Iterator[None]:
    yield
    sb.front.rules = []
    sb.kms_fake.rules = []


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_backoff(monkeypatch)


def drift(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path, *extra: str
          ) -> tuple[int, dict, str]:
    code, out, err = run_cli(capsys, "drift", "prod", "-d", str(envs), "--format", "json",
                             "--endpoint-url", sb.aws.url, "--gcp-endpoint", sb.gcp.target,
                             "--max-attempts", "2", *extra)
    return code, (json.loads(out) if out.strip().startswith("{") else {}), err


def checks(report: dict) -> set[tuple[str, str]]:
    return {(f["check"], f.get("key") or f["resource"]) for f in report["findings"]
            if not f.get("acknowledged")}


def test_fresh_sandbox_has_no_drift(sb: Sandbox, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, _ = applied_env(sb, tmp_path)
    code, report, err = drift(capsys, sb, envs)
    assert (code, report["outcome"], report["findings"]) == (0, "clean", []), err
    assert len(report["checked"]) == 14


def test_injected_drift_is_found_and_nothing_is_cancelled(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, project = applied_env(sb, tmp_path)
    kms = aws(sb, acct, "kms")
    doc_arn = key_arn(sb, acct, "alias/document-signing")
    kms.schedule_key_deletion(KeyId=doc_arn.rsplit("/", 1)[-1], PendingWindowInDays=30)
    release = key_arn(sb, acct, "alias/release-artifacts")
    kms.create_grant(KeyId=release, GranteePrincipal=f"arn:aws:iam::{acct}:root",
                     Operations=["Decrypt"])
    stray = kms.create_key(Description="hand-made")["KeyMetadata"]["Arn"]
    aws(sb, acct, "logs").put_retention_policy(logGroupName="/keyplane/prod/cloudtrail",
                                               retentionInDays=30)
    aws(sb, acct, "backup").delete_backup_vault_lock_configuration(BackupVaultName="keyplane-prod")
    aws(sb, acct, "cloudtrail").stop_logging(Name="keyplane-prod")
    client = gcp(sb)
    key = (f"projects/{project}/locations/us east1".replace(" ", "-")
           + "/keyRings/keyplane-prod/cryptoKeys/mesh-mtls-issuer")
    client.destroy_crypto_key_version(name=f"{key}/cryptoKeyVersions/1")

    code, report, _ = drift(capsys, sb, envs)
    assert code == 1 and report["outcome"] == "findings"
    got = checks(report)
    assert {("drift.key_pending_deletion", "document-signing@g2"),
            ("drift.grant_not_declared", "release-artifacts"),
            ("drift.key_undeclared", stray),
            ("drift.log_retention_lowered", "/keyplane/prod/cloudtrail"),
            ("drift.vault_lock_removed", f"arn:aws:backup:us-east-1:{acct}:backup-vault:"
                                         "keyplane-prod"),
            ("drift.trail_logging_stopped", f"arn:aws:cloudtrail:us-east-1:{acct}:trail/"
                                            "keyplane-prod"),
            ("drift.version_destroy_scheduled", "mesh-mtls-issuer")} <= got
    pending = next(f for f in report["findings"] if f["check"] == "drift.key_pending_deletion")
    assert pending["severity"] == "critical" and pending["days_left"] in (29, 30)
    assert "keyplane does not cancel it" in pending["message"]
    destroy = next(f for f in report["findings"]
                   if f["check"] == "drift.version_destroy_scheduled")
    assert destroy["days_left"] in (29, 30)
    # never auto-cancelled or restored: the key is still pending deletion after the run
    assert kms.describe_key(KeyId=doc_arn.rsplit("/", 1)[-1])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert client.get_crypto_key_version(
        name=f"{key}/cryptoKeyVersions/1").state.name == "DESTROY_SCHEDULED"


def test_known_drift_file_acknowledges_until_expiry(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, _ = applied_env(sb, tmp_path)
    aws(sb, acct, "logs").put_retention_policy(logGroupName="/keyplane/prod/cloudtrail",
                                               retentionInDays=90)
    stray = aws(sb, acct, "kms").create_key()["KeyMetadata"]["Arn"]
    acks = tmp_path / "known-drift.yaml"
    acks.write_text(
        "- resource: /keyplane/prod/cloudtrail\n  reason: cost review until year end\n"
        "  owner: platform-team\n  expires: 2099-01-31\n"
        f"- resource: {stray}\n  reason: migration\n  owner: pki-team\n  expires: 2020-01-01\n"
        "- resource: nothing-like-this\n  reason: stale\n  owner: pki-team\n"
        "  expires: 2099-01-01\n", encoding="utf-8")
    code, report, _ = drift(capsys, sb, envs, "--known-drift", str(acks))
    assert code == 1  # the expired entry no longer covers the undeclared key
    lowered = next(f for f in report["findings"] if f["check"] == "drift.log_retention_lowered")
    assert lowered["acknowledged"]["owner"] == "platform-team"
    assert ("drift.key_undeclared", stray) in checks(report)
    assert any("expired on 2020-01-01" in n for n in report["notes"])
    assert [a["resource"] for a in report["unmatched_known_drift"]] == ["nothing-like-this"]


def test_fails_on_a_known_drift_entry_without_owner(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, _ = applied_env(sb, tmp_path)
    acks = tmp_path / "kd.yaml"
    acks.write_text("- resource: x\n  reason: y\n  expires: 2099-01-01\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "drift", "prod", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--gcp-endpoint", sb.gcp.target, "--known-drift",
                             str(acks))
    assert code == 2 and "Traceback" not in err and out == ""
    assert f"KP605: {acks}: entry 0 misses owner; every entry needs resource, reason, owner, " \
           "expires" in err


def test_throttled_reads_are_unknown_never_clean(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_backoff: None) -> None:
    envs, acct, _ = applied_env(sb, tmp_path)
    policy_key = key_arn(sb, acct, "alias/code-signing").rsplit("/", 1)[-1]
    rule = FaultRule(error="ThrottlingException", service="kms", operation="GetKeyPolicy",
                     account=acct, match=policy_key)
    sb.front.rules = [rule]
    code, report, _ = drift(capsys, sb, envs)
    assert code == 3 and report["outcome"] == "incomplete"
    assert rule.hits == 4  # two regions (primary and replica), max-attempts 2 each: bounded
    reasons = {u["reason"] for u in report["unknowns"]}
    assert reasons == {"GetKeyPolicy throttled (ThrottlingException) in us-east-1",
                       "GetKeyPolicy throttled (ThrottlingException) in us-west-2"}


def test_access_denied_in_one_region_lets_the_others_continue(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, _ = applied_env(sb, tmp_path)
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="kms",
                                operation="ListKeys", region="us-west-2", account=acct)]
    code, report, _ = drift(capsys, sb, envs)
    assert code == 3 and report["outcome"] == "incomplete"
    region = next(u for u in report["unknowns"] if u["resource"] == "aws:us-west-2")
    assert region["reason"] == "ListKeys denied (AccessDeniedException) in us-west-2"
    assert {u["reason"] for u in report["unknowns"] if u is not region} == {
        "replica in us-west-2 could not be read"}
    assert len([c for c in report["checked"] if ":us-east-1:" in c]) == 7
    assert not any(f["check"] == "drift.replica_missing" for f in report["findings"])


def test_expired_credentials_stop_with_a_resumable_report(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, _ = applied_env(sb, tmp_path)
    sb.front.rules = [FaultRule(error="ExpiredTokenException", service="kms",
                                operation="GetKeyPolicy", account=acct)]
    partial = tmp_path / "partial.json"
    code, _, err = drift(capsys, sb, envs, "--concurrency", "1", "--output", str(partial))
    report = json.loads(partial.read_text())
    assert code == 3 and report["stopped"].startswith("credentials expired (ExpiredTokenException")
    assert "KP603" in err and "Traceback" not in err
    sb.front.rules = []
    code, _, _ = drift(capsys, sb, envs, "--resume", str(partial), "--output", str(partial))
    resumed = json.loads(partial.read_text())
    assert (code, resumed["outcome"], resumed["stopped"]) == (0, "clean", None)
    assert len(resumed["checked"]) == 14


def test_fails_when_credentials_belong_to_another_account(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct, _ = applied_env(sb, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "KPSBX111111111111")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    code, out, err = run_cli(capsys, "drift", "prod", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--gcp-endpoint", sb.gcp.target)
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1] == (  # after the progress line
        f"keyplane: error KP601: aws credentials act in account 111111111111; "
        f"environment prod declares {acct}; nothing was read")


def test_a_lowered_tier_tag_or_label_is_high_drift(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from google.cloud import kms_v1
    from google.protobuf import field_mask_pb2

    envs, acct, project = applied_env(sb, tmp_path)
    release = key_arn(sb, acct, "alias/release-artifacts")
    aws(sb, acct, "kms").tag_resource(KeyId=release, Tags=[
        {"TagKey": "keyplane:tier", "TagValue": "ephemeral"}])
    name = (f"projects/{project}/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/"
            "inventory-records")
    client = gcp(sb)
    labels = dict(client.get_crypto_key(name=name).labels)
    labels["keyplane-tier"] = "non-production"
    client.update_crypto_key(crypto_key=kms_v1.CryptoKey(name=name, labels=labels),
                             update_mask=field_mask_pb2.FieldMask(paths=["labels"]))
    code, report, _ = drift(capsys, sb, envs)
    lowered = {(f["key"], f["severity"], f["actual"]) for f in report["findings"]
               if f["check"] == "drift.tier_lowered"}
    assert code == 1
    assert lowered == {("release-artifacts", "high", "ephemeral"),
                       ("inventory-records", "high", "non-production")}
    # the tier is reported once, as a downgrade, not again as a low "tags differ"
    assert not [f for f in report["findings"] if f["check"] in ("drift.tags", "drift.labels")]


def test_a_disabled_version_of_a_live_gcp_generation_is_found(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from google.cloud import kms_v1
    from google.protobuf import field_mask_pb2

    envs, _, project = applied_env(sb, tmp_path)
    key = (f"projects/{project}/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/"
           "release-attestation")
    client = gcp(sb)
    (only,) = [v.name for v in client.list_crypto_key_versions(parent=key)]
    client.update_crypto_key_version(
        crypto_key_version=kms_v1.CryptoKeyVersion(
            name=only, state=kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DISABLED),
        update_mask=field_mask_pb2.FieldMask(paths=["state"]))
    code, report, _ = drift(capsys, sb, envs)
    got = [(f["check"], f["resource"], f["severity"]) for f in report["findings"]
           if f.get("key") == "release-attestation"]
    # an asymmetric key has no primary: its only version is the current generation
    assert code == 1
    assert got == [("drift.key_disabled", only, "critical")]
