"""The report as Markdown: the same content as the HTML page, charts as small tables.

For a pull-request comment, a ticket or a wiki page. Every cell is scrubbed, kept on one
line, and escaped (`|`, `<`, `>`, `&`, backticks), since Markdown renderers pass HTML through.
Prose is bounded; identifiers (principals, ARNs, paths) are never cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from keyplane.audit.report.certs import CertView
from keyplane.audit.report.charts import rto_rows
from keyplane.audit.report.controls import COLUMNS, DRILL_PROVES, Control, Mark
from keyplane.audit.report.data import (
    TIER_PURPOSE,
    EnvView,
    KeyView,
    ReportData,
    WaiverView,
    fmt_seconds,
)
from keyplane.audit.report.overview import EstateOverview, estate_overview, worst_first
from keyplane.audit.report.text import age_days, clean, days_phrase, whole

MAX_CHECK_ROWS = 100
ENVS_PER_ROW = 6  # environments named per row of the controls table; more are counted


def _m(value: object, limit: int = 300) -> str:
    return _cell(clean(value, limit))


def _id(value: object) -> str:
    """An identifier for a cell, whole (never cut: a cut principal names nobody)."""
    return _cell(whole(value))


def _cell(text: str) -> str:
    return escape(text, quote=False).replace("|", "\\|").replace("`", "'")


def _mark(mark: Mark) -> str:
    return f"{mark.symbol} {mark.value}"


def _table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(_m(h) for h in head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    body = [("| " + " | ".join(str(c) for c in row) + " |") for row in rows]
    return [*out, *body] if body else [*out, "| " + " | ".join("" for _ in head) + " |"]


def render_markdown(data: ReportData) -> str:
    """The whole report as Markdown."""
    n_keys = sum(len(v.keys) for v in data.environments)
    out = ["# keyplane evidence report", "",
           f"As of **{data.as_of.isoformat()}**, generated "
           f"{data.generated_at.strftime('%Y-%m-%d %H:%M UTC')}: {len(data.environments)} "
           f"environment(s), {n_keys} key(s). Read from files only, no cloud access. A control "
           "is *met* only when evidence says so; with no evidence it is *unknown*.", "",
           "## Estate overview", ""]
    overview = estate_overview(data)
    out += _estate(overview)
    out += ["", "### Every environment (worst first)", ""]
    rows = []
    views = worst_first(data, overview)
    for v in views:
        s = overview.standing(v.name)
        open_f = sum(1 for f in v.findings if f.is_open)
        last = max((d.started_at for d in v.drills), default=None)
        rows.append([_m(v.name), _m(v.env.kind.value), len(v.keys), s.critical, s.high, s.met,
                     s.not_met, s.unknown, open_f,
                     _m(v.check.gate if v.check and v.check.gate else "no check results"),
                     _m(last[:10] if last else "none"),
                     sum(1 for w in v.waivers if w.status != "expired")])
    out += _table(["environment", "kind", "keys", "open critical", "open high", "met",
                   "not met", "unknown", "open post-apply findings", "PR gate", "last drill",
                   "active waivers"], rows)
    out += [f"\n> {_m(n)}" for n in data.notes]
    for v in views:
        out += ["", *_environment(v, data)]
    if data.waivers:
        out += ["", "## All waivers", ""]
        out += _waivers(data.waivers, with_envs=True)
    out += ["", "## Inputs", ""]
    out += _table(["input", "path", "sha-256 (first 16)", "modified"],
                  [[_m(f.kind), _id(f.path), _m(f.sha256[:16] if f.sha256 else "-"),
                    _m(f.modified.isoformat() if f.modified else "-")] for f in data.inputs])
    return "\n".join(out) + "\n"


def _estate(overview: EstateOverview) -> list[str]:
    """The tier x control matrix and the worst environments, both worst first."""
    out = ["An unknown is never counted as met. Each key counts once per control (protection, "
           "access, audit, backup, rotation); everything below is worst first.", "",
           "### Controls by tier (worst first)", ""]
    rows = []
    for t in overview.tallies:
        where = list(t.not_met_in or t.unknown_in)
        more = f" +{len(where) - ENVS_PER_ROW} more" if len(where) > ENVS_PER_ROW else ""
        rows.append([_m(t.tier.value), _m(t.control.value), _mark(t.mark), t.not_met, t.unknown,
                     t.met, t.not_applicable, t.keys,
                     _m(", ".join(where[:ENVS_PER_ROW]) + more) or "-"])
    out += _table(["tier", "control", "worst", "keys not met", "unknown", "met", "n/a", "keys",
                   "where (worst first)"], rows)
    out += ["", "### Worst environments", ""]
    worst = overview.worst()
    if not worst:
        return [*out, "Every applicable control of every environment is met and no critical or "
                      "high failure is open."]
    out += _table(["#", "environment", "kind", "open critical", "open high", "controls not met",
                   "unknown", "most sensitive tier affected"],
                  [[i, f"**{_m(s.name)}**", _m(s.kind), s.critical, s.high, s.not_met, s.unknown,
                    _m(s.worst_tier.value if s.worst_tier else "-")]
                   for i, s in enumerate(worst, 1)])
    return out


def _environment(v: EnvView, data: ReportData) -> list[str]:
    env = v.env
    out = [f"## {_m(env.name)} ({_m(env.kind.value)} environment)", ""]
    if env.description:
        out += [_m(env.description), ""]
    if env.aws:
        out.append(f"- AWS: account {_m(env.aws.account_id)}, {_m(env.aws.region)}"
                   + (f" (replicas {_m(', '.join(env.aws.replica_regions))})"
                      if env.aws.replica_regions else ""))
    if env.gcp:
        out.append(f"- GCP: project {_m(env.gcp.project_id)}, {_m(env.gcp.location)}")
    out.append(f"- drill evidence: {_id(env.evidence_location or './evidence/' + env.name)}")
    out += ["", "### Key inventory and controls", ""]
    rows = []
    for tier, keys in v.by_tier():
        for k in keys:
            rows.append(_key_row(k, tier.value))
    out += _table(["key", "tier", "where", "who can use it", "how it is backed up",
                   "how it is rotated", "next due", "last proven",
                   *[name for name, _ in COLUMNS]], rows)
    tiers = ", ".join(f"{t.value}: {TIER_PURPOSE[t]}" for t, _ in v.by_tier())
    if tiers:
        out += ["", f"Tiers: {_m(tiers)}."]
    out += ["", "#### Why each control is not met or unknown", ""]
    why = []
    for k in v.keys:
        for c in Control:
            r = k.controls[c]
            if r.mark in (Mark.NOT_MET, Mark.UNKNOWN):
                ev = [e for e in r.evidence if e.mark is r.mark][:3]
                detail = "; ".join(f"{e.source} {e.ref}: {e.message}" for e in ev) or r.reason
                why.append([_m(k.name), _m(c.value), _m(_mark(r.mark)), _m(detail, 400)])
    out += _table(["key", "control", "mark", "evidence"], why) if why else \
        ["Every applicable control is met."]
    out += ["", "### Rotation", ""]
    out += _table(["key", "mode", "current since", "age", "limit", "next due", "state"],
                  [_rotation_row(k, data) for k in v.keys])
    out += ["", "Generations (timeline):", ""]
    gens = []
    for k in v.keys:
        for g in sorted(k.key.generations, key=lambda g: -g.generation):
            gens.append([_m(k.name), f"g{g.generation}", _m(k.key.generation_state(g).value),
                         g.created_on.isoformat(),
                         g.verify_until.isoformat() if g.verify_until else "-",
                         "yes" if g.enabled else "no"])
    out += _table(["key", "generation", "state", "created", "verify until", "enabled"], gens) \
        if gens else ["No generations: every key rotates automatically."]
    out += _certs(v)
    out += ["", "### Drift and access review", ""]
    out += _post_apply(v)
    out += ["", "### PR gate (keyplane check)", ""]
    out += _check(v)
    out += ["", "### Restore drills", ""]
    out += _drills(v)
    out += ["", "### Waivers", ""]
    out += _waivers(v.waivers, with_envs=False, env=v.name) if v.waivers else \
        ["No waiver covers a result of this environment."]
    return out


def _key_row(k: KeyView, tier: str) -> list[str]:
    users = "<br>".join(f"{_m(u)} ({_id(i)})" for u, i in k.users) or "none declared"
    if k.observed_use or k.observed_admin:
        users += f"<br>access review: {len(k.observed_use)} can use, " \
                 f"{len(k.observed_admin)} can administer"
    proven = []
    if k.last_drill is not None:
        proven.append(f"drill {k.last_drill.started_at[:10]} {k.last_drill.outcome.lower()}")
    proven += [f"{source} {when}" for source, when in k.proven]
    cells = []
    for col in k.columns:
        if len(col.results) == 1:
            cells.append(_mark(col.mark))
        else:
            cells.append("<br>".join(f"{r.control.value}: {_mark(r.mark)}" for r in col.results))
    due = f"{k.next_due} ({days_phrase(k.days_to_due)})" if k.days_to_due is not None \
        else k.next_due
    return [f"**{_m(k.name)}**", _m(tier), f"{_id(k.where)}; {_m(k.protection)}", users,
            _m(k.backup), _m(k.rotation),
            _m(due if k.rotation_state == "cloud-managed" else f"{due}, {k.rotation_state}"),
            _m("; ".join(proven) or "never"), *cells]


def _rotation_row(k: KeyView, data: ReportData) -> list[str]:
    cur = k.key.current_generation()
    age = age_days(cur.created_on if cur else None, data.as_of)
    limit = (f"period {k.key.rotation_period_in_days} d"
             if k.key.rotation_period_in_days is not None
             else f"max age {k.key.max_key_age_in_days} d")
    return [_m(k.name), _m(k.key.rotation_mode.value),
            cur.created_on.isoformat() if cur else "-", f"{age} d" if age is not None else "-",
            limit, _m(k.next_due), _m(f"{k.rotation_state} {days_phrase(k.days_to_due)}".strip())]


def _certs(v: EnvView) -> list[str]:
    """Per key with certificates, each generation and the certificates bound to it; a
    flagged certificate names its findings."""
    if v.certs_run is None:
        return []
    run = v.certs_run
    out = ["", "### Certificates by key generation", "",
           f"From {_m(run.command)} {_m(run.when)}, judged at {_m(run.certs_at or '?')} "
           f"({_id(run.file.path)}). Generations newest first, certificates oldest first; "
           "**FLAGGED** marks a certificate with a finding.", ""]
    if not v.certs:
        return [*out, "No key of this environment has certificates in that report."]
    rows = []
    for k in v.certs:
        owner = f"{_m(k.tier or '?')}, owner {_id(k.owner or 'none declared')}"
        age = f"{k.max_key_age_in_days} d" if k.max_key_age_in_days else "-"
        for g in k.generations:
            gen = [f"**{_m(k.key)}** ({owner})", _m(g.label), _m(g.generation.state),
                   _m(g.generation.created_on or "-"), _m(g.generation.verify_until or "-"),
                   _m(g.generation.use_ends or "-"), age]
            if not g.certificates:
                rows.append([*gen, "no certificates", "-", "-", "-", "-"])
            rows += [[*gen, *_cert_cells(c)] for c in g.certificates]
        for c in k.unmatched:
            where = "held by its declared CA" if c.cert.held_by else "no generation"
            rows.append([f"**{_m(k.key)}** ({owner})", "-", _m(where), "-", "-", "-", age,
                         *_cert_cells(c)])
    out += _table(["key", "generation", "state", "created", "verify-only until",
                   "usable until", "max age", "certificate (subject)", "serial", "valid",
                   "source", "findings"], rows)
    return out


def _cert_cells(c: CertView) -> list[str]:
    cert = c.cert
    flags = [f"{_m(f.severity)} {_id(f.rule_id)}" + (" (acknowledged)" if f.acknowledged else "")
             for f in c.findings]
    flags += [f"unknown {_id(u.rule_id)}" for u in c.unknowns]
    judged = {f.rule_id for f in c.findings}
    flags += [f"fails {_id(r)}" for r in cert.failed if r not in judged]
    return [_m(cert.subject or "(empty subject)", 200), _id(cert.serial or "-"),
            f"{_m(cert.not_before[:10])} .. {_m(cert.not_after[:10])}",
            f"{_m(cert.source)} {_id(cert.id)}",
            f"**FLAGGED** {'; '.join(flags)}" if c.flagged else "none"]


def _post_apply(v: EnvView) -> list[str]:
    if not v.runs:
        return ["No post-apply, drift or access-review report was given for this environment."]
    out = []
    seen: set[int] = set()
    for run in v.runs.values():
        if id(run) in seen:
            continue
        seen.add(id(run))
        secs = ", ".join(s for s, r in v.runs.items() if r is run)
        out.append(f"- latest {_m(secs)}: **{_m(run.command)}** {_m(run.when)}, outcome "
                   f"**{_m(run.outcome or '?')}**, {len(run.checked)} resource(s) read "
                   f"({_id(run.file.path)})" + (f"; stopped: {_m(run.stopped)}" if run.stopped
                                                else ""))
    out.append("")
    rows = []
    for f in v.findings:
        status = (f"acknowledged: {_m(f.acknowledged.get('reason', ''))} "
                  f"({_id(f.acknowledged.get('owner', '?'))}, until "
                  f"{_m(f.acknowledged.get('expires', '?'))})" if f.acknowledged else "open")
        rows.append([_m(f.severity), _m(f.rule_id), _id(f.key or "-"), _id(f.resource),
                     _m(f.reason), status])
    out += _table(["severity", "check", "key", "resource", "finding", "status"], rows) if rows \
        else ["No findings in the latest reports."]
    if v.unknowns:
        out += ["", "Not read (unknown, never clean):", ""]
        out += _table(["key", "resource", "reason"],
                      [[_id(u.key or "-"), _id(u.resource), _m(u.reason)] for u in v.unknowns])
    if v.access:
        out += ["", "Who can use and administer each key (access review):", ""]
        out += _table(["key", "can use", "can administer"],
                      [[_id(r.get("key", "?")),
                        "<br>".join(_id(p) for p in r.get("use") or []) or "-",
                        "<br>".join(_id(p) for p in r.get("administer") or []) or "-"]
                       for r in v.access])
    return out


def _check(v: EnvView) -> list[str]:
    if v.check is None:
        return ["No check results were given for this environment."]
    c = v.check_counts
    counts = ", ".join(f"{s.lower().replace('_', ' ')} {c[s]}"
                       for s in ("PASS", "FAIL", "UNKNOWN", "ERROR", "NOT_APPLICABLE") if c[s])
    out = [f"Gate **{_m(v.check.gate or '?')}** at fail level {_m(v.check.fail_level or '?')}: "
           f"{_m(counts)} ({_id(v.check.file.path)}).", ""]
    rows = [[_m(f.status), _m(f.severity), _m(f.rule_id),
             _id(f.construct_path or f.address or f.resource or "-"),
             _m(f.reason) + (f" (waived by {_id(f.waived_by)})" if f.waived_by else "")]
            for f in v.check_findings[:MAX_CHECK_ROWS]]
    out += _table(["status", "severity", "rule", "resource", "result"], rows) if rows else \
        ["Every applicable rule passed."]
    if len(v.check_findings) > MAX_CHECK_ROWS:
        out.append(f"\n+{len(v.check_findings) - MAX_CHECK_ROWS} more not shown.")
    return out


def _drills(v: EnvView) -> list[str]:
    out = [f"> {_m(v.drill_note)}", ""] if v.drill_note else []
    if not v.drills:
        return [*out, "No drill evidence for this environment: every backup control stays "
                      "unknown until a drill proves it."]
    out += ["A passing drill proves:", ""]
    out += [f"- {_m(k)}: {_m(DRILL_PROVES[k])}"
            for k in sorted({d.kind for d in v.drills if d.kind in DRILL_PROVES})]
    out += ["", "Recovery time against the tier deadline (chart):", ""]
    rows = []
    for d in rto_rows(v.drills):
        within = "-" if d.rto_seconds is None or d.deadline_seconds is None else \
            ("yes" if d.rto_seconds <= d.deadline_seconds else "**no**")
        rows.append([d.started_at[:10], _m(d.kind), _m(d.key or "(environment)"),
                     _m(d.tier or "-"), fmt_seconds(d.rto_seconds),
                     fmt_seconds(d.deadline_seconds), within, _m(d.outcome)])
    out += _table(["started", "kind", "key", "tier", "recovery time", "deadline",
                   "within deadline", "outcome"], rows)
    out += ["", "History (newest first):", ""]
    hist = [[_m(d.started_at[:16]), _m(d.kind),
             _m((d.key or "(environment)") + (f" g{d.generation}" if d.generation else "")),
             _m(d.outcome), fmt_seconds(d.rto_seconds), fmt_seconds(d.rpo_seconds),
             _id(d.identity), _m(d.reason, 200)]
            for d in sorted(v.drills, key=lambda d: d.started_at, reverse=True)[:60]]
    out += _table(["started", "kind", "key", "outcome", "recovery time", "recovery point age",
                   "run by", "reason"], hist)
    return out


def _waivers(waivers: Sequence[WaiverView], *, with_envs: bool,
             env: str | None = None) -> list[str]:
    head = ["rule", "resource", "owner", "reason", "expires", "status", "findings covered"]
    rows = []
    for w in waivers:
        exp = w.expires.isoformat() if w.expires else "unknown"
        row = [_id(w.rule), _id(w.resource), _id(w.owner), _m(w.reason, 200),
               f"{exp} {days_phrase(w.days_left)}".strip(),
               f"**{w.status}**" if w.status in ("expired", "expiring") else w.status,
               str(w.covers if with_envs or env is None else w.covers_by_env.get(env, 0))]
        if with_envs:
            row.append(_m(", ".join(w.environments) or "none"))
        rows.append(row)
    return _table([*head, "environments"] if with_envs else head, rows)
