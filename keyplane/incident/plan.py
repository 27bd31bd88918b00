"""The plan of an incident response: what would be disabled, revoked, queried and written.

Built from reads only (the deployed keys, their replicas and grants, the journal, the
inventory file), so a dry run shows every step with its real targets and changes nothing.
An open incident in the journal is adopted: its keys, exposure window, date and whether the
generation was current win over this run's, and the steps it settled are shown as such.
Its keys are the journaled ones, checked against the cloud, never located again from the
inventory: the incident's own rotate step may have changed it (g<N+1> declared, g<N>
disabled), and on Cloud KMS the version order mapped onto that inventory no longer names
g<N>.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from keyplane.audit.events import scrub
from keyplane.certs.identity import label
from keyplane.incident.errors import IncidentInputError, JournalConflictError
from keyplane.incident.identity import aliases_to_check, locate, locate_journaled
from keyplane.incident.journal import OpenIncident
from keyplane.incident.model import (
    STEPS,
    TITLES,
    UNUSABLE_STATES,
    CertRef,
    DeployedKey,
    Grant,
    InventoryChange,
    Outcome,
    StepId,
    iso,
    parse_iso,
    use_events,
)
from keyplane.incident.ports import (
    AuditTrail,
    BoundCertificates,
    CertificatesUnavailable,
    IncidentKms,
    InventoryPort,
)
from keyplane.model.environment import Environment, Generation, KeyDecl
from keyplane.model.specs import Cloud

REASON_MAX = 500  # characters of --reason kept in the journal, the record and audit events


@dataclass(frozen=True, kw_only=True)
class Acting:
    """Who the disable and revoke steps act as, and how that identity was obtained."""

    principal: str  # the break-glass role ARN, or the run's own identity
    assumed: bool
    how: str  # one line for the plan and the record
    mfa_serial: str | None = None
    session_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (never the MFA code)."""
        return {"principal": self.principal, "assumed": self.assumed, "how": self.how,
                "mfa_serial": self.mfa_serial, "session_name": self.session_name}


