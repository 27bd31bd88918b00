"""Restore drills against the sandbox (moto + the Backup/CloudHSM fakes + the Cloud KMS fake).

Each test gets its own copy of the example prod environment in its own account; time
moves only through the injected clock (no real sleeps).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

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
                               "backup_fault": None, "restore_fault": None})
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
    assert r["rpo_seconds"] == pytest.approx(60.0, abs=2.0)  # the backup job took 60 s
    assert r["details"]["manifest_count"] == r["details"]["restored_count"] == 6  # 5 + canary
    assert r["details"]["created_resource"].startswith(
        f"arn:aws:dynamodb:us-east-1:{DRILL_ACCOUNT}:table/kp-drill-{report['run_id'].lower()}")
    job = sb.front.backup.restore_jobs[r["details"]["restore_job_id"]]
    assert (job.account, job.validation_status) == (DRILL_ACCOUNT, "SUCCESSFUL")
    assert drill_tables(sb) == before  # the scratch table is gone
    events = [e["event"] for e in s3_journal(sb, acct)]
    assert events.index("intent") < events.index("created")


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
    assert copy not in drill_tables(sb)


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
    assert clock.slept == 60 + 7200  # the backup job, then the restore until its deadline
    persisted = [e for e in s3_journal(sb, acct) if e["id"] == job_id]
    assert [e["event"] for e in persisted] == ["created"]
    # the next run adopts the job: still running, so it is left open, not forgotten
    sb.front.backup.configure({"restore_fault": None})
    code, report2, _ = drill(capsys, sb, envs, "prod", "--key", "ca-database",
                             "--deadline-scale", "0.5")
    adopted = result(report2, "backup", "ca-database")["details"]["adopted"]
    assert {"kind": "restore-job", "id": job_id, "run_id": report["run_id"],
            "action": "still RUNNING"} in adopted


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
