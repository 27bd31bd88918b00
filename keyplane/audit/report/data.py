"""Gathering the report: the inventory plus the latest evidence, folded per environment and key.

Pure apart from reading files: no cloud, no CDK library. The renderers (HTML and
Markdown) read only the records built here, so both show the same content.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from keyplane.audit.evidence import DrillResult
from keyplane.audit.report.certs import KeyCertsView, key_views
from keyplane.audit.report.controls import (
    COLUMNS,
    Control,
    ControlResult,
    Evidence,
    Mark,
    Place,
    backup_applicable,
    backup_summary,
    base_key,
    combine,
    drill_control,
    drill_covers,
    env_of_source,
    place_of_address,
    place_of_path,
    shared_applies,
    verdict,
)
from keyplane.audit.report.inputs import (
    CheckRun,
    InputFile,
    PostApplyRun,
    describe,
    is_remote,
    read_check,
    read_drills,
    read_post_apply,
    require_evidence_dirs,
    section_of,
    unique_inputs,
)
from keyplane.findings import Finding, Severity, Status
from keyplane.model.environment import Environment, KeyDecl
from keyplane.model.specs import Cloud
from keyplane.model.summary import key_row, next_due, protection, rotation
from keyplane.model.tiers import TIERS, RotationMode, Tier

STATUS_RANK = {Status.ERROR: 4, Status.FAIL: 3, Status.UNKNOWN: 2, Status.PASS: 1,
               Status.NOT_APPLICABLE: 0}
DUE_SOON_DAYS = 30  # a rotation due within a month is flagged, so the PR can be planned
WAIVER_SOON_DAYS = 14
# What a section proves of a key whose deployed resources it read without a failure.
SECTION_CONTROL = {"rotation": Control.ROTATION, "drift": Control.PROTECTION,
                   "access-review": Control.ACCESS}
# The certs section proves no control by itself: its findings name theirs (protection: the
# key is in the inventory, and in an HSM for a ca; rotation: no certificate on a retired or
# outlived generation), and a source or public key it could not read leaves both unknown.
UNREAD_CONTROLS: dict[str, tuple[Control, ...]] = {
    "certs": (Control.PROTECTION, Control.ROTATION)}


@dataclass(frozen=True)
class ReportOptions:
    """What the report reads besides the inventory, and the day it is judged on."""

    as_of: dt.date
    check_files: Sequence[Path] = ()
    post_apply_files: Sequence[Path] = ()
    # Runs read and merged by the caller (`keyplane report --post-apply-dir`: the unit reports
    # of `post-apply --all`, one run per environment), and the files they were read from.
    post_apply_runs: Sequence[PostApplyRun] = ()
    post_apply_inputs: Sequence[InputFile] = ()
    evidence_dirs: Sequence[Path] = ()  # default: each environment's local evidence_location
    waivers_file: Path | None = None
    base_dir: Path = Path(".")  # relative evidence locations are read from here
    generated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Column:
    """One cell of the control matrix."""

    name: str
    mark: Mark
    results: tuple[ControlResult, ...]


@dataclass(frozen=True)
class KeyView:
    """One key as the report shows it."""

    key: KeyDecl
    row: Mapping[str, Any]  # keyplane.model.summary.key_row
    where: str
    protection: str
    rotation: str
    next_due: str
    rotation_state: str  # ok | due soon | overdue | cloud-managed
    days_to_due: int | None
    backup: str
    users: tuple[tuple[str, str], ...]  # (workload, identity)
    observed_use: tuple[str, ...]
    observed_admin: tuple[str, ...]
    controls: Mapping[Control, ControlResult]
    columns: tuple[Column, ...]
    last_drill: DrillResult | None
    proven: tuple[tuple[str, str], ...]  # (source, newest date of passing evidence), newest first

    @property
    def last_proven(self) -> str | None:
        """The newest date any evidence showed a control of this key met."""
        return self.proven[0][1] if self.proven else None

    @property
    def name(self) -> str:
        """The key's name."""
        return self.key.name


@dataclass(frozen=True)
class WaiverView:
    """A waiver with its expiry judged on the report's day."""

    rule: str
    resource: str
    owner: str
    reason: str
    expires: dt.date | None
    days_left: int | None
    status: str  # active | expiring | expired | unknown
    environments: tuple[str, ...]
    covers: int  # failing or unknown check results it covers, in every environment
    where: str | None  # file:line
    covers_by_env: Mapping[str, int] = field(default_factory=dict)


