"""Running the runbook: one lock per generation, every step journaled, one record per run.

`execute()` checks that audit events and the record can be written (fail closed), takes the
generation's single-flight lock (the drills' lock), adopts an open incident from the journal
or starts one, then takes each step not yet settled: announced in the journal, run, settled
in the journal, and emitted as an audit event. A failed step does not stop the others (the
disable failing must not keep the audit trail from being read); the run then exits 3 and the
next `--execute` resumes from the failed steps. The record lists every step, its outcome, the
callers found, the grants revoked and the certificates listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keyplane.audit.events import AuditLog
from keyplane.cloudcall import CloudCallError, Throttled
from keyplane.drills import lock as lock_mod
from keyplane.drills.journal import JournalStore
from keyplane.drills.ports import LockPort
from keyplane.errors import KeyplaneError
from keyplane.findings import SCHEMA_VERSION
from keyplane.incident.errors import JOURNAL_CONFLICT, IncidentError
from keyplane.incident.journal import IncidentJournal, journal_target
from keyplane.incident.model import (
    STEPS,
    TITLES,
    UNUSABLE_STATES,
    Outcome,
    StepId,
    TrailEvent,
    callers,
    iso,
    use_events,
)
from keyplane.incident.plan import IncidentPlan
from keyplane.incident.ports import (
    AuditTrail,
    IncidentKms,
    IncidentStore,
    InventoryPort,
)
from keyplane.incident.store import record_name

# how a step's outcome reads in the audit trail
_AUDIT_OUTCOME = {Outcome.DONE: "ok", Outcome.ALREADY_DONE: "ok", Outcome.PLANNED: "ok",
                  Outcome.NOT_APPLICABLE: "skipped", Outcome.NOT_AVAILABLE: "skipped",
                  Outcome.FAILED: "failed"}


@dataclass(kw_only=True)
class IncidentContext:
    """One run: its id, who runs it, the audit log, the clock, progress lines."""

    run_id: str
    actor: str  # the caller identity of the run's reads
    audit: AuditLog
    clock: Callable[[], float]
    progress: Callable[[str], None] = field(default=lambda _: None)

    def now(self) -> dt.datetime:
        """The run's time, UTC."""
        return dt.datetime.fromtimestamp(self.clock(), tz=dt.UTC)


@dataclass(kw_only=True)
class IncidentPorts:
    """The adapters a run acts through, built by the composition root."""

    kms: IncidentKms
    trail: AuditTrail | None
    inventory: InventoryPort
    store: IncidentStore
    journal_store: JournalStore
    lock: LockPort


