"""Drill evidence: atomic, never overwritten, read back in order."""

from __future__ import annotations

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