@dataclass
class EnvView:
    """One environment's section of the report."""

    env: Environment
    keys: list[KeyView] = field(default_factory=list)
    check: CheckRun | None = None
    check_counts: Counter[str] = field(default_factory=Counter)
    check_findings: list[Finding] = field(default_factory=list)  # not PASS / N/A
    runs: dict[str, PostApplyRun] = field(default_factory=dict)  # section -> latest run
    findings: list[Finding] = field(default_factory=list)  # FAIL, of the latest runs
    unknowns: list[Finding] = field(default_factory=list)  # not judged, of the latest runs
    access: list[Mapping[str, Any]] = field(default_factory=list)
    drills: list[DrillResult] = field(default_factory=list)
    drill_sources: list[str] = field(default_factory=list)
    drill_note: str | None = None
    waivers: list[WaiverView] = field(default_factory=list)
    certs_run: PostApplyRun | None = None  # the latest run with the certs section
    certs: list[KeyCertsView] = field(default_factory=list)  # its timeline, per key

    @property
    def name(self) -> str:
        """The environment's name."""
        return self.env.name

    def totals(self) -> Counter[Mark]:
        """How many matrix cells carry each mark."""
        return Counter(c.mark for k in self.keys for c in k.columns)

    def by_tier(self) -> list[tuple[Tier, list[KeyView]]]:
        """The keys grouped by tier, most sensitive first."""
        tiers = sorted({k.key.tier for k in self.keys}, key=lambda t: -t.rank)
        return [(t, [k for k in self.keys if k.key.tier is t]) for t in tiers]


@dataclass
class ReportData:
    """Everything the report shows."""

    as_of: dt.date
    generated_at: dt.datetime
    environments: list[EnvView]
    inputs: list[InputFile]
    waivers: list[WaiverView]
    notes: list[str]


# ---- small helpers --------------------------------------------------------------------------

def _identity(env: Environment, name: str) -> str:
    try:
        w = env.workload(name)
    except KeyError:
        return "not declared"
    parts = []
    if w.aws and w.aws.oidc:
        parts.append(f"oidc {w.aws.oidc.subject}")
    if w.aws and w.aws.role_arn:
        parts.append(w.aws.role_arn)
    if w.gcp:
        parts.append(w.gcp.member)
    if w.human:
        parts.append("human, mfa")
    return "; ".join(parts) or "no identity"


def _where(env: Environment, key: KeyDecl) -> str:
    if key.cloud is Cloud.GCP:
        project = env.gcp.project_id if env.gcp else "?"
        return f"gcp {project} / {key.location} / {key.key_ring}"
    acct = f"aws {env.aws.account_id} / {env.aws.region}" if env.aws else "aws"
    return f"{acct} / {key.alias}" if key.alias else acct


def _date(ts: str | None) -> str | None:
    return ts[:10] if ts else None


def _age_days(ts: str, as_of: dt.date) -> int | None:
    try:
        return (as_of - dt.date.fromisoformat(ts[:10])).days
    except ValueError:
        return None


def _latest_check(runs: Sequence[CheckRun], env: str,
                  placed: Mapping[int, list[tuple[Finding, Place]]]) -> int | None:
    """The index of the newest check run that has findings of `env` (mtime, then order)."""
    best: int | None = None
    for i, run in enumerate(runs):
        if not any(p.env == env for _, p in placed[i]):
            continue
        if best is None or (run.file.modified or dt.date.min) >= \
                (runs[best].file.modified or dt.date.min):
            best = i
    return best


def _address(f: Finding) -> str | None:
    """The Terraform address of a gate finding (its resource, for schema 1)."""
    return f.address or f.resource or None


def _place_check(f: Finding, envs: dict[str, Environment]) -> Place | None:
    if f.construct_path:
        # A construct path starts with its stack's (environment's) name: a path of another
        # environment is not this report's, whatever else the finding says.
        return place_of_path(f.construct_path, envs)
    if f.environment is not None:
        env: str | None = f.environment if f.environment in envs else None
        if env is None:
            return None  # a finding of an environment outside this report
    else:
        env = env_of_source(f.source, envs)
        if env is None and f.source and "stacks/" in f.source:
            return None  # a synth file of an environment outside this report
    if env is None and len(envs) == 1:
        env = next(iter(envs))
    address = _address(f)
    if env is None or not address:
        return None
    return place_of_address(address, envs[env])


