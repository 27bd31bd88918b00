"""Restore drills against the sandbox (moto + the Backup/CloudHSM fakes + the Cloud KMS fake).

Each test gets its own copy of the example prod environment in its own account; time
moves only through the injected clock (no real sleeps).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.gcp_fake import GcpFaultRule
from keyplane.sandbox.server import Sandbox
from tests.drills.support import (
    drill,
    drill_env,
    lab_env,
    outcomes,
    result,
    use_clock,
)
from tests.sandbox.helpers import aws, patch_backoff, start_sandbox

pytestmark = pytest.mark.integration
DRILL_ACCOUNT = "456789012345"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def shared(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One applied environment for the tests that change nothing in it (faults are per call)."""
    envs, _ = drill_env(sb, tmp_path_factory.mktemp("shared"))
    return envs


@pytest.fixture(autouse=True)
def reset(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    patch_backoff(monkeypatch)
    sb.front.backup.configure({"backup_seconds": 60, "restore_seconds": 300,
                               "copy_seconds": 120, "backup_fault": None,
                               "restore_fault": None, "copy_fault": None})
    sb.front.cloudhsm.control({"cluster_seconds": 600, "hsm_seconds": 300,
                               "stuck_restores": False, "failing_azs": []})
    yield
    sb.front.rules = []
    sb.kms_fake.rules = []


def s3_journal(sb: Sandbox, account: str) -> list[dict]:
    s3 = aws(sb, account, "s3")
    out = []
    for o in s3.list_objects_v2(Bucket=f"evidence-{account}",
                                Prefix="drills/journal/").get("Contents", []):
        out.append(json.loads(s3.get_object(Bucket=f"evidence-{account}",
                                            Key=o["Key"])["Body"].read()))
    return out


def drill_tables(sb: Sandbox) -> set[str]:
    return set(aws(sb, DRILL_ACCOUNT, "dynamodb").list_tables()["TableNames"])


DRILL_VAULT = "keyplane-prod-drill"
DRILL_VAULT_ARN = f"arn:aws:backup:us-east-1:{DRILL_ACCOUNT}:backup-vault:{DRILL_VAULT}"


def drill_vault_points(sb: Sandbox) -> dict[str, dict[str, str]]:
    """The recovery points in the drill account's vault, with their tags."""
    backup = aws(sb, DRILL_ACCOUNT, "backup")
    points = backup.list_recovery_points_by_backup_vault(
        BackupVaultName=DRILL_VAULT)["RecoveryPoints"]
    return {p["RecoveryPointArn"]: backup.list_tags(ResourceArn=p["RecoveryPointArn"])["Tags"]
            for p in points}


def protected_names(sb: Sandbox, acct: str) -> tuple[list[str], list[str]]:
    """(the items of the ca-database table, the object versions of the inventory bucket)."""
    items = aws(sb, acct, "dynamodb").scan(TableName="pki-ca-database")["Items"]
    versions = aws(sb, acct, "s3").list_object_versions(Bucket="acme-pki-certificate-inventory-prod")
    return (sorted(i["pk"]["S"] for i in items),
            sorted(v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])))


# --- sign canary (SCENARIOS 31) -------------------------------------------------------------


