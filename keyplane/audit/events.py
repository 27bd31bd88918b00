"""Structured audit events: one JSON object per line, one run id per keyplane invocation.

Every command that reads or touches a cloud, and every drill step, emits events
through an `AuditLog`. Events hold identifiers and outcomes only, never key
material or sensitive plan values: free-text fields pass through `scrub()`.
A drill checks `AuditLog.ensure_writable()` before it starts and does not run
when the sink cannot be written (fail closed).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from keyplane.errors import KeyplaneError

OUTCOMES = ("started", "ok", "finding", "failed", "unknown", "skipped", "error", "refused")

# Patterns of material that must never reach an audit trail, whatever field it is in.
_SECRET_PATTERNS = (
    re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
               re.S),
    re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    re.compile(r'"private_key"\s*:\s*"[^"]*"'),
)


class AuditSinkError(KeyplaneError):
    """The audit sink cannot be written; drills refuse to start (fail closed)."""

    code = "KP801"


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: UTC timestamp plus 48 random bits."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}"


def scrub(text: str) -> str:
    """`text` with anything shaped like secret material replaced by `[redacted]`."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


@dataclass(frozen=True)
class AuditEvent:
    """One thing keyplane did or observed, attributable to a run and an actor."""

    run_id: str
    timestamp: str  # RFC 3339, UTC
    actor: str  # caller identity ARN / GCP principal / CI job
    command: str
    environment: str | None
    resource: str | None
    action: str
    outcome: str
    reason: str = ""
    duration_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The event as one line of JSON."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), default=str)


class AuditSink(Protocol):
    """Where events go: a local file, and when configured a cloud log (through an adapter)."""

    def write(self, event: AuditEvent) -> None:
        """Persist one event; raise AuditSinkError when it cannot."""

    def ensure_writable(self) -> None:
        """Raise AuditSinkError when an event could not be written now."""


class JsonLinesSink:
    """Appends events to a local JSON-lines file, fsynced so a killed run keeps its trail."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ensure_writable(self) -> None:
        """Create the file's directory and open it for append, or raise AuditSinkError."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise AuditSinkError(f"cannot write audit events to {self.path}: "
                                 f"{exc.strerror or exc}") from None

    def write(self, event: AuditEvent) -> None:
        """Append one line and flush it to disk."""
        try:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(event.to_json() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise AuditSinkError(f"cannot write audit events to {self.path}: "
                                 f"{exc.strerror or exc}") from None

    def read(self) -> list[dict[str, Any]]:
        """Every event in the file (for the report and tests)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


class MemorySink:
    """Keeps events in memory; for tests and dry runs."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def ensure_writable(self) -> None:
        """Always writable."""

    def write(self, event: AuditEvent) -> None:
        """Keep the event."""
        self.events.append(event)


class AuditLog:
    """Emits the events of one run to every sink; a failing sink fails the emit."""

    def __init__(self, *, sinks: list[AuditSink], command: str, actor: str,
                 run_id: str | None = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.sinks = sinks
        self.command = command
        self.actor = actor
        self.run_id = run_id or new_run_id(clock())
        self._clock = clock
        self._monotonic = monotonic

    def ensure_writable(self) -> None:
        """Raise AuditSinkError unless every sink can be written now."""
        for sink in self.sinks:
            sink.ensure_writable()

    def emit(self, *, action: str, outcome: str, environment: str | None = None,
             resource: str | None = None, reason: str = "", duration_ms: int | None = None,
             details: dict[str, Any] | None = None) -> AuditEvent:
        """Write one event to every sink and return it."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        event = AuditEvent(
            run_id=self.run_id,
            timestamp=self._clock().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            actor=self.actor, command=self.command, environment=environment,
            resource=resource, action=action, outcome=outcome, reason=scrub(reason),
            duration_ms=duration_ms,
            details=json.loads(scrub(json.dumps(details or {}, default=str))))
        for sink in self.sinks:
            sink.write(event)
        return event

    @contextmanager
    def step(self, *, action: str, environment: str | None = None,
             resource: str | None = None) -> Iterator[dict[str, Any]]:
        """Time one step: emits `ok` (or what the body sets in the yielded dict) or `error`."""
        start = self._monotonic()
        result: dict[str, Any] = {"outcome": "ok", "reason": "", "details": {}}
        try:
            yield result
        except BaseException as exc:
            self.emit(action=action, outcome="error", environment=environment, resource=resource,
                      reason=f"{type(exc).__name__}: {exc}",
                      duration_ms=int((self._monotonic() - start) * 1000))
            raise
        self.emit(action=action, outcome=result["outcome"], environment=environment,
                  resource=resource, reason=result["reason"], details=result["details"],
                  duration_ms=int((self._monotonic() - start) * 1000))


def default_actor() -> str:
    """Who is running keyplane, as far as the process knows before any cloud call."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        repo = os.environ.get("GITHUB_REPOSITORY", "?")
        return f"github-actions:{repo}:{os.environ.get('GITHUB_WORKFLOW', '?')}:" \
               f"{os.environ.get('GITHUB_RUN_ID', '?')}"
    return f"local:{os.environ.get('USER') or os.environ.get('USERNAME') or 'unknown'}"