def _check_mark(status: Status) -> Mark | None:
    return {Status.PASS: Mark.MET, Status.FAIL: Mark.NOT_MET, Status.UNKNOWN: Mark.UNKNOWN,
            Status.ERROR: Mark.UNKNOWN}.get(status)


def _cloud(f: Finding) -> Cloud | None:
    """The finding's cloud, as the inventory names clouds."""
    return Cloud(f.cloud.value) if f.cloud is not None else None


def _component(f: Finding, env: Environment) -> str:
    """The construct a finding on a shared resource is about (`audit`, `backup`, `cloudhsm`),
    from where the synthesized stack put it; empty when the finding names no address."""
    envs = {env.name: env}
    place = None
    if f.construct_path:
        place = place_of_path(f.construct_path, envs)
    elif f.address:
        place = place_of_address(f.address, env)
    return place.component if place is not None else ""


def _sections(f: Finding, run: PostApplyRun, newest: Sequence[str]) -> list[str]:
    """The sections of `newest` (those `run` is the latest run of) that `f` belongs to: its
    area's; without an area, the run's section of its control; else the whole run's."""
    if f.area:
        return [s for s in newest if s == section_of(f)]
    own = [s for s in run.sections if f.control is not None and SECTION_CONTROL.get(s) is f.control]
    if own:
        return [own[0]] if own[0] in newest else []
    return list(newest)


# ---- the evidence per key -------------------------------------------------------------------