@dataclass(kw_only=True)
class IncidentPlan:
    """Everything a run will do, with the targets the cloud reported."""

    environment: str
    key: KeyDecl
    generation: Generation
    reason: str
    keys: list[DeployedKey]
    warnings: list[str]
    grants: list[Grant] | None  # None: the cloud has no grants
    since: dt.datetime
    window_start: dt.datetime  # `since`, or the oldest time the audit trail still holds
    trail: str | None  # the audit trail's name; None when keyplane cannot query it here
    trail_unavailable: str | None
    history_days: int | None
    certificates: list[CertRef] | None  # read when the plan is made, before any change
    certificates_unavailable: str | None  # why the list is missing or incomplete
    inventory: InventoryChange
    today: dt.date
    acting: Acting
    evidence_where: str
    max_events: int
    resume: OpenIncident | None = None
    notes: list[str] = field(default_factory=list)
    # whether the generation was current when the incident started (an adopted incident's
    # rotate step may since have declared the next one); None: as the inventory says now
    was_current: bool | None = None

    @property
    def label(self) -> str:
        """`code-signing@g4`."""
        return label(self.key, self.generation.generation)

    @property
    def current(self) -> bool:
        """Whether the compromised generation was the one in use when the incident started."""
        if self.was_current is not None:
            return self.was_current
        return self.generation.generation == self.key.generation

    @property
    def clamped(self) -> bool:
        """Whether the audit trail no longer holds the start of the exposure window."""
        return self.window_start > self.since

    def window(self, end: dt.datetime | None) -> dict[str, Any]:
        """The exposure window as the record shows it."""
        return {"since": iso(self.since), "start": iso(self.window_start),
                "end": iso(end) if end else None, "history_days": self.history_days,
                "clamped": self.clamped}

    def step_lines(self) -> dict[StepId, list[str]]:
        """What each step will do, as lines of the numbered plan."""
        out: dict[StepId, list[str]] = {}
        usable = [k for k in self.keys if k.state not in UNUSABLE_STATES]
        verb = "DisableKey" if self.key.cloud is Cloud.AWS else \
            "UpdateCryptoKeyVersion state=DISABLED"
        lines = [f"{verb} as {self.acting.principal} ({self.acting.how}):"]
        lines += [f"{k.ref} ({k.role}{', ' + k.region if k.region else ''}, now {k.state})"
                  + ("" if k in usable else ": already unusable, left as is")
                  for k in self.keys]
        if self.current:
            where = self.key.alias or "the crypto key's primary version"
            lines.append(f"impact: g{self.generation.generation} is the current generation: "
                         f"every use through {where} fails until the rotation is applied")
        out[StepId.DISABLE] = lines
        if self.grants is None:
            out[StepId.REVOKE_GRANTS] = ["not applicable: Cloud KMS has no grants (use is IAM on "
                                         "the crypto key, shared by its versions; the disabled "
                                         "version can no longer be used)"]
        elif not self.grants:
            out[StepId.REVOKE_GRANTS] = ["RevokeGrant: the keys have no grants now (listed again "
                                         "when the step runs)"]
        else:
            out[StepId.REVOKE_GRANTS] = [f"RevokeGrant of {len(self.grants)} grant(s) (listed "
                                         "again when the step runs):"] + [
                f"{g.grant_id} to {g.grantee} ({', '.join(g.operations)}) on {g.key_ref}"
                for g in self.grants]
        if self.trail is None:
            out[StepId.AUDIT_TRAIL] = [f"not available: {self.trail_unavailable}"]
        else:
            regions = sorted({k.region for k in self.keys if k.region})
            lines = [f"{self.trail} in {', '.join(regions) or 'the key Region'} on "
                     f"{len(self.keys)} key(s), for "
                     f"{', '.join(use_events(self.key.cloud.value))}",
                     f"window: {iso(self.window_start)} to the time of the query (after the "
                     f"disable), at most {self.max_events} events"]
            if self.clamped:
                lines.append(f"the exposure window starts {iso(self.since)}; the trail holds "
                             f"{self.history_days} days: older calls are in the trail's log "
                             "files (a follow-up)")
            out[StepId.AUDIT_TRAIL] = lines
        certs = [f"{c.subject} serial {c.serial} ({c.source})" for c in self.certificates or []]
        if self.certificates_unavailable is not None:
            out[StepId.CERTIFICATES] = [f"not available: {self.certificates_unavailable}"] + (
                [f"found so far, {len(certs)} certificate(s) to revoke:", *certs] if certs
                else [])
        else:
            out[StepId.CERTIFICATES] = [f"{len(certs)} certificate(s) bound to {self.label} "
                                        "(read now, before anything is disabled)", *certs]
        inv = self.inventory
        out[StepId.ROTATE] = ([f"{inv.path}:"] + [f"  {line}" for line in inv.lines]) \
            if inv.needed else [f"{inv.path}: {line}" for line in inv.lines]
        return out

    def steps(self) -> list[dict[str, Any]]:
        """The numbered steps of a dry run (outcome `planned`, or as the journal settled)."""
        lines = self.step_lines()
        out: list[dict[str, Any]] = []
        for n, step in enumerate(STEPS, 1):
            settled = self.resume.settled.get(step) if self.resume else None
            out.append({"number": n, "id": step.value, "title": TITLES[step],
                        "outcome": settled.result.get("outcome", "done") if settled
                        else "planned",
                        "summary": settled.result.get("summary", "") if settled else "",
                        "run_id": settled.run_id if settled else None,
                        "adopted": settled is not None, "plan": lines[step],
                        "details": {}})
        return out


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """`--since`: a date (midnight UTC) or an RFC 3339 time with a zone, not in the future."""
    try:
        if len(text) == 10:
            when = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
        else:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if when.tzinfo is None:
                raise ValueError("no time zone")
    except ValueError:
        raise IncidentInputError(f"--since must be a date (yyyy-mm-dd) or an RFC 3339 time "
                                 f"with a zone (2026-11-20T08:00:00Z), got {text!r}") from None
    if when > now:
        raise IncidentInputError(f"--since {text} is in the future (now {iso(now)}); the "
                                 "exposure window ends now")
    return when.astimezone(dt.UTC)


def check_reason(reason: str) -> str:
    """`--reason`, on one line and with anything shaped like secret material redacted (it is
    kept in the journal, the record and audit events); refused when empty or longer than
    REASON_MAX characters."""
    text = scrub(" ".join(reason.split()))
    if not text:
        raise IncidentInputError("--reason must say why the generation is compromised, got "
                                 "an empty reason")
    if len(text) > REASON_MAX:
        raise IncidentInputError(f"--reason must be at most {REASON_MAX} characters (it is "
                                 f"kept in the journal, the record and audit events), got "
                                 f"{len(text)}")
    return text


