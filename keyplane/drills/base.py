"""What every drill shares: the run's context, the verdict record, error classification."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keyplane.audit.events import AuditLog
from keyplane.audit.evidence import DrillResult
from keyplane.cloudcall import (
    AccessDenied,
    CloudCallError,
    KeyMissingError,
    KeyStateError,
    Throttled,
)
from keyplane.drills.journal import Journal, JournalStore
from keyplane.drills.waiter import Timing
from keyplane.model.environment import Environment

# Tag every drill-created resource carries; cleanup deletes nothing without it.
TAG_DRILL_RUN = "keyplane:drill-run"
TAG_DRILL_KIND = "keyplane:drill-kind"


@dataclass(kw_only=True)
class DrillContext:
    """One run: environment, run id, who runs it, audit log, clock, journal, scale."""

    env: Environment
    run_id: str
    identity: str
    audit: AuditLog
    journal_store: JournalStore
    timing: Timing = field(default_factory=Timing)
    deadline_scale: float = 1.0
    history: Callable[[], list[DrillResult]] = list
    drill_subnets: tuple[str, ...] = ()
    # renews the lock of the drill in progress (set by the runner); every step beats
    heartbeat: Callable[[], None] = field(default=lambda: None)
    # one line per step for whoever watches the run (the CLI's progress on stderr)
    progress: Callable[[str], None] = field(default=lambda _: None)

    def now(self) -> float:
        """Seconds since the epoch, by the run's clock."""
        return self.timing.clock()

    def journal(self, target: str) -> Journal:
        """The journal of `target` for this run."""
        return Journal(self.journal_store, target=target, run_id=self.run_id,
                       clock=self.timing.clock)

    def step(self, action: str, resource: str | None, outcome: str = "ok", reason: str = "",
             **details: Any) -> None:
        """Emit one audit event for a drill step (identifiers only, never material); a step is
        also a heartbeat of the run's lock."""
        self.heartbeat()
        shown = f"{action} {resource}" if resource else action
        self.progress(f"{shown}: {outcome}" + (f" ({reason})" if reason and len(reason) < 120
                                                else ""))
        self.audit.emit(action=f"drill.{action}", outcome=outcome, environment=self.env.name,
                        resource=resource, reason=reason, details=details)


@dataclass(kw_only=True)
class DrillVerdict:
    """What one drill found, before it becomes an evidence record (`DrillResult`, a finding).

    `outcome` is one of `keyplane.audit.evidence.DRILL_OUTCOMES`.
    """

    outcome: str
    reason: str
    generation: int | None = None
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    deadline_seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    target: str | None = None  # evidence key when one drill proves several things (key@region)


def classify(exc: CloudCallError, what: str) -> DrillVerdict:
    """The verdict for a failed cloud call: key state, transient, denied, or failed."""
    if isinstance(exc, KeyMissingError):
        return DrillVerdict(outcome="KEY_STATE", reason=f"{what}: key missing ({exc.code})",
                            details={"error": exc.code, "operation": exc.operation})
    if isinstance(exc, KeyStateError):
        return DrillVerdict(outcome="KEY_STATE", reason=f"{what}: {exc.message or exc.code}",
                            details={"error": exc.code, "operation": exc.operation})
    if isinstance(exc, Throttled):
        return DrillVerdict(outcome="ERROR", reason=f"{what}: transient, retry later "
                                                    f"({exc.operation} {exc.code})",
                            details={"error": exc.code, "operation": exc.operation,
                                     "transient": True})
    if isinstance(exc, AccessDenied):
        return DrillVerdict(outcome="ERROR", reason=f"{what}: access denied ({exc.operation})",
                            details={"error": exc.code, "operation": exc.operation})
    return DrillVerdict(outcome="FAILED", reason=f"{what}: {exc.operation} failed ({exc.code})",
                        details={"error": exc.code, "operation": exc.operation})


def iso(epoch: float) -> str:
    """RFC 3339 UTC with milliseconds."""
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