class _Ledger:
    """Evidence collected per (key, control) for one environment."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.items: dict[tuple[str, Control], list[Evidence]] = {}

    def add(self, key: str, ev: Evidence) -> None:
        self.items.setdefault((key, ev.control), []).append(ev)

    def shared(self, ev: Evidence, cloud: Cloud | None, component: str = "") -> None:
        for k in self.env.keys:
            if shared_applies(ev.control, k, cloud, component):
                self.add(k.name, ev)

    def of(self, key: str, control: Control) -> list[Evidence]:
        return self.items.get((key, control), [])


def _check_evidence(ledger: _Ledger, run: CheckRun, placed: list[tuple[Finding, Place]]
                    ) -> None:
    env = ledger.env
    when = run.file.modified.isoformat() if run.file.modified else None
    for f, place in placed:
        if place.env != env.name:
            continue
        mark = _check_mark(f.status)
        control = f.control
        if mark is None or control is None:  # a rule about the gate itself proves no control
            continue
        note = f"waived by {f.waived_by}" if f.waived_by else None
        cloud = _cloud(f) or place.cloud
        if place.key is not None:
            ledger.add(place.key, Evidence(control, mark, "check", f.rule_id, f.reason, when,
                                           note))
        elif place.workload is not None:
            ev = Evidence(control, mark, "check", f.rule_id,
                          f"{f.reason} (role of workload {place.workload})", when, note)
            for k in env.keys:
                if place.workload in k.users and (cloud is None or k.cloud is cloud):
                    ledger.add(k.name, ev)
        else:
            where = f.construct_path or _address(f) or place.component
            ledger.shared(Evidence(control, mark, "check", f.rule_id, f"{where}: {f.reason}",
                                   when, note, scope="environment"),
                          cloud, place.component)


def _newest_runs(view: EnvView) -> list[tuple[PostApplyRun, list[str]]]:
    """Each run that is the latest of at least one section, with those sections."""
    out: dict[int, tuple[PostApplyRun, list[str]]] = {}
    for section, run in view.runs.items():
        out.setdefault(id(run), (run, []))[1].append(section)
    return list(out.values())


def _post_apply_evidence(ledger: _Ledger, view: EnvView) -> None:
    env = ledger.env
    newest = {id(run): sections for run, sections in _newest_runs(view)}
    counted: set[int] = set()  # a finding of no one section is evidence once
    for section, run in view.runs.items():
        control = SECTION_CONTROL.get(section)
        failing: set[tuple[str, Control]] = set()
        for f in run.findings:
            c = f.control
            if c is None or f.severity is Severity.INFO or \
                    section not in _sections(f, run, newest[id(run)]):
                continue  # no control: a note about the estate itself, not evidence
            if f.key:
                failing.add((base_key(f.key), c))
            if id(f) in counted:
                continue
            counted.add(id(f))
            note = None
            if f.acknowledged:
                note = (f"acknowledged: {f.acknowledged.get('reason', '')} "
                        f"({f.acknowledged.get('owner', '?')}, until "
                        f"{f.acknowledged.get('expires', '?')})")
            if f.key:
                ledger.add(base_key(f.key), Evidence(c, Mark.NOT_MET, run.command, f.rule_id,
                                                     f.reason, run.when, note))
            else:
                ledger.shared(Evidence(c, Mark.NOT_MET, run.command, f.rule_id,
                                       f"{f.resource}: {f.reason}", run.when, note,
                                       scope="environment"), _cloud(f), _component(f, env))
        for u in run.unknowns:
            if section not in _sections(u, run, newest[id(run)]):
                continue
            # Not judged for the control it names; one that names none (a failed read of a
            # whole resource, or any unknown of schema 0) leaves each control of its run's
            # sections unknown.
            if u.control is not None:
                if id(u) in counted:
                    continue
                counted.add(id(u))
                controls: tuple[Control, ...] = (u.control,)
            elif control is not None:
                controls = (control,)
            elif section_of(u) == section or tuple(run.sections) == (section,):
                controls = UNREAD_CONTROLS.get(section, ())  # a read of the section's own
            else:
                continue
            for c in controls:
                ev = Evidence(c, Mark.UNKNOWN, run.command, u.rule_id,
                              f"{u.resource}: {u.reason}", run.when)
                if u.key:
                    ledger.add(base_key(u.key), ev)
                else:
                    ledger.shared(ev, _cloud(u), _component(u, env))
        if control is None:
            continue
        for k in env.keys:
            resources = [r for r, kid in run.matched.items() if base_key(kid) == k.name]
            if not resources or (k.name, control) in failing:
                continue
            if all(r in run.checked for r in resources):
                what = {"rotation": "rotation as declared", "drift": "deployed as declared",
                        "access-review": "only declared principals"}[section]
                ledger.add(k.name, Evidence(control, Mark.MET, run.command, section,
                                            f"{what} ({len(resources)} resource(s) read)",
                                            run.when))


def _inventory_evidence(ledger: _Ledger, as_of: dt.date) -> None:
    for k in ledger.env.keys:
        due = k.next_rotation_due()
        if due is not None and due < as_of:
            ledger.add(k.name, Evidence(
                Control.ROTATION, Mark.NOT_MET, "inventory", "max_key_age",
                f"current generation g{k.generation} was due for rotation on {due.isoformat()}",
                as_of.isoformat()))
        for g in k.generations:
            if k.generation_state(g).value == "verify-only" and g.verify_until and \
                    g.verify_until < as_of:
                ledger.add(k.name, Evidence(
                    Control.ROTATION, Mark.NOT_MET, "inventory", "verify_window",
                    f"verify-only generation g{g.generation} is still enabled after its window "
                    f"ended on {g.verify_until.isoformat()}", as_of.isoformat()))


def _drills_for(env: Environment, key: KeyDecl,
                drills: Iterable[DrillResult]) -> list[DrillResult]:
    """Every drill record that is evidence about `key`, whatever it proves."""
    return [d for d in drills if drill_covers(d, key, env)]


def _latest_runs(drills: Iterable[DrillResult]) -> list[DrillResult]:
    """The records of the newest run per drill target (kind and key), oldest target first.

    A run writes one record per generation (sign canary) or Region (replica), all with the
    run's start time: every record of that run counts, so a verify-only generation that
    failed is not hidden behind the current one that passed.
    """
    newest: dict[tuple[str, str | None], str] = {}
    for d in drills:
        target = (d.kind, d.key)
        if d.started_at > newest.get(target, ""):
            newest[target] = d.started_at
    return sorted((d for d in drills if d.started_at == newest[(d.kind, d.key)]),
                  key=lambda d: (d.started_at, d.kind, d.key or "", d.generation or 0))


def _drill_label(d: DrillResult, when: str | None) -> str:
    """`backup drill of certificate-inventory 2026-11-20`: always names what was drilled, since
    a record may stand under a key it does not name (a backup-plan resource, the cluster)."""
    target = f" of {d.key}" if d.key else ""
    gen = f" g{d.generation}" if d.generation is not None else ""
    return f"{d.kind} drill{target}{gen} {when}"


def _drill_evidence(ledger: _Ledger, drills: Sequence[DrillResult], as_of: dt.date) -> None:
    for k in ledger.env.keys:
        cadence = TIERS[k.tier].drill_cadence_in_days
        mine = _drills_for(ledger.env, k, drills)
        recovers = [d for d in mine if drill_control(d) is Control.BACKUP]
        if not recovers and cadence is not None and backup_applicable(k)[0]:
            # The vault and replicas may be declared and deployed, but recovery is proven
            # only by a drill that recovers something: without one the control stays
            # unknown, never met, whatever other drills of the key passed.
            ledger.add(k.name, Evidence(Control.BACKUP, Mark.UNKNOWN, "drill", "no-drill",
                                        f"no restore drill recorded; the {k.tier.value} tier "
                                        f"drills every {cadence} days"))
        for d in _latest_runs(mine):
            control = drill_control(d)
            if control is None:
                continue
            when = _date(d.ended_at) or _date(d.started_at)
            label = _drill_label(d, when)
            if d.outcome == "SKIPPED":
                ev = Evidence(control, Mark.UNKNOWN, "drill", d.kind,
                              f"{label} skipped: {d.reason}", when)
            elif d.outcome != "PASSED":
                ev = Evidence(control, Mark.NOT_MET, "drill", d.kind,
                              f"{label} {d.outcome}: {d.reason}", when)
            elif d.rto_seconds is not None and d.deadline_seconds is not None and \
                    d.rto_seconds > d.deadline_seconds:
                ev = Evidence(control, Mark.NOT_MET, "drill", d.kind,
                              f"{label} recovered in {fmt_seconds(d.rto_seconds)}, above the "
                              f"{fmt_seconds(d.deadline_seconds)} deadline", when)
            else:
                age = _age_days(d.ended_at or d.started_at, as_of)
                if cadence is not None and age is not None and age > cadence:
                    ev = Evidence(control, Mark.NOT_MET, "drill", d.kind,
                                  f"{label} passed but is {age} days old; the {k.tier.value} "
                                  f"tier drills every {cadence} days", when)
                else:
                    rto = f" in {fmt_seconds(d.rto_seconds)}" if d.rto_seconds is not None else ""
                    ev = Evidence(control, Mark.MET, "drill", d.kind,
                                  f"{label} passed{rto}", when)
            ledger.add(k.name, ev)


def fmt_seconds(seconds: float | None) -> str:
    """`95 s`, `12 min`, `3.5 h`: a duration a reader takes in at a glance."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# ---- waivers --------------------------------------------------------------------------------

