"""The drill journal: written before each side effect, so the next run can clean up.

Every resource a drill creates (a restore job, a scratch table or bucket, a cluster, a
canary) is announced in the journal before the call that creates it, then marked
created, deleted, or kept for forensics. A run killed in between leaves open entries;
the next run of the same target adopts them: it finishes what can be finished and
deletes what carries the run-id tag. Entries hold identifiers, never data or material.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from keyplane.drills.errors import JOURNAL_FAILED, DrillSetupError

OPEN_EVENTS = ("intent", "created", "kept")


class JournalStore(Protocol):
    """Where journal entries go: a local file next to the evidence, or the evidence bucket."""

    def append(self, target: str, entry: dict[str, Any]) -> None:
        """Persist one entry durably before returning; raise on failure."""

    def read(self, target: str) -> list[dict[str, Any]]:
        """Every entry of the target, in the order written."""


class LocalJournalStore:
    """One JSON-lines file per target, fsynced per entry."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, target: str) -> Path:
        return self.root / (re.sub(r"[^A-Za-z0-9_.-]+", "_", target) + ".jsonl")

    def append(self, target: str, entry: dict[str, Any]) -> None:
        """Append and fsync one line."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            path = self._path(target)
            # a run killed mid-write leaves a torn last line: start on a fresh one
            torn = path.exists() and path.stat().st_size > 0 and \
                path.read_bytes()[-1:] != b"\n"
            with path.open("a", encoding="utf-8") as fh:
                fh.write(("\n" if torn else "") + json.dumps(entry, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise DrillSetupError(f"cannot write the drill journal in {self.root}: "
                                  f"{exc.strerror or exc}", code=JOURNAL_FAILED) from None

    def read(self, target: str) -> list[dict[str, Any]]:
        """Every entry; a torn last line (killed mid-write) is ignored."""
        path = self._path(target)
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


@dataclass(frozen=True, kw_only=True)
class DrillResource:
    """A resource a drill creates: kind, id (name or ARN), and where."""

    kind: str  # restore-job | backup-job | scratch | cluster | hsm | canary
    id: str
    account: str | None = None
    region: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[str, str]:
        """Identity of the resource across entries."""
        return (self.kind, self.id)


@dataclass(frozen=True, kw_only=True)
class OpenEntry:
    """A resource whose last journal entry leaves it open, with the run that made it."""

    run_id: str
    event: str
    resource: DrillResource
    at: str
    keep_until: float | None = None


class Journal:
    """The journal of one run of one target."""

    def __init__(self, store: JournalStore, *, target: str, run_id: str,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.target = target
        self.run_id = run_id
        self.clock = clock

    def _write(self, event: str, resource: DrillResource, **extra: Any) -> None:
        at = dt.datetime.fromtimestamp(self.clock(), tz=dt.UTC).isoformat(timespec="seconds")
        self.store.append(self.target, {
            "run_id": self.run_id, "at": at, "event": event, "kind": resource.kind,
            "id": resource.id, "account": resource.account, "region": resource.region,
            "details": resource.details, **extra})

    def intent(self, resource: DrillResource) -> None:
        """Announce a resource before the call that creates it."""
        self._write("intent", resource)

    def created(self, resource: DrillResource) -> None:
        """The resource exists (or the job was accepted)."""
        self._write("created", resource)

    def deleted(self, resource: DrillResource) -> None:
        """The resource was deleted by this run."""
        self._write("deleted", resource)

    def gone(self, resource: DrillResource, by_run: str | None = None) -> None:
        """The resource no longer needs cleaning (never created, finished, or removed)."""
        self._write("gone", resource, **({"for_run": by_run} if by_run else {}))

    def kept(self, resource: DrillResource, keep_until: float, reason: str) -> None:
        """The resource is kept (forensics) until `keep_until`, then removed by a later run."""
        self._write("kept", resource, keep_until=keep_until, reason=reason)

    def open_entries(self, *, include_own: bool = False) -> list[OpenEntry]:
        """Resources whose latest entry is open (intent, created, kept), oldest first."""
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for e in self.store.read(self.target):
            latest[(e.get("kind", ""), e.get("id", ""))] = e
        out = []
        for e in latest.values():
            if e.get("event") not in OPEN_EVENTS:
                continue
            if not include_own and e.get("run_id") == self.run_id:
                continue
            out.append(OpenEntry(
                run_id=str(e.get("run_id")), event=str(e["event"]), at=str(e.get("at", "")),
                keep_until=e.get("keep_until"),
                resource=DrillResource(kind=e["kind"], id=e["id"], account=e.get("account"),
                                  region=e.get("region"), details=e.get("details") or {})))
        return sorted(out, key=lambda o: o.at)
