"""Audit events: JSON lines, run ids, timing, redaction, fail-closed sinks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from keyplane.audit import AuditLog, AuditSinkError, JsonLinesSink, MemorySink, new_run_id
from keyplane.audit.events import scrub

FIXED = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.UTC)


def make_log(*sinks: object, ticks: list[float] | None = None) -> AuditLog:
    times = iter(ticks or [0.0, 0.25])
    return AuditLog(sinks=list(sinks), command="drill", actor="arn:aws:sts::1:assumed-role/x/y",
                    run_id="run-1", clock=lambda: FIXED, monotonic=lambda: next(times))


def test_events_are_json_lines_with_every_field(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "audit" / "events.jsonl")
    log = make_log(sink)
    log.ensure_writable()
    log.emit(action="sign-canary", outcome="ok", environment="prod", resource="alias/code-signing",
             reason="signature verified", duration_ms=12)
    (event,) = sink.read()
    assert event == {
        "run_id": "run-1", "timestamp": "2026-11-28T12:00:00.000Z",
        "actor": "arn:aws:sts::1:assumed-role/x/y", "command": "drill", "environment": "prod",
        "resource": "alias/code-signing", "action": "sign-canary", "outcome": "ok",
        "reason": "signature verified", "duration_ms": 12, "details": {}}
    assert len((tmp_path / "audit" / "events.jsonl").read_text().splitlines()) == 1


def test_step_measures_duration_and_records_errors() -> None:
    sink = MemorySink()
    log = make_log(sink, ticks=[1.0, 1.5, 2.0, 2.125])
    with log.step(action="restore", environment="prod", resource="vault") as result:
        result["outcome"] = "finding"
        result["reason"] = "hash mismatch"
    with pytest.raises(RuntimeError), log.step(action="cleanup"):
        raise RuntimeError("scratch bucket not empty")
    first, second = sink.events
    assert (first.outcome, first.reason, first.duration_ms) == ("finding", "hash mismatch", 500)
    assert (second.outcome, second.duration_ms) == ("error", 125)
    assert second.reason == "RuntimeError: scratch bucket not empty"


def test_secret_material_never_reaches_an_event() -> None:
    sink = MemorySink()
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"
    make_log(sink).emit(action="escrow", outcome="failed", reason=f"bad blob {pem}",
                        details={"blob": pem, "key": "AKIAZ7QX3N5B2KDL4MPE"})
    text = sink.events[0].to_json()
    assert "MIIEvQIBADANBg" not in text and "AKIAZ7QX3N5B2KDL4MPE" not in text
    assert json.loads(text)["details"] == {"blob": "[redacted]", "key": "[redacted]"}


def test_fails_closed_when_the_sink_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = make_log(JsonLinesSink(blocker / "events.jsonl"))
    with pytest.raises(AuditSinkError) as info:
        log.ensure_writable()
    assert info.value.code == "KP801"
    assert info.value.message.startswith(f"cannot write audit events to {blocker}/events.jsonl")


def test_fails_on_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="outcome must be one of"):
        make_log(MemorySink()).emit(action="x", outcome="great")


def test_run_ids_sort_by_time_and_are_unique() -> None:
    a = new_run_id(FIXED)
    b = new_run_id(FIXED + dt.timedelta(seconds=1))
    assert a.startswith("20261128T120000Z-") and a < b
    assert new_run_id(FIXED) != new_run_id(FIXED)


def test_scrub_keeps_ordinary_text() -> None:
    assert scrub("restore job 1234 completed in 42 s") == "restore job 1234 completed in 42 s"