def _waiver_views(path: Path | None, views: Sequence[EnvView],
                  placed: Mapping[str, list[Finding]], as_of: dt.date) -> list[WaiverView]:
    out: list[WaiverView] = []
    if path is not None:
        from keyplane.policy.registry import discover
        from keyplane.policy.waivers import load_waivers

        for w in load_waivers(path, discover()):
            envs = []
            by_env: dict[str, int] = {}
            for name, findings in placed.items():
                hits = [f for f in findings
                        if w.matches(cast(Any, SimpleNamespace(rule_id=f.rule_id,
                                                               address=_address(f) or "")))
                        or f.waived_by == w.label]
                # Only where the waiver bears on a failing or unknown result: a glob that also
                # matches passing resources of other environments is not news there.
                n = sum(1 for f in hits if f.status in (Status.FAIL, Status.UNKNOWN))
                if n:
                    envs.append(name)
                    by_env[name] = n
            days = (w.expires - as_of).days
            status = "expired" if days < 0 else "expiring" if days <= WAIVER_SOON_DAYS \
                else "active"
            out.append(WaiverView(w.rule, w.resource, w.owner, w.reason, w.expires, days, status,
                                  tuple(envs), sum(by_env.values()),
                                  f"{w.file}:{w.line}" if w.line else w.file, by_env))
    known = {f"{w.rule}:{w.resource}" for w in out}
    # Labels the check results name although no waivers file was given: show them, expiry unknown.
    labels: dict[str, Counter[str]] = {}
    for name, findings in placed.items():
        for f in findings:
            if f.waived_by and f.waived_by not in known:
                labels.setdefault(f.waived_by, Counter())[name] += 1
    for label, counts in sorted(labels.items()):
        rule, _, resource = label.partition(":")
        out.append(WaiverView(rule, resource, "?", "named by the check results; pass --waivers "
                              "to show owner and expiry", None, None, "unknown",
                              tuple(sorted(counts)), sum(counts.values()), None, dict(counts)))
    for v in views:
        v.waivers = [w for w in out if v.name in w.environments]
    return sorted(out, key=lambda w: (w.expires or dt.date.max, w.rule, w.resource))


