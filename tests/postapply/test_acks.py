"""Known drift: acknowledged findings, expiry, unmatched entries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from keyplane.findings import Finding, Severity, Status
from keyplane.postapply.acks import Ack, apply, load
from keyplane.postapply.errors import KnownDriftError

F = Finding(rule_id="drift.key_disabled", status=Status.FAIL, severity=Severity.HIGH, resource="arn:k1",
            key="code-signing@g3", reason="the key is disabled")


def test_an_entry_covers_by_key_name_until_it_expires() -> None:
    ack = Ack(resource="code-signing", reason="r", owner="o", expires=dt.date(2026, 12, 31))
    (got,), unmatched, notes = apply([F], [ack], today=dt.date(2026, 12, 1))
    assert got.acknowledged == {"resource": "code-signing", "reason": "r", "owner": "o",
                                "expires": "2026-12-31"}
    assert (unmatched, notes) == ([], [])
    (late,), _, notes = apply([F], [ack], today=dt.date(2027, 1, 1))
    assert late.acknowledged is None
    assert notes == ["known-drift entry for code-signing expired on 2026-12-31 and no longer "
                     "applies"]


def test_an_entry_for_another_check_does_not_cover() -> None:
    ack = Ack(resource="arn:k1", reason="r", owner="o", expires=dt.date(2099, 1, 1),
              check="drift.tags")
    (got,), unmatched, _ = apply([F], [ack], today=dt.date(2026, 1, 1))
    assert got.acknowledged is None and unmatched[0]["check"] == "drift.tags"


def test_fails_on_a_bad_expiry(tmp_path: Path) -> None:
    p = tmp_path / "kd.yaml"
    p.write_text("- {resource: a, reason: b, owner: c, expires: soon}\n")
    with pytest.raises(KnownDriftError) as exc:
        load(p)
    assert exc.value.message == f"{p}: entry 0 expires must be a date (yyyy-mm-dd), got soon"
    assert exc.value.code == "KP605"