def test_sign_canary_passes_on_every_key_kind_and_generation(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    use_clock(monkeypatch, sb)
    code, report, err = drill(capsys, sb, envs, "prod", "--kind", "sign-canary")
    assert code == 0, err
    got = outcomes(report)
    assert got[("sign-canary", "code-signing", 4)] == "PASSED"
    assert got[("sign-canary", "code-signing", 3)] == "PASSED"  # verify-only generation
    assert got[("sign-canary", "mesh-mtls-issuer", 3)] == "PASSED"  # gcp rsa pss
    assert set(got.values()) == {"PASSED"}
    doc = result(report, "sign-canary", "document-signing")
    assert [c["algorithm"] for c in doc["details"]["checks"]] == [
        "RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256"]
    assert all(c["api_verified"] and c["offline_verified"] for c in doc["details"]["checks"])
    gcp = result(report, "sign-canary", "release-attestation")
    assert gcp["details"]["checks"][0]["api_verified"] is None
    assert gcp["details"]["checks"][0]["offline_verified"] is True
    assert "wrong context refused" in result(report, "sign-canary", "release-artifacts")["reason"]


def test_fails_integrity_alarm_when_the_kms_returns_a_corrupted_signature(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    use_clock(monkeypatch, sb)
    sb.front.rules = [FaultRule(error="CorruptSignature", service="kms", operation="Sign")]
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "code-signing",
                            "--kind", "sign-canary")
    assert code == 1
    r = result(report, "sign-canary", "code-signing")
    assert r["outcome"] == "INTEGRITY_ALARM"
    assert r["reason"] == ("signature of code-signing with ECDSA_SHA_384 rejected by the kms "
                           "api and offline verification")


def test_fails_integrity_alarm_on_a_corrupted_cloud_kms_signature(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    use_clock(monkeypatch, sb)
    sb.kms_fake.rules = [GcpFaultRule(code="CorruptSignature", method="AsymmetricSign")]
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "mesh-mtls-issuer")
    assert code == 1
    r = result(report, "sign-canary", "mesh-mtls-issuer")
    assert (r["outcome"], r["reason"]) == (
        "INTEGRITY_ALARM", "signature of mesh-mtls-issuer with RSA_SIGN_PSS_3072_SHA256 "
                           "rejected by offline verification")


def test_fails_key_state_for_disabled_and_pending_deletion_keys(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    kms = aws(sb, acct, "kms")
    kms.disable_key(KeyId=kms.describe_key(KeyId="alias/code-signing")["KeyMetadata"]["KeyId"])
    doc = kms.describe_key(KeyId="alias/document-signing")["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=doc, PendingWindowInDays=30)
    code, report, _ = drill(capsys, sb, envs, "prod", "--tier", "production",
                            "--kind", "sign-canary")
    assert code == 1
    assert result(report, "sign-canary", "code-signing")["outcome"] == "KEY_STATE"
    assert result(report, "sign-canary", "code-signing")["reason"] == \
        "code-signing generation 4 is Disabled"
    assert result(report, "sign-canary", "document-signing")["reason"] == \
        "document-signing generation 2 is PendingDeletion"
    assert outcomes(report)[("sign-canary", "release-artifacts", None)] == "PASSED"


def test_fails_key_state_when_the_kms_refuses_a_disabled_key_mid_drill(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    use_clock(monkeypatch, sb)
    sb.front.rules = [FaultRule(error="DisabledException", service="kms", operation="Sign",
                                message="key is disabled")]
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "code-signing",
                            "--kind", "sign-canary")
    assert code == 1
    r = result(report, "sign-canary", "code-signing")
    assert (r["outcome"], r["reason"], r["details"]["error"]) == (
        "KEY_STATE", "code-signing generation 4: key is disabled", "DisabledException")


def test_throttling_is_retried_and_the_drill_passes(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    use_clock(monkeypatch, sb)
    rule = FaultRule(error="ThrottlingException", service="kms", operation="Sign", times=1)
    sb.front.rules = [rule]
    code, report, err = drill(capsys, sb, envs, "prod", "--key", "code-signing",
                              "--kind", "sign-canary")
    assert (code, rule.hits) == (0, 1), err
    assert result(report, "sign-canary", "code-signing")["outcome"] == "PASSED"


def test_fails_transient_when_throttling_outlasts_the_retries(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    use_clock(monkeypatch, sb)
    sb.front.rules = [FaultRule(error="ThrottlingException", service="kms", operation="Sign")]
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "document-signing",
                            "--kind", "sign-canary")
    assert code == 3
    r = result(report, "sign-canary", "document-signing")
    assert (r["outcome"], r["reason"], r["details"]["transient"]) == (
        "ERROR", "document-signing generation 2: transient, retry later "
                 "(Sign ThrottlingException)", True)
    # a drill that could not finish is an unknown finding, never a pass
    (f,) = report["findings"]
    assert (f["rule_id"], f["outcome"], f["resource"], f["severity"]) == (
        "drill.sign-canary", "UNKNOWN", "document-signing@g2", "critical")


# --- replica -----------------------------------------------------------------------------


def test_replica_signs_and_decrypts_in_the_replica_region(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    use_clock(monkeypatch, sb)
    code, report, err = drill(capsys, sb, envs, "prod", "--kind", "replica")
    assert code == 0, err
    assert outcomes(report) == {("replica", "code-signing@us-west-2", 4): "PASSED",
                                ("replica", "document-signing@us-west-2", 2): "PASSED",
                                ("replica", "release-artifacts@us-west-2", None): "PASSED"}
    r = result(report, "replica", "release-artifacts@us-west-2")
    assert ":us-west-2:" in r["details"]["replica"]
    assert r["reason"] == "replica decrypted what the primary encrypted"


def test_fails_when_a_replica_is_missing_or_disabled(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path, **{"replica_regions: [us-west-2]":
                                            "replica_regions: [us-west-2, eu-west-2]"})
    use_clock(monkeypatch, sb)
    west = aws(sb, acct, "kms", "us-west-2")
    arn = aws(sb, acct, "kms").describe_key(KeyId="alias/document-signing")["KeyMetadata"]["Arn"]
    west.disable_key(KeyId=arn.rsplit("/", 1)[1])
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "document-signing",
                            "--kind", "replica")
    assert code == 1
    by_region = {r["details"]["region"]: (r["outcome"], r["reason"]) for r in report["results"]}
    assert by_region == {
        "us-west-2": ("KEY_STATE", "replica of document-signing in us-west-2 is Disabled"),
        "eu-west-2": ("FAILED", "replica of document-signing in eu-west-2 is missing")}


# --- cloudhsm (SCENARIOS 32) ---------------------------------------------------------------


def _cluster_id(sb: Sandbox, acct: str) -> str:
    return str(aws(sb, acct, "cloudhsmv2").describe_clusters()["Clusters"][0]["ClusterId"])


def test_cloudhsm_restores_a_cluster_with_two_azs_and_tears_it_down(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    clock = use_clock(monkeypatch, sb)
    code, report, err = drill(capsys, sb, envs, "prod", "--kind", "cloudhsm")
    assert code == 0, err
    r = result(report, "cloudhsm", "cluster")
    assert r["outcome"] == "PASSED"
    assert r["details"]["active_hsm_azs"] == ["us-east-1a", "us-east-1b"]
    assert r["details"]["teardown"] == "deleted"
    assert r["rto_seconds"] == 900.0  # 600 s cluster + 300 s hsms, by the sandbox clock
    assert clock.slept == 900.0
    restored = sb.front.cloudhsm.clusters[r["details"]["restored_cluster_id"]]
    assert (restored.account, restored.state, restored.tags["keyplane:drill-run"]) == (
        DRILL_ACCOUNT, "DELETED", report["run_id"])


@pytest.mark.parametrize(("setup", "reason"), [
    ("not-ready", "latest backup {b} is CREATE_IN_PROGRESS, not READY"),
    ("other-cluster", "latest backup {b} is from cluster {o}, not {c}"),
    ("too-old", "latest backup {b} is 30.0 h old, above 26 h (24 h plus slack)"),
])
def test_fails_cloudhsm_backup_checks(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, setup: str, reason: str) -> None:
    envs, acct = drill_env(sb, tmp_path)
    clock = use_clock(monkeypatch, sb)
    cid = _cluster_id(sb, acct)
    other = ""
    if setup == "not-ready":
        backup = sb.front.cloudhsm.control({"add_backup": {"cluster_id": cid,
                                                           "state": "CREATE_IN_PROGRESS"}})
        bid = backup["BackupId"]
    elif setup == "other-cluster":
        other = aws(sb, acct, "cloudhsmv2").create_cluster(
            HsmType="hsm2m.medium", SubnetIds=["subnet-0a1b2c3d4e5f60718"])["Cluster"]["ClusterId"]
        bid = aws(sb, acct, "cloudhsmv2").describe_backups(
            Filters={"clusterIds": [other]})["Backups"][0]["BackupId"]
    else:
        clock.t += 30 * 3600  # the drill runs 30 h after the last backup
        bid = aws(sb, acct, "cloudhsmv2").describe_backups()["Backups"][0]["BackupId"]
    code, report, _ = drill(capsys, sb, envs, "prod", "--kind", "cloudhsm")
    assert code == 1
    r = result(report, "cloudhsm", "cluster")
    assert (r["outcome"], r["reason"]) == ("FAILED", reason.format(b=bid, o=other, c=cid))
    assert "restored_cluster_id" not in r["details"]


def test_fails_cloudhsm_when_backup_retention_does_not_match_the_inventory(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path, **{"backup_retention_in_days: 379":
                                            "backup_retention_in_days: 365"})
    use_clock(monkeypatch, sb)
    code, report, _ = drill(capsys, sb, envs, "prod", "--kind", "cloudhsm")
    assert code == 1
    assert result(report, "cloudhsm", "cluster")["reason"] == (
        f"cluster {_cluster_id(sb, acct)} keeps backups 379 days; the ca tier and the "
        "inventory ask for 365")


def test_fails_cloudhsm_stuck_cluster_times_out_and_is_torn_down(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    clock = use_clock(monkeypatch, sb)
    sb.front.cloudhsm.control({"stuck_restores": True})
    code, report, _ = drill(capsys, sb, envs, "prod", "--kind", "cloudhsm")
    assert code == 3
    r = result(report, "cloudhsm", "cluster")
    assert r["outcome"] == "TIMED_OUT"
    assert r["reason"].startswith(f"cluster {r['details']['restored_cluster_id']} did not "
                                  "finish within 14400 s: cluster CREATE_IN_PROGRESS")
    assert r["details"]["teardown"] == "deleted"
    assert clock.slept == 14400.0
    assert sb.front.cloudhsm.clusters[r["details"]["restored_cluster_id"]].state == "DELETED"


def test_fails_cloudhsm_with_fewer_than_two_active_hsms_in_distinct_azs(
        sb: Sandbox, shared: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs = shared
    use_clock(monkeypatch, sb)
    sb.front.cloudhsm.control({"failing_azs": ["us-east-1b"]})
    code, report, _ = drill(capsys, sb, envs, "prod", "--kind", "cloudhsm")
    assert code == 1
    r = result(report, "cloudhsm", "cluster")
    assert (r["outcome"], r["reason"]) == (
        "FAILED", "restored cluster has 1 active hsm(s) in distinct availability zones; a "
                  "custom key store needs 2")
    assert sorted(r["details"]["hsm_states"].values()) == ["ACTIVE", "DEGRADED"]
    assert r["details"]["teardown"] == "deleted"


# --- backup (SCENARIOS 27, 28, 30, 33) ---------------------------------------------------------


def test_backup_restores_compares_reports_and_deletes_the_scratch_copy(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    before = drill_tables(sb)
    code, report, err = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 0, err
    r = result(report, "backup", "ca-database")
    assert (r["outcome"], r["rto_seconds"]) == ("PASSED", 300.0)
    # the recovery point's age when the restore started: the backup job (60 s), then the
    # copy into the drill account (120 s); RTO runs from the restore's start. The drill's clock
    # and the sandbox's are sampled at different real moments, which a loaded machine spreads
    # by seconds: the tolerance allows that, not a missing or doubled step (60 s each)
    assert r["rpo_seconds"] == pytest.approx(180.0, abs=10.0)
    assert r["details"]["copy_seconds"] == 120.0
    assert r["details"]["manifest_count"] == r["details"]["restored_count"] == 6  # 5 + canary
    assert r["details"]["created_resource"].startswith(
        f"arn:aws:dynamodb:us-east-1:{DRILL_ACCOUNT}:table/kp-drill-{report['run_id'].lower()}")
    # the copy landed in the drill account's vault, and the restore started from it
    copy = sb.front.backup.copy_jobs[r["details"]["copy_job_id"]]
    copied = r["details"]["copied_recovery_point"]
    assert (copy.account, copy.state, copy.destination_vault_arn,
            copy.destination_recovery_point_arn) == (acct, "COMPLETED", DRILL_VAULT_ARN, copied)
    assert copy.recovery_point_arn == r["details"]["recovery_point"]
    assert copied.startswith(f"arn:aws:backup:us-east-1:{DRILL_ACCOUNT}:recovery-point:")
    assert r["details"]["recovery_point"].startswith(f"arn:aws:backup:us-east-1:{acct}:")
    job = sb.front.backup.restore_jobs[r["details"]["restore_job_id"]]
    assert (job.account, job.recovery_point_arn, job.validation_status) == (
        DRILL_ACCOUNT, copied, "SUCCESSFUL")
    # the scratch table and the copy are gone; the source recovery point stays in its vault
    assert drill_tables(sb) == before
    assert r["details"]["copy_cleanup"] == "deleted"
    assert copied not in sb.front.backup.recovery_points
    assert copied not in drill_vault_points(sb)
    assert r["details"]["recovery_point"] in sb.front.backup.recovery_points
    events = [e["event"] for e in s3_journal(sb, acct)]
    assert events.index("intent") < events.index("created")
    copy_events = [(e["event"], e["kind"]) for e in s3_journal(sb, acct)
                   if e["kind"] in ("copy-job", "recovery-point")]
    assert copy_events == [("intent", "copy-job"), ("gone", "copy-job"), ("created", "copy-job"),
                           ("created", "recovery-point"), ("gone", "copy-job"),
                           ("deleted", "recovery-point")]


def test_backup_leaves_no_canary_in_the_protected_resources_after_three_runs(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    # AWS Backup protects versioned buckets: the canary's version goes, not just its name
    aws(sb, acct, "s3").put_bucket_versioning(Bucket="acme-pki-certificate-inventory-prod",
                                              VersioningConfiguration={"Status": "Enabled"})
    before = protected_names(sb, acct)
    assert len(before[0]) == len(before[1]) == 5
    runs = []
    for _ in range(3):
        code, report, err = drill(capsys, sb, envs, "prod", "--kind", "backup")
        assert code == 0, err
        runs.append(report["run_id"])
        for key in ("ca-database", "certificate-inventory"):
            r = result(report, "backup", key)
            # each backup held this run's canary (manifest and restored copy), and only this one
            assert (r["outcome"], r["details"]["manifest_count"],
                    r["details"]["restored_count"]) == ("PASSED", 6, 6)
            assert r["details"]["canary"] == {"name": f"keyplane-canary/{report['run_id']}",
                                              "removed": True}
        assert protected_names(sb, acct) == before
    assert len(set(runs)) == 3
    canaries = [e for e in s3_journal(sb, acct) if e["kind"] == "canary"]
    assert [e["event"] for e in canaries] == ["intent", "created", "deleted"] * 6
    assert drill_vault_points(sb) == {} or all(
        tags.get("keyplane:drill-run") not in runs for tags in drill_vault_points(sb).values())


def test_fails_backup_when_the_drill_vault_is_missing(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    aws(sb, DRILL_ACCOUNT, "backup").delete_backup_vault(BackupVaultName=DRILL_VAULT)
    jobs = len(sb.front.backup.backup_jobs)
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 1
    r = result(report, "backup", "ca-database")
    assert (r["outcome"], r["reason"]) == (
        "FAILED", f"drill vault {DRILL_VAULT} does not exist in drill account {DRILL_ACCOUNT}: "
                  "apply the prod-aws-drill stack")
    assert (r["details"]["error"], r["details"]["operation"]) == (
        "ResourceNotFoundException", "DescribeBackupVault")
    (f,) = report["findings"]
    assert (f["rule_id"], f["outcome"], f["resource"]) == ("drill.backup", "FAIL", "ca-database")
    # refused before anything was written: no canary, no backup
    assert len(sb.front.backup.backup_jobs) == jobs
    assert protected_names(sb, acct)[0] == [f"cert-{i:04d}" for i in range(5)]


def test_fails_backup_when_the_drill_vault_does_not_admit_the_source_account(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    aws(sb, DRILL_ACCOUNT, "backup").delete_backup_vault_access_policy(
        BackupVaultName=DRILL_VAULT)
    restores = len(sb.front.backup.restore_jobs)
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 1
    r = result(report, "backup", "ca-database")
    job_id = r["details"]["copy_job_id"]
    assert (r["outcome"], r["reason"]) == (
        "FAILED", f"copy job {job_id} to {DRILL_VAULT_ARN} ended FAILED: Access Denied trying "
                  "to call AWS Backup service")
    assert sb.front.backup.copy_jobs[job_id].destination_recovery_point_arn is None
    assert len(sb.front.backup.restore_jobs) == restores  # nothing to restore from
    assert protected_names(sb, acct)[0] == [f"cert-{i:04d}" for i in range(5)]  # no canary


def test_cleanup_deletes_only_copies_tagged_with_their_run(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from keyplane.cloud.aws.drills import AwsBackupDrill
    from keyplane.sandbox.backup_fake import RecoveryPoint

    envs, acct = drill_env(sb, tmp_path)
    clock = use_clock(monkeypatch, sb)
    # a recovery point in the drill vault that no drill made (never tagged by a run)
    bystander = f"arn:aws:backup:us-east-1:{DRILL_ACCOUNT}:recovery-point:not-ours"
    sb.front.backup.recovery_points[bystander] = RecoveryPoint(
        arn=bystander, vault=DRILL_VAULT, account=DRILL_ACCOUNT, region="us-east-1",
        resource_arn=f"arn:aws:dynamodb:us-east-1:{acct}:table/pki-ca-database",
        resource_type="DynamoDB", created=clock.t, data={"items": []})
    real_tag = AwsBackupDrill.tag_recovery_point

    def killed(self: AwsBackupDrill, arn: str, tags: dict[str, str]) -> None:
        raise KeyboardInterrupt  # the process dies once the copy is made, before it is tagged
    monkeypatch.setattr(AwsBackupDrill, "tag_recovery_point", killed)
    orphans: list[str] = []
    for _ in range(2):
        code, _, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
        assert code == 130
        (orphan,) = [j.destination_recovery_point_arn for j in sb.front.backup.copy_jobs.values()
                     if j.account == acct and j.destination_recovery_point_arn in
                     drill_vault_points(sb) and j.destination_recovery_point_arn not in orphans]
        orphans.append(orphan)
    # the second run adopted the first's copy job, and deleted the copy it carries the tag of
    assert orphans[0] not in drill_vault_points(sb)
    # the second orphan is re-tagged for another run: no longer this journal's to delete
    sb.front.backup.recovery_points[orphans[1]].tags["keyplane:drill-run"] = "someone-else"
    monkeypatch.setattr(AwsBackupDrill, "tag_recovery_point", real_tag)
    code, report, err = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 0, err
    r = result(report, "backup", "ca-database")
    actions = [(a["id"], a["kind"], a["action"]) for a in r["details"]["adopted"]
               if a["kind"] == "recovery-point"]
    assert actions == [(orphans[1], "recovery-point", "refused-untagged")]
    left = drill_vault_points(sb)
    assert bystander in left and orphans[1] in left
    assert r["details"]["copied_recovery_point"] not in left
    # killed runs still removed their canaries (after the backup, before the copy)
    assert protected_names(sb, acct)[0] == [f"cert-{i:04d}" for i in range(5)]
    del sb.front.backup.recovery_points[bystander]
    del sb.front.backup.recovery_points[orphans[1]]


@pytest.mark.parametrize(("fault", "diff"), [("altered", (0, 1)), ("partial", (1, 0))])
def test_fails_backup_with_wrong_or_partial_data_and_keeps_the_copy_for_forensics(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, fault: str, diff: tuple[int, int]) -> None:
    envs, _acct = drill_env(sb, tmp_path)
    clock = use_clock(monkeypatch, sb)
    sb.front.backup.configure({"restore_fault": fault})
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 1
    r = result(report, "backup", "ca-database")
    assert (r["outcome"], r["reason"]) == (
        "FAILED", f"restored data differs from the manifest: {diff[0]} missing, "
                  f"{diff[1]} altered")
    copy = r["details"]["created_resource"].split(":table/")[1]
    assert copy in drill_tables(sb)  # kept for forensics, tagged with the run
    tags = aws(sb, DRILL_ACCOUNT, "dynamodb").list_tags_of_resource(
        ResourceArn=r["details"]["created_resource"])["Tags"]
    assert {"Key": "keyplane:drill-run", "Value": report["run_id"]} in tags
    job = sb.front.backup.restore_jobs[r["details"]["restore_job_id"]]
    assert job.validation_status == "FAILED"
    # the copy in the drill account's vault is kept with it, tagged with the run
    copied = r["details"]["copied_recovery_point"]
    assert drill_vault_points(sb)[copied]["keyplane:drill-run"] == report["run_id"]
    # a later run inside the window keeps it; after the window it removes it
    sb.front.backup.configure({"restore_fault": None})
    code, report2, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    kept = result(report2, "backup", "ca-database")["details"]["adopted"]
    assert {"kind": "scratch", "id": r["details"]["created_resource"],
            "run_id": report["run_id"], "action": "kept for forensics"} in kept
    assert copy in drill_tables(sb)
    clock.t += 73 * 3600
    sb.front.clock.advance(73 * 3600)
    code, report3, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 0
    adopted = result(report3, "backup", "ca-database")["details"]["adopted"]
    assert {"kind": "scratch", "id": r["details"]["created_resource"],
            "run_id": report["run_id"], "action": "deleted"} in adopted
    assert {"kind": "recovery-point", "id": copied, "run_id": report["run_id"],
            "action": "deleted"} in adopted
    assert copy not in drill_tables(sb)
    assert copied not in drill_vault_points(sb)


def test_fails_backup_restore_that_never_completes_times_out_and_keeps_the_job_id(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    clock = use_clock(monkeypatch, sb)
    sb.front.backup.configure({"restore_fault": "never"})
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 3
    r = result(report, "backup", "ca-database")
    job_id = r["details"]["restore_job_id"]
    assert (r["outcome"], r["details"]["last_state"], r["deadline_seconds"]) == (
        "TIMED_OUT", "RUNNING", 7200.0)
    assert r["reason"] == f"restore job {job_id} did not finish within 7200 s: state RUNNING"
    (f,) = report["findings"]
    assert (f["rule_id"], f["outcome"], f["resource"], f["cloud"]) == (
        "drill.backup", "UNKNOWN", "ca-database", "aws")
    # the backup job, the copy, then the restore until its deadline
    assert clock.slept == 60 + 120 + 7200
    persisted = [e for e in s3_journal(sb, acct) if e["id"] == job_id]
    assert [e["event"] for e in persisted] == ["created"]
    # the next run adopts the job: still running, so it is left open, not forgotten
    sb.front.backup.configure({"restore_fault": None})
    code, report2, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database",
                             "--deadline-scale", "0.5")
    adopted = result(report2, "backup", "ca-database")["details"]["adopted"]
    assert {"kind": "restore-job", "id": job_id, "run_id": report["run_id"],
            "action": "still RUNNING"} in adopted
    # the copy it restores from stays until the restore is over
    assert {"kind": "recovery-point", "id": r["details"]["copied_recovery_point"],
            "run_id": report["run_id"], "action": "left (its restore is still running)"} in adopted


def test_slow_restore_times_out_and_the_next_run_adopts_and_cleans_it(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, _ = drill_env(sb, tmp_path)
    clock = use_clock(monkeypatch, sb)
    sb.front.backup.configure({"restore_seconds": 3 * 3600})
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 3
    job_id = result(report, "backup", "ca-database")["details"]["restore_job_id"]
    before = drill_tables(sb)
    clock.sleep(3600)  # an hour later the late restore has finished
    sb.front.backup.configure({"restore_seconds": 300})
    code, report2, err = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 0, err
    adopted = result(report2, "backup", "ca-database")["details"]["adopted"]
    assert {"kind": "scratch", "id": sb.front.backup.restore_jobs[job_id].created_resource_arn,
            "run_id": report["run_id"], "action": "deleted"} in adopted
    assert drill_tables(sb) <= before


def test_slow_copy_times_out_and_the_next_run_adopts_and_deletes_the_copy(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    clock = use_clock(monkeypatch, sb)
    sb.front.backup.configure({"copy_seconds": 3 * 3600})
    restores = len(sb.front.backup.restore_jobs)
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 3
    r = result(report, "backup", "ca-database")
    job_id = r["details"]["copy_job_id"]
    assert (r["outcome"], r["details"]["last_state"], r["deadline_seconds"]) == (
        "TIMED_OUT", "RUNNING", 7200.0)
    assert r["reason"] == f"copy job {job_id} did not finish within 7200 s: state RUNNING"
    assert clock.slept == 60 + 7200  # the backup job, then the copy until its deadline
    assert len(sb.front.backup.restore_jobs) == restores
    assert r["details"]["canary"]["removed"] is True  # the backup was taken: canary gone
    persisted = [e["event"] for e in s3_journal(sb, acct) if e["id"] == job_id]
    assert persisted == ["created"]
    clock.sleep(3600)  # an hour later the late copy has landed in the drill vault
    copied = sb.front.backup.describe_copy_job(acct, job_id)["CopyJob"][
        "DestinationRecoveryPointArn"]
    assert copied in drill_vault_points(sb)
    sb.front.backup.configure({"copy_seconds": 120})
    code, report2, err = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 0, err
    adopted = result(report2, "backup", "ca-database")["details"]["adopted"]
    assert {"kind": "recovery-point", "id": copied, "run_id": report["run_id"],
            "action": "deleted"} in adopted
    assert {"kind": "copy-job", "id": job_id, "run_id": report["run_id"],
            "action": "closed (COMPLETED)"} in adopted
    assert copied not in drill_vault_points(sb)


def test_fails_backup_job_that_fails(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, _ = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    sb.front.backup.configure({"restore_fault": "fail"})
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 1
    r = result(report, "backup", "ca-database")
    assert r["reason"] == (f"restore job {r['details']['restore_job_id']} ended FAILED: restore "
                           "failed (injected by the keyplane sandbox)")


def test_fails_refuses_to_restore_into_the_environments_own_account(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    text = (envs / "prod.yaml").read_text(encoding="utf-8")
    (envs / "prod.yaml").write_text(text.replace(f'drill_account_id: "{DRILL_ACCOUNT}"',
                                                 f'drill_account_id: "{acct}"'), encoding="utf-8")
    use_clock(monkeypatch, sb)
    jobs = len(sb.front.backup.restore_jobs)
    code, report, _err = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 2
    assert report["error"] == "KP703"
    assert report["message"] == (f"drill_account_id {acct} is the account of environment prod; "
                                 "restores must land in a separate drill account")
    assert len(sb.front.backup.restore_jobs) == jobs


def test_killed_run_is_cleaned_up_by_the_next_and_untagged_copies_are_never_deleted(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from keyplane.cloud.aws.drills import AwsBackupDrill

    envs, _ = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    # an unrelated table in the drill account, named like a scratch copy but never tagged
    bystander = "kp-drill-not-ours"
    aws(sb, DRILL_ACCOUNT, "dynamodb").create_table(
        TableName=bystander, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    real_tag = AwsBackupDrill.tag

    def killed(self: AwsBackupDrill, arn: str, tags: dict[str, str]) -> None:
        raise KeyboardInterrupt  # the process dies after the restore, before it tags the copy
    monkeypatch.setattr(AwsBackupDrill, "tag", killed)
    code, _, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 130
    orphan = next(j for j in sb.front.backup.restore_jobs.values()
                  if j.state == "COMPLETED" and j.validation_status is None
                  and j.account == DRILL_ACCOUNT and j.created_resource_arn
                  and j.created_resource_arn.split("/")[-1] in drill_tables(sb))
    monkeypatch.setattr(AwsBackupDrill, "tag", real_tag)
    code, report, err = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 0, err
    adopted = result(report, "backup", "ca-database")["details"]["adopted"]
    assert [(a["kind"], a["action"]) for a in adopted if a["id"] == orphan.created_resource_arn
            ] == [("scratch", "deleted")]
    assert orphan.created_resource_arn.split("/")[-1] not in drill_tables(sb)
    assert bystander in drill_tables(sb)


def test_backup_sandbox_copies_across_accounts_as_aws_does(sb: Sandbox) -> None:
    from botocore.exceptions import ClientError

    src, dst, region = "733333333301", "733333333302", "us-east-1"
    ddb = aws(sb, src, "dynamodb")
    ddb.create_table(TableName="copy-src", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    ddb.put_item(TableName="copy-src", Item={"pk": {"S": "a"}})
    backup, drill_backup = aws(sb, src, "backup"), aws(sb, dst, "backup")
    backup.create_backup_vault(BackupVaultName="home")
    job = backup.start_backup_job(
        BackupVaultName="home", ResourceArn=f"arn:aws:dynamodb:{region}:{src}:table/copy-src",
        IamRoleArn=f"arn:aws:iam::{src}:role/b", RecoveryPointTags={"run": "r1"})["BackupJobId"]
    sb.front.clock.advance(60)
    rp = backup.describe_backup_job(BackupJobId=job)["RecoveryPointArn"]
    vault_arn = f"arn:aws:backup:{region}:{dst}:backup-vault:drill"

    def copy_state() -> dict[str, Any]:
        cid = backup.start_copy_job(RecoveryPointArn=rp, SourceBackupVaultName="home",
                                    DestinationBackupVaultArn=vault_arn,
                                    IamRoleArn=f"arn:aws:iam::{src}:role/b",
                                    Lifecycle={"DeleteAfterDays": 2})["CopyJobId"]
        sb.front.clock.advance(200)
        out: dict[str, Any] = backup.describe_copy_job(CopyJobId=cid)["CopyJob"]
        return out

    # the destination vault does not exist, then exists without a policy admitting the source
    missing = copy_state()
    drill_backup.create_backup_vault(BackupVaultName="drill")
    no_policy = copy_state()
    for job_out in (missing, no_policy):
        assert (job_out["State"], job_out["StatusMessage"]) == (
            "FAILED", "Access Denied trying to call AWS Backup service")
        assert "DestinationRecoveryPointArn" not in job_out
    drill_backup.put_backup_vault_access_policy(BackupVaultName="drill", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{src}:root"},
            "Action": "backup:CopyIntoBackupVault", "Resource": "*"}]}))
    done = copy_state()
    assert done["State"] == "COMPLETED"
    copied = done["DestinationRecoveryPointArn"]
    assert copied.startswith(f"arn:aws:backup:{region}:{dst}:recovery-point:")
    # the copy job is the source account's; the copy, with the source's tags, the drill's
    with pytest.raises(ClientError) as other:
        drill_backup.describe_copy_job(CopyJobId=done["CopyJobId"])
    assert other.value.response["Error"]["Code"] == "ResourceNotFoundException"
    listed = drill_backup.list_recovery_points_by_backup_vault(BackupVaultName="drill")
    assert [p["RecoveryPointArn"] for p in listed["RecoveryPoints"]] == [copied]
    assert drill_backup.list_tags(ResourceArn=copied)["Tags"] == {"run": "r1"}
    # a restore starts only from a recovery point of the caller's own account
    with pytest.raises(ClientError) as foreign:
        drill_backup.start_restore_job(RecoveryPointArn=rp, Metadata={"targetTableName": "x"},
                                       IamRoleArn=f"arn:aws:iam::{dst}:role/r")
    assert foreign.value.response["Error"]["Code"] == "AccessDeniedException"
    restore = drill_backup.start_restore_job(
        RecoveryPointArn=copied, Metadata={"targetTableName": "copy-dst"},
        IamRoleArn=f"arn:aws:iam::{dst}:role/r")["RestoreJobId"]
    sb.front.clock.advance(400)
    assert drill_backup.describe_restore_job(RestoreJobId=restore)["Status"] == "COMPLETED"
    assert aws(sb, dst, "dynamodb").scan(TableName="copy-dst")["Count"] == 1
    # the copy's lifecycle runs out after two days
    sb.front.clock.advance(2 * 86400)
    assert drill_backup.list_recovery_points_by_backup_vault(
        BackupVaultName="drill")["RecoveryPoints"] == []
    with pytest.raises(ClientError) as bad:
        backup.start_copy_job(RecoveryPointArn=rp, SourceBackupVaultName="home",
                              DestinationBackupVaultArn="keyplane-prod-drill",
                              IamRoleArn=f"arn:aws:iam::{src}:role/b")
    assert bad.value.response["Error"]["Code"] == "InvalidParameterValueException"
    # a vault lock keeps a recovery point for its minimum retention
    backup.put_backup_vault_lock_configuration(BackupVaultName="home", MinRetentionDays=7)
    with pytest.raises(ClientError) as locked:
        backup.delete_recovery_point(BackupVaultName="home", RecoveryPointArn=rp)
    assert locked.value.response["Error"]["Code"] == "InvalidRequestException"


# --- locks, fail closed (SCENARIOS 29, 34) -------------------------------------------------------


def test_second_run_of_a_locked_target_exits_already_running(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    clock = use_clock(monkeypatch, sb)
    ddb = aws(sb, acct, "dynamodb")
    ddb.put_item(TableName="keyplane-drill-locks", Item={
        "lock": {"S": "prod/sign-canary/code-signing"}, "owner": {"S": "run-a ci"},
        "expires_at": {"N": str(clock.t + 600)}})
    code, report, err = drill(capsys, sb, envs, "prod", "--tier", "production",
                              "--kind", "sign-canary")
    assert code == 3
    locked = [ln for ln in err.splitlines() if ln.startswith("keyplane: drill ")]
    assert locked[0].startswith("keyplane: drill sign-canary/code-signing of prod is already "
                                "running (owner run-a ci, last heartbeat ")
    assert "; if that run died, its lock is taken over after " in err
    assert ("sign-canary", "code-signing") not in {(r["kind"], r["key"])
                                                   for r in report["results"]}
    assert result(report, "sign-canary", "document-signing")["outcome"] == "PASSED"
    # an expired lock is taken over; a held lock is released after the run
    clock.t += 601
    code, report, err = drill(capsys, sb, envs, "prod", "--key", "code-signing",
                              "--kind", "sign-canary")
    assert code == 0, err
    assert report["notes"] == ["sign-canary/code-signing: took over the lock of run-a ci, "
                               "whose heartbeat stopped after "
                               f"{report['notes'][0].split('stopped after ')[1].split(';')[0]}"
                               "; its journal is adopted"]
    assert "Item" not in ddb.get_item(TableName="keyplane-drill-locks",
                                      Key={"lock": {"S": "prod/sign-canary/code-signing"}})


def test_fails_closed_when_audit_events_cannot_be_written(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, _acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    jobs = len(sb.front.backup.backup_jobs)
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database",
                            "--audit-log", str(blocker / "events.jsonl"))
    assert code == 2
    assert report["error"] == "KP801"
    assert report["message"] == (f"cannot write audit events to {blocker / 'events.jsonl'}: "
                                 "File exists")
    assert len(sb.front.backup.backup_jobs) == jobs


def test_fails_closed_when_evidence_cannot_be_written(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    aws(sb, acct, "s3").delete_bucket(Bucket=f"evidence-{acct}")
    jobs = len(sb.front.backup.backup_jobs)
    code, report, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database")
    assert code == 2
    assert report["error"] == "KP802"
    assert report["message"].startswith(f"cannot write evidence to s3://evidence-{acct}/drills/: "
                                        "NoSuchBucket")
    assert len(sb.front.backup.backup_jobs) == jobs
    # the refusal is on record: the audit log could be written
    import json

    log = envs.parent / "ev.jsonl"  # the drill helper's --audit-log
    events = [json.loads(line) for line in log.read_text().splitlines()]
    refused = [e for e in events if e["outcome"] == "refused"]
    assert [(e["action"], e["reason"].split(":")[0]) for e in refused] == [("drill.run", "KP802")]


# --- escrow ------------------------------------------------------------------------------------


def _escrow_env(sb: Sandbox, tmp_path: Path, n: int) -> tuple[Path, str]:
    from keyplane.model import load_estate
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.stack import load_environment_stacks
    from keyplane.sandbox.apply import apply_state

    account = f"76000000{n:04d}"
    d = lab_env(tmp_path, account=account, drill=DRILL_ACCOUNT, evidence=tmp_path / "evidence")
    env = load_estate([d / "lab.yaml"]).get("lab")
    stacks = load_environment_stacks(env, d.parent / "cdktf.out")
    apply_state(expected_state(env, stacks), aws_endpoint=sb.aws.url, gcp_endpoint=None)
    return d, account


def test_escrow_copy_unwraps_matches_and_verifies_without_leaking_material(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from keyplane.cloud.aws.drills import AwsKmsDrill
    from keyplane.cloud.aws.session import AwsClients, AwsConfig
    from keyplane.drills.escrow import unwrap
    from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key

    envs, acct = _escrow_env(sb, tmp_path, 1)
    use_clock(monkeypatch, sb)
    code, report, err = drill(capsys, sb, envs, "lab")
    assert code == 0, err
    assert outcomes(report) == {("sign-canary", "escrow-wrap", None): "PASSED",
                                ("sign-canary", "lab-signer", 1): "PASSED",
                                ("escrow", "lab-signer", 1): "PASSED"}
    r = result(report, "escrow", "lab-signer")
    assert r["details"]["deployed_public_key_sha256"] == r["details"]["escrowed_public_key_sha256"]
    # the material, recovered here only to prove it appears nowhere
    blob = aws(sb, acct, "s3").get_object(Bucket=f"lab-escrow-{acct}",
                                          Key="lab-signer.json")["Body"].read()
    clients = AwsClients(AwsConfig(region="eu-west-1", endpoint_url=sb.aws.url,
                                   access_key_id=sandbox_access_key(acct),
                                   secret_access_key=SANDBOX_SECRET))
    priv = unwrap(blob, "lab-signer", AwsKmsDrill(clients, "eu-west-1"), "alias/escrow-wrap")
    der = priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    secret = priv.private_numbers().private_value  # type: ignore[union-attr]
    needles = {der.hex(), base64.b64encode(der).decode(), str(secret), hex(secret)[2:],
               "PRIVATE KEY"}
    haystack = json.dumps(report) + err + (envs.parent / "ev.jsonl").read_text(encoding="utf-8")
    haystack += "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "evidence").rglob("*")
                        if p.is_file())
    assert [n for n in needles if n in haystack] == []


def test_fails_integrity_alarm_when_the_escrow_copy_is_of_another_key(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from keyplane.cloud.aws.drills import AwsKmsDrill
    from keyplane.cloud.aws.session import AwsClients, AwsConfig
    from keyplane.drills.escrow import seal
    from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key

    envs, acct = _escrow_env(sb, tmp_path, 2)
    use_clock(monkeypatch, sb)
    clients = AwsClients(AwsConfig(region="eu-west-1", endpoint_url=sb.aws.url,
                                   access_key_id=sandbox_access_key(acct),
                                   secret_access_key=SANDBOX_SECRET))
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    aws(sb, acct, "s3", "eu-west-1").put_object(
        Bucket=f"lab-escrow-{acct}", Key="lab-signer.json",
        Body=seal(other, "lab-signer", AwsKmsDrill(clients, "eu-west-1"), "alias/escrow-wrap"))
    code, report, _ = drill(capsys, sb, envs, "lab", "--kind", "escrow")
    assert code == 1
    r = result(report, "escrow", "lab-signer")
    assert (r["outcome"], r["reason"]) == (
        "INTEGRITY_ALARM", "escrow copy of lab-signer does not match the deployed key")
    (f,) = report["findings"]
    assert (f["rule_id"], f["outcome"], f["control"], f["resource"], f["tier"], f["severity"],
            f["reason"]) == ("drill.escrow", "FAIL", "backup", "lab-signer@g1", "non-production",
                             "high", r["reason"])