# ---- the whole report -----------------------------------------------------------------------

def _rotation_state(key: KeyDecl, as_of: dt.date) -> tuple[str, int | None]:
    due = key.next_rotation_due()
    if key.rotation_mode is RotationMode.AUTOMATIC or due is None:
        return "cloud-managed", None
    days = (due - as_of).days
    if days < 0:
        return "overdue", days
    return ("due soon" if days <= DUE_SOON_DAYS else "ok"), days


def _key_view(env: Environment, key: KeyDecl, ledger: _Ledger, view: EnvView,
              as_of: dt.date) -> KeyView:
    controls: dict[Control, ControlResult] = {}
    drills = _drills_for(env, key, view.drills)
    # A drill that recovers the key makes backup applicable even where the tier asks none.
    recovers = any(drill_control(d) is Control.BACKUP for d in drills)
    for c in Control:
        applicable, why = (True, "")
        if c is Control.BACKUP:
            applicable, why = backup_applicable(key)
            applicable = applicable or recovers
        controls[c] = verdict(c, ledger.of(key.name, c), applicable=applicable,
                              not_applicable_reason=why)
    columns = tuple(Column(name, combine(controls[c] for c in cs),
                           tuple(controls[c] for c in cs)) for name, cs in COLUMNS)
    state, days = _rotation_state(key, as_of)
    use: set[str] = set()
    admin: set[str] = set()
    for row in view.access:
        if base_key(str(row.get("key", ""))) == key.name:
            use.update(str(p) for p in row.get("use") or [])
            admin.update(str(p) for p in row.get("administer") or [])
    newest: dict[str, str] = {}
    for r in controls.values():
        for e in r.evidence:
            if e.mark is Mark.MET and e.when and e.source != "drill" and \
                    e.when > newest.get(e.source, ""):
                newest[e.source] = e.when
    return KeyView(
        key=key, row=key_row(key), where=_where(env, key), protection=protection(key),
        rotation=rotation(key), next_due=next_due(key), rotation_state=state, days_to_due=days,
        backup=backup_summary(key, env),
        users=tuple((u, _identity(env, u)) for u in key.users),
        observed_use=tuple(sorted(use)), observed_admin=tuple(sorted(admin)),
        controls=controls, columns=columns,
        last_drill=max(drills, key=lambda d: d.started_at) if drills else None,
        proven=tuple(sorted(newest.items(), key=lambda kv: kv[1], reverse=True)))