def make_plan(env: Environment, key: KeyDecl, gen: Generation, *, reason: str,
              since: dt.datetime | None, now: Callable[[], float], kms: IncidentKms,
              trail: AuditTrail | None,
              trail_unavailable: Callable[[list[DeployedKey], dt.datetime], str] | None,
              certificates: BoundCertificates, inventory: InventoryPort, acting: Acting,
              evidence_where: str, max_events: int, resume: OpenIncident | None,
              account_id: str | None) -> IncidentPlan:
    """Read what the runbook acts on and build the plan (no write of any kind).

    `since` (default: the generation's `created_on`, midnight UTC) starts the exposure window.
    `trail_unavailable` says, for the keys found and the window's start, why keyplane cannot
    query the audit trail here and how to query it instead (used when `trail` is None).
    """
    at = dt.datetime.fromtimestamp(now(), tz=dt.UTC)
    notes: list[str] = []
    if resume is not None:
        window_since = parse_iso(str(resume.started["since"]))
        today = dt.date.fromisoformat(str(resume.started["today"]))
        if since is not None and since != window_since:
            notes.append(f"--since {iso(since)} is ignored: the open incident "
                         f"{resume.incident_id} keeps its window from {iso(window_since)}")
        if reason != resume.started.get("reason"):
            notes.append(f"the open incident's reason is kept: {resume.started.get('reason')}")
            reason = str(resume.started.get("reason") or reason)
    else:
        window_since = since if since is not None else \
            dt.datetime.combine(gen.created_on, dt.time(), tzinfo=dt.UTC)
        today = at.date()
    targets = kms.targets(key)
    aliases = {a: kms.alias_target(a) for a in aliases_to_check(key, gen.generation)} \
        if kms.cloud == "aws" else {}
    if resume is not None and kms.cloud != "aws":
        # the version the first run pinned; the inventory may be the incident's own change
        located = locate_journaled(key, gen.generation, targets, journaled=resume.refs,
                                   incident_id=resume.incident_id)
    else:
        # AWS: the keys' own tags (cloud facts the incident never changes) name the
        # generation; a resumed incident must find the keys it journaled
        located = locate(key, gen.generation, targets, aliases=aliases, account_id=account_id)
    keys = kms.related(located.target)
    if resume is not None and sorted(resume.refs) != sorted(k.ref for k in keys):
        raise JournalConflictError(
            f"the open incident {resume.incident_id} on {label(key, gen.generation)} acted on "
            f"{', '.join(sorted(resume.refs)) or 'no key'}, the cloud now names "
            f"{', '.join(sorted(k.ref for k in keys))}: resuming could act on the wrong key; "
            "check the keys, then move the incident's journal aside to start a new one")
    grants = [g for k in keys for g in kms.grants(k)] if kms.grants_supported else None
    history = trail.history_days if trail is not None else None
    start = window_since
    if history is not None:
        start = max(window_since, at - dt.timedelta(days=history))
    adopted_certs = resume.settled.get(StepId.CERTIFICATES) if resume is not None else None
    certs: list[CertRef] | None
    if adopted_certs is not None:
        # settled by an earlier run: not read again (a disabled key's public key cannot be)
        certs, certs_unavailable = _adopted_certificates(adopted_certs.result)
    else:
        try:
            certs = certificates.for_generation(env.name, key.name, gen.generation)
            certs_unavailable = None
        except CertificatesUnavailable as exc:
            certs, certs_unavailable = (exc.found or None), exc.reason
    return IncidentPlan(
        environment=env.name, key=key, generation=gen, reason=reason, keys=keys,
        warnings=list(located.warnings), grants=grants, since=window_since,
        window_start=start, trail=trail.name if trail is not None else None,
        trail_unavailable=trail_unavailable(keys, window_since)
        if trail is None and trail_unavailable is not None else None,
        history_days=history, certificates=certs,
        certificates_unavailable=certs_unavailable,
        inventory=inventory.change(key.name, gen.generation, today), today=today,
        acting=acting, evidence_where=evidence_where, max_events=max_events, resume=resume,
        notes=notes, was_current=_was_current(resume) if resume is not None else
        gen.generation == key.generation)


def _was_current(resume: OpenIncident) -> bool | None:
    """Whether an open incident's generation was current when it started: as its `started`
    entry says, else as its settled rotate step shows (a rotation, not the end of a
    verify-only generation's overlap), else unknown (None: the inventory decides)."""
    said = resume.started.get("current")
    if isinstance(said, bool):
        return said
    rotate = resume.settled.get(StepId.ROTATE)
    if rotate is not None:
        change = (rotate.result.get("details") or {}).get("inventory_change") or {}
        if change.get("kind") in ("rotate", "retire"):
            return bool(change["kind"] == "rotate")
    return None


def _adopted_certificates(result: dict[str, Any]) -> tuple[list[CertRef] | None, str | None]:
    """(certificates, why the list is missing or incomplete) as a settled certificates step
    of an adopted incident recorded them."""
    rows = (result.get("details") or {}).get("certificates")
    known = {f.name for f in fields(CertRef)}
    certs = [CertRef(**{k: v for k, v in row.items() if k in known}) for row in rows
             if isinstance(row, dict)] if isinstance(rows, list) else None
    if result.get("outcome") == Outcome.NOT_AVAILABLE.value:
        return certs, str(result.get("summary") or "not available")
    return certs or [], None
