"""Drill evidence: atomic, never overwritten, read back in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyplane.audit.evidence import DrillResult, EvidenceError, LocalEvidenceStore, latest_by_target


def result(**over: object) -> DrillResult:
    base: dict[str, object] = dict(
        run_id="20261128T120000Z-abc", environment="prod", kind="sign-canary",
        key="code-signing", generation=4, tier="production",
        started_at="2026-11-28T12:00:00Z", ended_at="2026-11-28T12:00:02Z", outcome="PASSED",
        reason="signature verified through the api and offline", identity="arn:aws:sts::1:x",
        rto_seconds=2.0)
    base.update(over)
    return DrillResult(**base)  # type: ignore[arg-type]


def test_records_round_trip_in_time_order(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "evidence" / "prod")
    later = result(run_id="20261128T130000Z-def", started_at="2026-11-28T13:00:00Z",
                   outcome="FAILED", reason="restored data differs from the manifest")
    store.put(later)
    store.put(result())
    history = store.history("prod")
    assert [r.run_id for r in history] == ["20261128T120000Z-abc", "20261128T130000Z-def"]
    assert history[0] == result()
    assert latest_by_target(history)[("sign-canary", "code-signing")].outcome == "FAILED"
    assert store.history("dev") == []


def test_fails_to_overwrite_an_earlier_record(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    store.put(result())
    with pytest.raises(EvidenceError) as info:
        store.put(result(outcome="FAILED"))
    assert info.value.message.endswith("already exists; keyplane never overwrites evidence")
    (only,) = store.history()
    assert only.outcome == "PASSED"
    assert [p.name for p in tmp_path.iterdir()] == [result().record_name()]


def test_fails_closed_when_evidence_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(EvidenceError) as info:
        LocalEvidenceStore(blocker / "prod").ensure_writable()
    assert info.value.code == "KP802"


def test_fails_on_unknown_kind_or_outcome() -> None:
    with pytest.raises(ValueError, match="kind must be one of sign-canary"):
        result(kind="restore")
    with pytest.raises(ValueError, match="outcome must be one of PASSED"):
        result(outcome="OK")


# --- a record is a finding ---------------------------------------------------------------------


@pytest.mark.parametrize(("outcome", "status"), [
    ("PASSED", "PASS"), ("FAILED", "FAIL"), ("INTEGRITY_ALARM", "FAIL"), ("KEY_STATE", "FAIL"),
    ("TIMED_OUT", "UNKNOWN"), ("ERROR", "UNKNOWN"), ("SKIPPED", "NOT_APPLICABLE")])
def test_the_finding_of_a_record_has_the_status_of_its_outcome(outcome: str, status: str) -> None:
    f = result(outcome=outcome, cloud="aws").with_finding_fields().finding()
    assert f.to_dict() == {
        "rule_id": "drill.sign-canary", "control": "protection", "cloud": "aws",
        "environment": "prod", "tier": "production", "resource": "code-signing@g4",
        "severity": "critical", "outcome": status, "key": "code-signing@g4", "area": "drill",
        "reason": "signature verified through the api and offline"}


def test_a_drill_writes_the_fields_of_its_finding_and_reads_them_back(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    replica = result(kind="replica", key="code-signing@us-west-2", outcome="KEY_STATE",
                     reason="replica of code-signing in us-west-2 is Disabled",
                     details={"region": "us-west-2"}, cloud="aws").with_finding_fields()
    where = store.put(replica)
    written = json.loads(Path(where).read_text(encoding="utf-8"))
    assert {k: written[k] for k in ("schema_version", "rule_id", "control", "cloud", "severity",
                                    "resource", "environment", "tier", "reason")} == {
        "schema_version": "1", "rule_id": "drill.replica", "control": "backup", "cloud": "aws",
        "severity": "critical", "resource": "code-signing@us-west-2", "environment": "prod",
        "tier": "production", "reason": "replica of code-signing in us-west-2 is Disabled"}
    (back,) = store.history("prod")
    assert back == replica
    f = back.finding()
    assert (f.status.value, f.key, f.region) == ("FAIL", "code-signing@g4", "us-west-2")


def test_a_record_written_before_schema_1_still_reads_and_is_a_finding(tmp_path: Path) -> None:
    old = {"run_id": "20250101T000000Z-abc", "environment": "dev", "kind": "backup",
           "key": "ca-database", "generation": None, "tier": "non-production",
           "started_at": "2025-01-01T00:00:00Z", "ended_at": "2025-01-01T00:10:00Z",
           "outcome": "TIMED_OUT", "reason": "restore job did not finish", "identity": "ci",
           "rto_seconds": None, "rpo_seconds": None, "deadline_seconds": 600.0, "details": {}}
    (tmp_path / "20250101T000000Z-old.json").write_text(json.dumps(old), encoding="utf-8")
    (record,) = LocalEvidenceStore(tmp_path).history()
    assert (record.schema_version, record.rule_id, record.severity) == (None, None, None)
    assert record.to_dict() == old  # shown as it was written
    assert record.finding().to_dict() == {
        "rule_id": "drill.backup", "control": "backup", "cloud": "aws", "environment": "dev",
        "tier": "non-production", "resource": "ca-database", "severity": "high",
        "outcome": "UNKNOWN", "reason": "restore job did not finish", "area": "drill"}


def test_the_finding_of_an_old_record_takes_its_cloud_from_the_key_it_drilled() -> None:
    gcp = result(details={"ref": "projects/p/locations/l/keyRings/r/cryptoKeys/k/"
                                 "cryptoKeyVersions/1"})
    aws = result(details={"ref": "arn:aws:kms:us-east-1:1:key/k"})
    assert (gcp.finding().cloud, aws.finding().cloud, result().finding().cloud) == (
        "gcp", "aws", None)
    # a tier keyplane does not know: the record still reads, at the severity of an unknown drill
    assert (result(tier="gold").finding().tier, result(tier="gold").finding().severity) == (
        None, "high")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("rule_id", "drill.backup", "rule_id of a sign-canary drill must be drill.sign-canary, got "
                                "'drill.backup'"),
    ("control", "secrecy", "control must be one of protection, access, audit, backup, rotation, "
                           "got 'secrecy'"),
    ("cloud", "azure", "cloud must be one of aws, gcp, got 'azure'"),
    ("severity", "urgent", "severity must be one of critical, high, medium, low, info, got "
                           "'urgent'"),
    ("resource", 4, "'resource' must be a string, got a number"),
])
def test_fails_to_read_a_record_with_a_bad_finding_field(field: str, value: object,
                                                         message: str) -> None:
    data = result().with_finding_fields().to_dict()
    data[field] = value
    with pytest.raises(ValueError) as info:
        DrillResult.from_dict(data)
    assert str(info.value) == message
