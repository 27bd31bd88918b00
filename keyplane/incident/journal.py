"""The incident journal: each step is announced before it is taken and settled after.

Entries go to the drills' journal store (a JSON-lines file beside local evidence, or one
S3 object each under the evidence prefix, never overwritten), under the target
`incident/<key>@g<N>`. A run killed between a step's `intent` and its `done` leaves the
incident open; the next `--execute` of the same generation adopts it: the same incident
id, the same keys (the refs the `started` entry pinned, not located again from an
inventory the incident's rotate step may have changed), the same exposure window and date,
whether the generation was current, the settled steps kept as they were, the others taken
again (every step is idempotent: a disabled key stays disabled, a revoked grant is gone, a
rotation already in the inventory is not written twice). Entries hold identifiers,
outcomes and times, never key material.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keyplane.drills.journal import JournalStore
from keyplane.incident.model import SETTLED, Outcome, StepId


def journal_target(key: str, generation: int) -> str:
    """The journal (and lock) target of one generation: `incident/<key>@g<N>`."""
    return f"incident/{key}@g{generation}"


@dataclass
class SettledStep:
    """A step an earlier run of the incident settled: its result as that run wrote it."""

    step: StepId
    result: dict[str, Any]
    run_id: str


@dataclass
class OpenIncident:
    """An incident whose last run did not finish: what the next run adopts."""

    incident_id: str
    started: dict[str, Any]  # the `started` entry: refs, window, date, current, actor, reason
    settled: dict[StepId, SettledStep] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    last_at: str = ""
    interrupted: StepId | None = None  # a step announced but never settled

    @property
    def refs(self) -> list[str]:
        """The keys the incident acts on, as its first run pinned them."""
        return [str(k["ref"]) for k in self.started.get("keys", [])]


class IncidentJournal:
    """The journal of one generation's incidents, written by one run."""

    def __init__(self, store: JournalStore, *, key: str, generation: int, run_id: str,
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.target = journal_target(key, generation)
        self.run_id = run_id
        self.clock = clock

    def _write(self, incident_id: str, event: str, **extra: Any) -> None:
        at = dt.datetime.fromtimestamp(self.clock(), tz=dt.UTC).isoformat(timespec="seconds")
        self.store.append(self.target, {"incident_id": incident_id, "run_id": self.run_id,
                                        "at": at, "event": event, **extra})

    def started(self, incident_id: str, **facts: Any) -> None:
        """A new incident: the keys it acts on, the window, the date, whether the generation
        is current, who, why (what a resumed run adopts instead of reading them again)."""
        self._write(incident_id, "started", **facts)

    def resumed(self, incident_id: str) -> None:
        """This run adopts an open incident."""
        self._write(incident_id, "resumed")

    def intent(self, incident_id: str, step: StepId, **details: Any) -> None:
        """Announce a step before its first call."""
        self._write(incident_id, "intent", step=step.value, details=details)

    def settled(self, incident_id: str, step: StepId, result: dict[str, Any]) -> None:
        """A step ended (done, already done, failed...): its result as the record shows it."""
        self._write(incident_id, "settled", step=step.value, result=result)

    def finished(self, incident_id: str, record: str) -> None:
        """Every step is settled and the record is written."""
        self._write(incident_id, "finished", record=record)

    def open_incident(self) -> OpenIncident | None:
        """The latest incident of this generation that did not finish, if any."""
        entries = self.store.read(self.target)
        latest: OpenIncident | None = None
        for e in entries:
            iid = str(e.get("incident_id", ""))
            event = e.get("event")
            if event == "started":
                latest = OpenIncident(incident_id=iid, started=e)
            if latest is None or iid != latest.incident_id:
                continue
            run = str(e.get("run_id", ""))
            if run and run not in latest.runs:
                latest.runs.append(run)
            latest.last_at = str(e.get("at", latest.last_at))
            if event == "intent":
                latest.interrupted = _step(e.get("step"))
            elif event == "settled":
                step = _step(e.get("step"))
                result = e.get("result") or {}
                if step is not None and isinstance(result, dict):
                    if latest.interrupted is step:
                        latest.interrupted = None
                    if _outcome(result.get("outcome")) in SETTLED:
                        latest.settled[step] = SettledStep(step=step, result=result, run_id=run)
                    else:
                        latest.settled.pop(step, None)
            elif event == "finished":
                latest = None
        return latest


def _step(value: Any) -> StepId | None:
    try:
        return StepId(str(value))
    except ValueError:
        return None


def _outcome(value: Any) -> Outcome | None:
    try:
        return Outcome(str(value))
    except ValueError:
        return None