@dataclass
class StepResult:
    """What one step did (or found), as the journal and the record keep it."""

    outcome: Outcome
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    follow_up: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what the journal settles)."""
        return {"outcome": self.outcome.value, "summary": self.summary,
                "details": self.details, "follow_up": self.follow_up}


@dataclass
class RunResult:
    """The record of one run, where it went, and the exit code."""

    record: dict[str, Any]
    where: str | None
    exit_code: int


def _failed(what: str, exc: CloudCallError | KeyplaneError, **details: Any) -> StepResult:
    if isinstance(exc, CloudCallError):
        again = "try again later" if isinstance(exc, Throttled) else "fix the access"
        reason = f"{what}: {exc.describe()}: {exc.message or exc.code}; {again}, then " \
                 "--execute again resumes here"
        details = {**details, "error": exc.code, "operation": exc.operation}
    else:
        reason = f"{what}: {exc.code} {exc.message}; --execute again resumes here"
        details = {**details, "error": exc.code}
    return StepResult(Outcome.FAILED, reason, details)


class _Steps:
    """The five steps over the ports; each returns a StepResult and raises nothing it can
    describe."""

    def __init__(self, ctx: IncidentContext, plan: IncidentPlan, ports: IncidentPorts) -> None:
        self.ctx = ctx
        self.plan = plan
        self.ports = ports
        self.trail_end: dt.datetime | None = None

    def run(self, step: StepId) -> StepResult:
        return {StepId.DISABLE: self.disable, StepId.REVOKE_GRANTS: self.revoke_grants,
                StepId.AUDIT_TRAIL: self.audit_trail, StepId.CERTIFICATES: self.certificates,
                StepId.ROTATE: self.rotate}[step]()

    def disable(self) -> StepResult:
        kms = self.ports.kms
        rows: list[dict[str, Any]] = []
        try:
            for k in self.plan.keys:
                before = kms.state(k)
                if before in UNUSABLE_STATES:
                    rows.append({"ref": k.ref, "region": k.region, "role": k.role,
                                 "before": before, "after": before, "disabled_now": False})
                    continue
                kms.disable(k)
                after = kms.state(k)
                rows.append({"ref": k.ref, "region": k.region, "role": k.role,
                             "before": before, "after": after, "disabled_now": True})
                if after not in UNUSABLE_STATES:
                    return StepResult(Outcome.FAILED, f"{k.ref} is still {after} after the "
                                      "disable; --execute again checks and retries",
                                      {"keys": rows})
        except (CloudCallError, KeyplaneError) as exc:
            return _failed("disable", exc, keys=rows)
        now = [r["ref"] for r in rows if r["disabled_now"]]
        if not now:
            return StepResult(Outcome.ALREADY_DONE, f"all {len(rows)} key(s) were already "
                              f"unusable ({', '.join(sorted({str(r['before']) for r in rows}))})",
                              {"keys": rows})
        return StepResult(Outcome.DONE, f"disabled {len(now)} of {len(rows)} key(s) as "
                          f"{self.plan.acting.principal}", {"keys": rows})

    def revoke_grants(self) -> StepResult:
        kms = self.ports.kms
        if not kms.grants_supported:
            return StepResult(Outcome.NOT_APPLICABLE, "Cloud KMS has no grants: use is IAM on "
                              "the crypto key, shared by its versions; the disabled version "
                              "can no longer be used", {"grants": []})
        rows: list[dict[str, Any]] = []
        try:
            grants = [g for k in self.plan.keys for g in kms.grants(k)]
            for g in grants:
                revoked = kms.revoke(g)
                rows.append({**g.to_dict(), "revoked_now": revoked})
        except (CloudCallError, KeyplaneError) as exc:
            return _failed("revoke grants", exc, grants=rows)
        if not rows:
            return StepResult(Outcome.DONE, "the keys have no grants", {"grants": []})
        return StepResult(Outcome.DONE, f"revoked {sum(r['revoked_now'] for r in rows)} "
                          f"grant(s) ({len(rows)} listed)", {"grants": rows})

    def audit_trail(self) -> StepResult:
        plan, trail = self.plan, self.ports.trail
        if trail is None:
            return StepResult(Outcome.NOT_AVAILABLE, str(plan.trail_unavailable),
                              {"window": plan.window(None), "events": [], "callers": []},
                              follow_up=[str(plan.trail_unavailable)])
        end = self.ctx.now()
        self.trail_end = end
        events: list[TrailEvent] = []
        truncated = False
        try:
            for k in plan.keys:
                left = plan.max_events - len(events)
                if left <= 0:
                    truncated = True
                    break
                got = trail.lookup(k, plan.window_start, end, max_events=left)
                events += got.events
                truncated = truncated or got.truncated
        except (CloudCallError, KeyplaneError) as exc:
            return _failed(f"{trail.name}", exc, window=plan.window(end))
        events.sort(key=lambda e: e.event_time)
        rows = callers(events)
        follow_up = []
        if plan.clamped:
            older = "the trail's log files (e.g. with Athena)" if plan.key.cloud.value == "aws" \
                else "the audit logs the project's sink routed to its bucket"
            follow_up.append(f"{trail.name} holds {plan.history_days} days: query {older} for "
                             f"{', '.join(use_events(plan.key.cloud.value))} on "
                             f"{', '.join(k.ref for k in plan.keys)} from {iso(plan.since)} to "
                             f"{iso(plan.window_start)}")
        if truncated:
            follow_up.append(f"more than {plan.max_events} events: the record lists the first "
                             f"{len(events)}; query the trail's log files for the rest")
        used = [r for r in rows if r["count"]]
        summary = (f"{sum(r['count'] for r in used)} successful call(s) by "
                   f"{len({r['principal_arn'] for r in used})} caller(s), "
                   f"{sum(r['failed'] for r in rows)} refused, {iso(plan.window_start)} to "
                   f"{iso(end)}")
        return StepResult(Outcome.DONE, summary,
                          {"window": plan.window(end), "trail": trail.name,
                           "events": [e.to_dict() for e in events], "callers": rows,
                           "truncated": truncated}, follow_up)

    def certificates(self) -> StepResult:
        """The certificates the plan read before anything was disabled (a disabled key's
        public key can no longer be read, so they are not looked up again now)."""
        plan = self.plan
        certs = plan.certificates or []
        revoke = [f"revoke {c.subject} serial {c.serial} ({c.source})" for c in certs]
        rows = {"certificates": [c.to_dict() for c in certs]}
        if plan.certificates_unavailable is not None:
            found = f"; {len(certs)} found so far" if certs else ""
            return StepResult(Outcome.NOT_AVAILABLE, f"{plan.certificates_unavailable}{found}",
                              rows if certs else {"certificates": None},
                              follow_up=[f"list the certificates bound to {plan.label} and "
                                         f"revoke them ({plan.certificates_unavailable})",
                                         *revoke])
        summary = f"{len(certs)} certificate(s) bound to {plan.label}" + \
            (": revoke them" if certs else "")
        return StepResult(Outcome.DONE, summary, rows, follow_up=revoke)

    def rotate(self) -> StepResult:
        plan = self.plan
        try:
            change = self.ports.inventory.apply(plan.key.name, plan.generation.generation,
                                                plan.today)
        except KeyplaneError as exc:
            return _failed("the inventory change", exc)
        except OSError as exc:
            return StepResult(Outcome.FAILED, f"cannot write {plan.inventory.path}: "
                              f"{exc.strerror or exc}; --execute again resumes here")
        follow_up = [f"open a pull request with {change.path} (`git diff {change.path}`); "
                     f"until it is applied, a terraform apply of the previous inventory would "
                     f"enable {plan.label} again"] if change.needed else []
        return StepResult(Outcome.DONE if change.needed else Outcome.ALREADY_DONE,
                          "; ".join(change.lines), {"inventory_change": change.to_dict()},
                          follow_up)


def record(plan: IncidentPlan, *, mode: str, ctx: IncidentContext, incident_id: str | None,
           started_at: dt.datetime, steps: list[dict[str, Any]], runs: list[str],
           end: dt.datetime | None) -> dict[str, Any]:
    """The incident record (schema `incident`): a dry run's plan or a run's outcome."""
    by_id = {s["id"]: s for s in steps}
    trail = by_id.get(StepId.AUDIT_TRAIL.value, {}).get("details", {})
    grants = by_id.get(StepId.REVOKE_GRANTS.value, {}).get("details", {}).get("grants", [])
    certs_step = by_id.get(StepId.CERTIFICATES.value, {})
    inv = by_id.get(StepId.ROTATE.value, {}).get("details", {}).get("inventory_change") or \
        plan.inventory.to_dict()
    failed = [s for s in steps if s["outcome"] == Outcome.FAILED.value]
    complete = mode == "execute" and not failed
    follow_up = [f for s in steps for f in s.get("follow_up", [])]
    return {
        "schema_version": SCHEMA_VERSION, "kind": "incident", "mode": mode,
        "incident_id": incident_id, "run_id": ctx.run_id, "runs": runs,
        "environment": plan.environment, "key": plan.key.name,
        "generation": plan.generation.generation, "label": plan.label,
        "cloud": plan.key.cloud.value, "tier": plan.key.tier.value, "current": plan.current,
        "reason": plan.reason, "actor": ctx.actor, "acting_as": plan.acting.to_dict(),
        "started_at": iso(started_at), "ended_at": iso(ctx.now()),
        "keys": [k.to_dict() for k in plan.keys], "warnings": plan.warnings,
        "notes": plan.notes, "window": trail.get("window") or plan.window(end),
        "steps": steps, "callers": trail.get("callers", []), "events": trail.get("events", []),
        "events_truncated": bool(trail.get("truncated", False)),
        "grants_revoked": [g for g in grants if g.get("revoked_now")],
        "certificates": certs_step.get("details", {}).get("certificates"),
        "inventory_change": inv, "evidence_location": plan.evidence_where,
        "follow_up": follow_up, "complete": complete,
        "exit_code": 0 if mode == "dry-run" or complete else 3,
    }


def plan_record(ctx: IncidentContext, plan: IncidentPlan) -> dict[str, Any]:
    """The plan as a record of mode `dry-run` (nothing is written)."""
    return record(plan, mode="dry-run", ctx=ctx,
                  incident_id=plan.resume.incident_id if plan.resume else None,
                  started_at=ctx.now(), steps=plan.steps(),
                  runs=plan.resume.runs if plan.resume else [], end=None)


def dry_run(ctx: IncidentContext, plan: IncidentPlan) -> dict[str, Any]:
    """The plan as a record of mode `dry-run`; nothing is written but one audit event."""
    doc = plan_record(ctx, plan)
    ctx.audit.emit(action="incident.plan", outcome="ok", environment=plan.environment,
                   resource=plan.label, reason=plan.reason,
                   details={"keys": [k.ref for k in plan.keys], "mode": "dry-run",
                            "resumes": plan.resume.incident_id if plan.resume else None})
    return doc


def execute(ctx: IncidentContext, plan: IncidentPlan, ports: IncidentPorts) -> RunResult:
    """Take every step not yet settled; write the record; say how complete it is."""
    started = ctx.now()
    ctx.audit.ensure_writable()
    try:
        ports.store.ensure_writable()
    except KeyplaneError as exc:  # the refusal itself is on record where the audit log is
        ctx.audit.emit(action="incident.refused", outcome="refused",
                       environment=plan.environment, resource=plan.label,
                       reason=f"{exc.code}: {exc.message}")
        setattr(exc, "audited", True)  # noqa: B010 - the command must not record it twice
        raise
    key, gen = plan.key.name, plan.generation.generation
    journal = IncidentJournal(ports.journal_store, key=key, generation=gen, run_id=ctx.run_id,
                              clock=ctx.clock)
    with lock_mod.held(ports.lock, env=plan.environment, target=journal_target(key, gen),
                       owner=f"{ctx.run_id} {ctx.actor}", clock=ctx.clock) as lease:
        if lease.taken_over:
            plan.notes.append(lease.taken_over)
        # read again under the lock: another run may have finished or advanced it
        opened = journal.open_incident()
        if (opened.incident_id if opened else None) != \
                (plan.resume.incident_id if plan.resume else None):
            changed = IncidentError(f"the journal of {plan.label} changed while the plan was "
                                    "made (another run started or finished an incident); run "
                                    "again", code=JOURNAL_CONFLICT)
            changed.exit_code = 3  # nothing was done: a second look will do
            raise changed
        settled = dict(opened.settled) if opened else {}
        if opened is not None:
            incident_id = opened.incident_id
            journal.resumed(incident_id)
            ctx.audit.emit(action="incident.resumed", outcome="started",
                           environment=plan.environment, resource=plan.label,
                           reason=plan.reason, details={"incident_id": incident_id,
                                                        "settled": sorted(settled)})
        else:
            incident_id = ctx.run_id
            journal.started(incident_id, key=key, generation=gen, reason=plan.reason,
                            since=iso(plan.since), today=plan.today.isoformat(),
                            current=plan.current, actor=ctx.actor,
                            keys=[k.to_dict() for k in plan.keys],
                            acting_as=plan.acting.to_dict())
            ctx.audit.emit(action="incident.started", outcome="started",
                           environment=plan.environment, resource=plan.label,
                           reason=plan.reason, details={"incident_id": incident_id,
                                                        "keys": [k.ref for k in plan.keys]})
        runner = _Steps(ctx, plan, ports)
        steps: list[dict[str, Any]] = []
        for n, step in enumerate(STEPS, 1):
            lease.beat()
            entry: dict[str, Any] = {"number": n, "id": step.value, "title": TITLES[step]}
            if step in settled:
                done = settled[step]
                steps.append({**entry, **done.result, "run_id": done.run_id, "adopted": True,
                              "started_at": None, "ended_at": None})
                ctx.progress(f"{n}. {TITLES[step]}: {done.result.get('outcome')} (run "
                             f"{done.run_id})")
                continue
            at = ctx.now()
            journal.intent(incident_id, step, **_intent(plan, step))
            result = runner.run(step)
            journal.settled(incident_id, step, result.to_dict())
            ctx.audit.emit(action=f"incident.{step.value}", outcome=_AUDIT_OUTCOME[result.outcome],
                           environment=plan.environment, resource=plan.label,
                           reason=result.summary,
                           details={"incident_id": incident_id, "outcome": result.outcome.value,
                                    **_audit_details(step, result)})
            ctx.progress(f"{n}. {TITLES[step]}: {result.outcome.value} ({result.summary})")
            steps.append({**entry, **result.to_dict(), "run_id": ctx.run_id, "adopted": False,
                          "started_at": iso(at), "ended_at": iso(ctx.now())})
        runs = [*(opened.runs if opened else []), ctx.run_id]
        doc = record(plan, mode="execute", ctx=ctx, incident_id=incident_id, started_at=started,
                     steps=steps, runs=list(dict.fromkeys(runs)), end=runner.trail_end)
        # microseconds: a resumed run can start within the second of the run it resumes, and
        # the names must still sort in the order the runs happened
        name = record_name(started.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ"),
                           incident_id, ctx.run_id, key, gen)
        where = ports.store.put(name, doc)
        if doc["complete"]:
            journal.finished(incident_id, where)
        ctx.audit.emit(action="incident.finished" if doc["complete"] else "incident.incomplete",
                       outcome="ok" if doc["complete"] else "failed",
                       environment=plan.environment, resource=plan.label,
                       reason=f"record {where}",
                       details={"incident_id": incident_id, "exit_code": doc["exit_code"],
                                "failed": [s["id"] for s in steps
                                           if s["outcome"] == Outcome.FAILED.value]})
    return RunResult(record=doc, where=where, exit_code=int(doc["exit_code"]))


def _intent(plan: IncidentPlan, step: StepId) -> dict[str, Any]:
    """What the journal announces before a step's first call (identifiers only)."""
    if step is StepId.DISABLE:
        return {"keys": [k.ref for k in plan.keys], "as": plan.acting.principal}
    if step is StepId.REVOKE_GRANTS:
        return {"grants": [g.grant_id for g in plan.grants or []]}
    if step is StepId.AUDIT_TRAIL:
        return {"start": iso(plan.window_start)}
    if step is StepId.ROTATE:
        return {"path": plan.inventory.path, "today": plan.today.isoformat()}
    return {}


def _audit_details(step: StepId, result: StepResult) -> dict[str, Any]:
    """The identifiers an audit event of a step carries (the record has the rest)."""
    d = result.details
    if step is StepId.DISABLE:
        return {"keys": [{"ref": r["ref"], "after": r["after"]} for r in d.get("keys", [])]}
    if step is StepId.REVOKE_GRANTS:
        return {"grants": [g["grant_id"] for g in d.get("grants", []) if g.get("revoked_now")]}
    if step is StepId.AUDIT_TRAIL:
        return {"callers": [{"principal_arn": c["principal_arn"], "event_name": c["event_name"],
                             "count": c["count"]} for c in d.get("callers", [])]}
    return {}