def build_report(environments: Sequence[Environment], options: ReportOptions) -> ReportData:
    """Read every input and fold it into the report's records.

    Raises ReportInputError for an input that cannot be used, before anything is folded.
    """
    as_of = options.as_of
    require_evidence_dirs(options.evidence_dirs)
    envs = {e.name: e for e in environments}
    inputs: list[InputFile] = []
    notes: list[str] = []

    checks = [read_check(p) for p in options.check_files]
    inputs += [c.file for c in checks]
    placed: dict[int, list[tuple[Finding, Place]]] = {}
    unplaced = 0
    for i, check_run in enumerate(checks):
        placed[i] = []
        for f in check_run.findings:
            place = _place_check(f, envs)
            if place is None:
                unplaced += 1
            else:
                placed[i].append((f, place))
    if unplaced:
        notes.append(f"{unplaced} check result(s) of environments outside this report are "
                     "not shown")

    runs = [read_post_apply(p) for p in options.post_apply_files]
    inputs += [r.file for r in runs]
    runs += options.post_apply_runs
    inputs += options.post_apply_inputs
    other = sorted({r.environment for r in runs} - set(envs))
    if other:
        notes.append(f"post-apply reports of environment(s) not in this report ignored: "
                     f"{', '.join(other)}")

    views: list[EnvView] = []
    env_findings: dict[str, list[Finding]] = {}
    for env in environments:
        view = EnvView(env=env)
        idx = _latest_check(checks, env.name, placed)
        ledger = _Ledger(env)
        if idx is not None:
            view.check = checks[idx]
            mine = [(f, p) for f, p in placed[idx] if p.env == env.name]
            env_findings[env.name] = [f for f, _ in mine]
            view.check_counts = Counter(f.status for f, _ in mine)
            view.check_findings = sorted(
                (f for f, _ in mine if f.status not in (Status.PASS, Status.NOT_APPLICABLE)),
                key=lambda f: (-STATUS_RANK[f.status], -f.severity.rank, f.rule_id,
                               _address(f) or ""))
            _check_evidence(ledger, checks[idx], mine)
        for run in runs:
            if run.environment != env.name:
                continue
            for section in run.sections:
                cur = view.runs.get(section)
                if cur is None or (run.started_at or dt.datetime.min.replace(tzinfo=dt.UTC)) >= \
                        (cur.started_at or dt.datetime.min.replace(tzinfo=dt.UTC)):
                    view.runs[section] = run
        seen: set[tuple[str, str, str]] = set()
        newest = {id(run): sections for run, sections in _newest_runs(view)}
        for section, run in view.runs.items():
            for pf in run.findings:
                sig = (pf.rule_id, pf.resource, pf.reason)
                if section in _sections(pf, run, newest[id(run)]) and sig not in seen:
                    seen.add(sig)
                    view.findings.append(pf)
            if section == "access-review":
                view.access = list(run.access)
        view.findings.sort(key=lambda f: (-f.severity.rank, f.rule_id, f.key or "", f.resource))
        certs_run = view.runs.get("certs")
        if certs_run is not None:
            view.certs_run = certs_run
            view.certs = key_views(certs_run.timeline, certs_run.findings, certs_run.unknowns,
                                   env)
        useen: set[tuple[str, str]] = set()
        for run, _ in _newest_runs(view):
            for u in run.unknowns:
                if (u.resource, u.reason) not in useen:
                    useen.add((u.resource, u.reason))
                    view.unknowns.append(u)
        _post_apply_evidence(ledger, view)

        roots = list(options.evidence_dirs)
        if not roots:
            loc = env.evidence_location or f"./evidence/{env.name}"
            if is_remote(loc):
                view.drill_note = (f"drill evidence is kept at {loc}, which the report does not "
                                   "read (it never calls a cloud); copy it locally and pass "
                                   "--evidence-dir")
            else:
                path = Path(loc.removeprefix("file://"))
                roots = [path if path.is_absolute() else options.base_dir / path]
        view.drills, view.drill_sources = read_drills(roots, env.name)
        if roots and not view.drill_sources:
            view.drill_note = (f"no drill evidence directory at {', '.join(map(str, roots))}")
        inputs += [describe(Path(d), "evidence", None) for d in view.drill_sources]
        _drill_evidence(ledger, view.drills, as_of)
        _inventory_evidence(ledger, as_of)
        view.keys = [_key_view(env, k, ledger, view, as_of) for k in env.keys]
        views.append(view)

    waivers = _waiver_views(options.waivers_file, views, env_findings, as_of)
    if options.waivers_file is not None:
        inputs.append(describe(options.waivers_file, "waivers",
                               _bytes(options.waivers_file)))
    return ReportData(as_of=as_of,
                      generated_at=options.generated_at or dt.datetime.now(dt.UTC),
                      environments=views, inputs=unique_inputs(inputs), waivers=waivers,
                      notes=notes)


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


# What each tier protects (the first table of the tier specification), for the headings.
TIER_PURPOSE = {
    Tier.CA: "root and intermediate CA private keys",
    Tier.PRODUCTION: "production signing and encryption keys",
    Tier.NON_PRODUCTION: "test and staging keys",
    Tier.EPHEMERAL: "short-lived workload keys, re-issuable in minutes",
}
