"""Drill evidence: one immutable JSON record per drill result, never overwritten.

A record is written atomically (temporary file + rename) under a name that is
unique per run, kind, key and generation, and an existing name is never replaced:
evidence of an earlier run cannot be lost to a later one. `keyplane drill --history`
and `keyplane report` read the records back; neither needs cloud access.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from keyplane.documents import DocumentError, loads
from keyplane.errors import KeyplaneError

DRILL_KINDS = ("sign-canary", "replica", "cloudhsm", "backup", "escrow")
DRILL_OUTCOMES = ("PASSED", "FAILED", "TIMED_OUT", "INTEGRITY_ALARM", "KEY_STATE",
                  "SKIPPED", "ERROR")


class EvidenceError(KeyplaneError):
    """Evidence cannot be written or read; drills do not run without it (fail closed)."""

    code = "KP802"


@dataclass(frozen=True)
class DrillResult:
    """What one drill proved (or failed to), with the times that prove it."""

    run_id: str
    environment: str
    kind: str
    key: str | None
    generation: int | None
    tier: str | None
    started_at: str  # RFC 3339 UTC
    ended_at: str
    outcome: str
    reason: str
    identity: str  # who ran it: caller identity ARN / GCP principal / CI job
    rto_seconds: float | None = None  # time to re-establish the capability
    rpo_seconds: float | None = None  # age of the recovery point restored
    deadline_seconds: float | None = None  # the tier's deadline for this drill
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in DRILL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(DRILL_KINDS)}, got {self.kind!r}")
        if self.outcome not in DRILL_OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(DRILL_OUTCOMES)}, "
                             f"got {self.outcome!r}")

    @property
    def passed(self) -> bool:
        """Whether the drill proved the capability."""
        return self.outcome == "PASSED"

    def record_name(self) -> str:
        """The file name of this record: sortable by time, unique per run and target."""
        target = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.key or "-")
        gen = f"g{self.generation}" if self.generation is not None else "g-"
        stamp = re.sub(r"[^0-9TZ]", "", self.started_at)
        return f"{stamp}-{self.run_id}-{self.kind}-{target}-{gen}.json"

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> DrillResult:
        """A record read back; unknown fields (from newer keyplane versions) are ignored.

        ValueError names the first field that is missing or of the wrong type: a record
        is used by the history, the report and the drills' schedule, never half-read.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a record must be a json object, got {_json_type(data)}")
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in _REQUIRED:
            if name not in fields:
                raise ValueError(f"the record has no '{name}'")
        for name, (kinds, what) in _FIELD_TYPES.items():
            value = fields.get(name)
            if value is None and name not in _REQUIRED:
                continue
            if isinstance(value, bool) or not isinstance(value, kinds) or \
                    (isinstance(value, float) and not math.isfinite(value)):
                raise ValueError(f"'{name}' must be {what}, got {_json_type(value)}")
        return cls(**fields)


_REQUIRED = ("run_id", "environment", "kind", "started_at", "ended_at", "outcome", "reason",
             "identity")
# field -> (accepted types, how a message names them); None is accepted for optional fields.
_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    **{name: ((str,), "a string") for name in (*_REQUIRED, "key", "tier")},
    "generation": ((int,), "an integer"),
    **{name: ((int, float), "a finite number of seconds")
       for name in ("rto_seconds", "rpo_seconds", "deadline_seconds")},
    "details": ((dict,), "an object"),
}


def _json_type(value: Any) -> str:
    """How JSON calls the type of `value`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


class EvidenceStore(Protocol):
    """Where drill results are kept: a local directory, or an object store through an adapter."""

    def ensure_writable(self) -> None:
        """Raise EvidenceError when a record could not be written now."""

    def put(self, result: DrillResult) -> str:
        """Write one record without ever replacing another; return where it went."""

    def history(self, environment: str | None = None) -> list[DrillResult]:
        """Every record, oldest first."""


class LocalEvidenceStore:
    """Evidence as JSON files in a directory (the default `./evidence/<env>`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure_writable(self) -> None:
        """Create the directory and prove a file can be created in it."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe-", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise EvidenceError(f"cannot write evidence to {self.root}: "
                                f"{exc.strerror or exc}") from None

    def put(self, result: DrillResult) -> str:
        """Write atomically; refuse (EvidenceError) to replace an existing record."""
        self.ensure_writable()
        target = self.root / result.record_name()
        fd, tmp = tempfile.mkstemp(prefix=".record-", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(result.to_dict(), fh, indent=2, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            # link() fails when the name exists: an earlier record is never overwritten.
            os.link(tmp, target)
        except FileExistsError:
            raise EvidenceError(f"evidence record {target.name} already exists; "
                                "keyplane never overwrites evidence") from None
        except OSError as exc:
            raise EvidenceError(f"cannot write evidence to {self.root}: "
                                f"{exc.strerror or exc}") from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        return str(target)

    def history(self, environment: str | None = None) -> list[DrillResult]:
        """Every record in the directory, oldest first; unreadable files raise EvidenceError."""
        if not self.root.is_dir():
            return []
        out: list[DrillResult] = []
        for path in sorted(self.root.glob("*.json")):
            try:
                result = DrillResult.from_dict(loads(path.read_text(encoding="utf-8")))
            except DocumentError as exc:  # too deep to walk, or a number too long
                raise EvidenceError(f"unreadable evidence record {path}: {exc.where()}") from None
            except (OSError, ValueError, TypeError) as exc:
                raise EvidenceError(f"unreadable evidence record {path}: {exc}") from None
            if environment is None or result.environment == environment:
                out.append(result)
        return out


def latest_by_target(results: Iterable[DrillResult]) -> dict[tuple[str, str | None], DrillResult]:
    """The newest result per (kind, key)."""
    out: dict[tuple[str, str | None], DrillResult] = {}
    for r in sorted(results, key=lambda r: r.started_at):
        out[(r.kind, r.key)] = r
    return out
