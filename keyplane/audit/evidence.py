"""Drill evidence: one immutable JSON record per drill result, never overwritten.

A record is written atomically (temporary file + rename) under a name that is
unique per run, kind, key and generation, and an existing name is never replaced:
evidence of an earlier run cannot be lost to a later one. `keyplane drill --history`
and `keyplane report` read the records back; neither needs cloud access.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
    def from_dict(cls, data: dict[str, Any]) -> DrillResult:
        """A record read back; unknown fields (from newer keyplane versions) are ignored."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


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
                result = DrillResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
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
