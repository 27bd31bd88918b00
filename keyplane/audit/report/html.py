"""The report as one self-contained HTML page: inline CSS, inline SVG, no script, no fetch.

Every value that comes from an input goes through `_e` (html.escape). Free text is
also scrubbed and bounded (`text.clean`); identifiers (principals, ARNs, paths, rule ids)
are scrubbed but never cut (`text.whole`) and wrap where they must, so the whole value is
always on the page; structured values (policies, tag maps) are never printed. Tables and
charts sit in horizontal scrollers, so a narrow window scrolls them instead of squeezing
or clipping them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from keyplane.audit.evidence import DrillResult
from keyplane.audit.report.certs import CertView
from keyplane.audit.report.charts import rto_svg, timeline_svg
from keyplane.audit.report.controls import (
    COLUMNS,
    DRILL_PROVES,
    Control,
    ControlResult,
    Evidence,
    Mark,
)
from keyplane.audit.report.data import (
    TIER_PURPOSE,
    Column,
    EnvView,
    KeyView,
    ReportData,
    WaiverView,
    fmt_seconds,
)
from keyplane.audit.report.inputs import PostApplyRun
from keyplane.audit.report.overview import (
    EstateOverview,
    estate_overview,
    paginate,
    worst_first,
)
from keyplane.audit.report.style import CSS
from keyplane.audit.report.text import age_days, clean, days_phrase, whole
from keyplane.findings import Severity

MAX_CHECK_ROWS = 150
MAX_DRILL_ROWS = 60
MAX_PASSES_SHOWN = 4
# Paging: the bound in bytes no page with two or more environments exceeds, so a browser
# opens any page at once however large the estate (the page size in environments is the
# command's `--page-size`).
MAX_PAGE_BYTES = 4 * 1024 * 1024
_PAGE_SLACK = 1024  # page numbers in the header and title, longer than the laid-out ones
TITLE_NAMES = 5  # environments named in the title; more are counted
ENVS_PER_ROW = 6  # environments named per row of the controls table; more are counted
GENERATOR = "keyplane report"  # every page says so: only such files are ever replaced


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _c(value: object, limit: int = 300) -> str:
    return _e(clean(value, limit))


def _i(value: object) -> str:
    """An identifier, escaped and whole (never cut: a cut principal names nobody).

    It may break after `/`, `:` and `@` (an ARN's own separators) before the stylesheet
    breaks it anywhere; `<wbr>` adds no character, so a copied ARN is still the ARN.
    """
    return re.sub(r"([/:@])", r"\1<wbr>", _e(whole(value)))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower())


def _mark(mark: Mark) -> str:
    return f'<span class="mark {mark.css}">{mark.symbol} {_e(mark.value)}</span>'


def _table(cls: str, head: Sequence[str], rows: Iterable[str], table_id: str = "") -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    ident = f' id="{_e(table_id)}"' if table_id else ""
    return (f'<div class="scroll"><table class="{cls}"{ident}><thead><tr>{th}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _chart(svg: str) -> str:
    """A chart in its own scroller: on a phone it keeps a legible size and scrolls."""
    return f'<div class="scroll chartwrap">{svg}</div>'


def render_html(data: ReportData) -> str:
    """The whole report as one page: the estate overview, then every environment."""
    return render_pages(data, page_size=0, max_bytes=None)[0].text


@dataclass(frozen=True)
class HtmlPage:
    """One file of a paged report."""

    number: int  # 1: the first page, with the estate overview
    name: str  # its file name, beside the first page's
    environments: tuple[str, ...]  # the environments whose sections it holds, worst first
    text: str

    @property
    def size(self) -> int:
        """Its size in bytes, as written (utf-8)."""
        return len(self.text.encode("utf-8"))


def page_name(first: str, number: int) -> str:
    """The file name of page `number`: `report.html`, `report-page-2.html`, ..."""
    if number == 1:
        return first
    stem, dot, suffix = first.rpartition(".")
    if not stem or "/" in suffix:
        return f"{first}-page-{number}"
    return f"{stem}-page-{number}{dot}{suffix}"


@dataclass(frozen=True)
class _Layout:
    """Which page every environment is on, so links can name the file."""

    first: str
    pages: int
    page_of: dict[str, int]

    def href(self, env: str, here: int) -> str:
        """A link to the section of `env` from page `here`."""
        anchor = f"#env-{_slug(env)}"
        page = self.page_of[env]
        return anchor if page == here else f"{_e(quote(page_name(self.first, page)))}{anchor}"

    def page(self, number: int, anchor: str = "") -> str:
        """A link to page `number` (and an anchor on it)."""
        return f"{_e(quote(page_name(self.first, number)))}{anchor}"


def render_pages(data: ReportData, *, page_size: int, first_name: str = "report.html",
                 max_bytes: int | None = MAX_PAGE_BYTES) -> list[HtmlPage]:
    """The report as linked pages: the first (`first_name`) holds the estate overview, an
    index of every environment, the first environments, all waivers and the inputs; each
    further page `page_name(first_name, n)` holds the next environments, worst first.

    A page holds at most `page_size` environments (0: no limit) and, with `max_bytes`, is
    closed early so that it stays under that many bytes: the room left for environments is
    measured on the page without them, laid out as if every link named the longest file
    name. Only an environment larger than a page by itself makes a page above the bound.
    """
    overview = estate_overview(data)
    views = worst_first(data, overview)
    sections = [_environment(v, data) for v in views]
    if page_size <= 0 and max_bytes is None:
        ranges = [range(len(views))]
    else:
        sizes = [_bytes(s) + _bytes(_onpage_entry(v.name)) for s, v in zip(sections, views,
                                                                           strict=True)]
        budget = None
        if max_bytes is not None:
            most = max(len(views), 2)
            worst = _Layout(first_name, most, {v.name: most for v in views})
            budget = [max_bytes - _PAGE_SLACK - _bytes(_page(data, overview, worst, n, [], []))
                      for n in (1, 2)]
        ranges = paginate(sizes, page_size=page_size, budget=budget) or [range(0)]
    layout = _Layout(first_name, len(ranges),
                     {views[i].name: n for n, r in enumerate(ranges, 1) for i in r})
    return [HtmlPage(n, page_name(first_name, n), tuple(views[i].name for i in r),
                     _page(data, overview, layout, n, [views[i] for i in r],
                           [sections[i] for i in r]))
            for n, r in enumerate(ranges, 1)]


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _page(data: ReportData, overview: EstateOverview, layout: _Layout, number: int,
          views: Sequence[EnvView], sections: Sequence[str]) -> str:
    """One page: the header, navigation, the overview (first page), the environments."""
    n_keys = sum(len(v.keys) for v in data.environments)
    names = [v.name for v in data.environments]
    envs = ", ".join(names) if len(names) <= TITLE_NAMES else f"{len(names)} environments"
    paged = layout.pages > 1
    where = f" \u2014 page {number} of {layout.pages}" if paged else ""
    page_meta = f" \u00b7 page <b>{number}</b> of <b>{layout.pages}</b>" if paged else ""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           # No script and no remote content, even if the file is opened from a web server.
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'; img-src data:\">",
           f'<meta name="generator" content="{GENERATOR}">',
           f"<title>keyplane evidence report \u2014 {_e(envs)} \u2014 "
           f"{_e(data.as_of.isoformat())}{where}</title>",
           f"<style>{CSS}</style></head><body>",
           '<header class="top"><div class="inner"><h1>keyplane evidence report</h1>',
           f'<span class="meta">as of <b>{_e(data.as_of.isoformat())}</b> \u00b7 generated '
           f'<b>{_e(data.generated_at.strftime("%Y-%m-%d %H:%M UTC"))}</b> \u00b7 '
           f"<b>{len(data.environments)}</b> environment(s), <b>{n_keys}</b> key(s)"
           f"{page_meta} \u00b7 read from files only, no cloud access</span></div></header>",
           "<main>"]
    nav = _nav(layout, number) if paged else ""
    out.append(nav)
    if number == 1:
        out.append(_overview(data, overview, layout))
    else:
        out.append(_page_intro(data, layout, number, views))
    out.extend(sections)
    if number == 1:
        out.append(_all_waivers(data.waivers))
        out.append(_footer(data))
    else:
        out.append(f'<footer><p>Generated by <b>keyplane report</b>; the waivers and the inputs '
                   f'it read are listed on the <a href="{layout.page(1, "#inputs")}">first '
                   "page</a>.</p></footer>")
    out.append(nav)
    out.append("</main></body></html>\n")
    return "".join(out)


def _nav(layout: _Layout, number: int) -> str:
    """Links to the overview and to every page; the current page is marked, not linked."""
    links = []
    for n in range(1, layout.pages + 1):
        if n == number:
            links.append(f'<span class="current" aria-current="page">{n}</span>')
        else:
            links.append(f'<a href="{layout.page(n)}" data-page="{n}">{n}</a>')
    prev = (f'<a href="{layout.page(number - 1)}" rel="prev">\u2039 previous</a>'
            if number > 1 else "")
    nxt = (f'<a href="{layout.page(number + 1)}" rel="next">next \u203a</a>'
           if number < layout.pages else "")
    return (f'<nav class="pages" aria-label="report pages"><a href="{layout.page(1, "#overview")}">'
            f"estate overview</a><span>pages:</span>{''.join(links)}{prev}{nxt}</nav>")


def _onpage_entry(name: str) -> str:
    return f'<a href="#env-{_slug(name)}">{_e(name)}</a> '


def _page_intro(data: ReportData, layout: _Layout, number: int,
                views: Sequence[EnvView]) -> str:
    first = 1 + sum(1 for p in layout.page_of.values() if p < number)
    last = first + len(views) - 1
    onpage = "".join(_onpage_entry(v.name) for v in views)
    span = f"Environment {first}" if first == last else f"Environments {first}\u2013{last}"
    return (f'<section class="pageintro"><h2>{span} of '
            f"{len(data.environments)}</h2><p class=\"lede\">Worst first, as ranked in the "
            f'<a href="{layout.page(1, "#overview")}">estate overview</a>.</p>'
            f'<p class="onpage">On this page: {onpage}</p></section>')


def _legend() -> str:
    return ('<div class="legendbar"><span>Controls:</span>'
            f"{_mark(Mark.MET)}<span>evidence shows it</span>"
            f"{_mark(Mark.NOT_MET)}<span>evidence shows a failure</span>"
            f"{_mark(Mark.UNKNOWN)}<span>no evidence, or not judged</span>"
            f"{_mark(Mark.NOT_APPLICABLE)}<span>the tier asks nothing here</span></div>")


def _count(mark: Mark, n: int) -> str:
    """A count with its mark's colour when non-zero (a zero is plain, so the eye skips it)."""
    return f'<span class="count {mark.css}">{n}</span>' if n else '<span class="count">0</span>'


def _env_links(names: Sequence[str], layout: _Layout) -> str:
    shown = "".join(f'<a href="{layout.href(n, 1)}">{_e(n)}</a> ' for n in names[:ENVS_PER_ROW])
    more = len(names) - ENVS_PER_ROW
    return shown + (f'<span class="sub">+{more} more</span>' if more > 0 else "")


def _controls_table(overview: EstateOverview, layout: _Layout) -> str:
    rows = []
    for t in overview.tallies:
        rows.append(
            f'<tr data-tier="{_e(t.tier.value)}" data-control="{_e(t.control.value)}" '
            f'data-mark="{_e(t.mark.value)}"><td>{_e(t.tier.value)}</td>'
            f"<td>{_e(t.control.value)}</td><td>{_mark(t.mark)}</td>"
            f'<td data-count="not met">{_count(Mark.NOT_MET, t.not_met)}</td>'
            f'<td data-count="unknown">{_count(Mark.UNKNOWN, t.unknown)}</td>'
            f'<td data-count="met">{_count(Mark.MET, t.met)}</td>'
            f'<td data-count="n/a">{t.not_applicable}</td><td>{t.keys}</td>'
            f"<td>{_env_links(t.not_met_in or t.unknown_in, layout)}</td></tr>")
    return _table("overview", ["tier", "control", "worst", "keys not met", "unknown", "met",
                               "n/a", "keys", "where (worst first)"], rows, "estate-controls")


def _worst_table(overview: EstateOverview, layout: _Layout) -> str:
    worst = overview.worst()
    if not worst:
        return ('<p class="empty">every applicable control of every environment is met and no '
                "critical or high failure is open</p>")
    rows = []
    for i, s in enumerate(worst, 1):
        tier = s.worst_tier.value if s.worst_tier else "-"
        rows.append(
            f'<tr data-env="{_e(s.name)}"><td>{i}</td><td><a href="{layout.href(s.name, 1)}">'
            f'<span class="keyname">{_e(s.name)}</span></a></td><td>{_e(s.kind)}</td>'
            f'<td data-count="critical">{_sev_count(Severity.CRITICAL, s.critical)}</td>'
            f'<td data-count="high">{_sev_count(Severity.HIGH, s.high)}</td>'
            f'<td data-count="not met">{_count(Mark.NOT_MET, s.not_met)}</td>'
            f'<td data-count="unknown">{_count(Mark.UNKNOWN, s.unknown)}</td>'
            f'<td>{_e(tier)}</td><td data-page="{layout.page_of[s.name]}">'
            f"{layout.page_of[s.name]}</td></tr>")
    return _table("overview", ["#", "environment", "kind", "open critical", "open high",
                               "controls not met", "unknown", "most sensitive tier affected",
                               "page"], rows, "estate-worst")


def _sev_count(sev: Severity, n: int) -> str:
    return f'<span class="sev {_e(sev.value)}">{n}</span>' if n else "0"


def _overview(data: ReportData, overview: EstateOverview, layout: _Layout) -> str:
    rows = []
    by_name = {v.name: v for v in data.environments}
    for s in overview.standings:
        v = by_name[s.name]
        open_f = sum(1 for f in v.findings if f.is_open)
        last = max((d.started_at for d in v.drills), default=None)
        gate = v.check.gate if v.check else None
        rows.append(
            f'<tr data-env="{_e(v.name)}"><td><a href="{layout.href(v.name, 1)}">'
            f'<span class="keyname">{_e(v.name)}</span></a></td>'
            f"<td>{_e(v.env.kind.value)}</td><td>{len(v.keys)}</td>"
            f'<td data-count="critical">{_sev_count(Severity.CRITICAL, s.critical)}</td>'
            f'<td data-count="high">{_sev_count(Severity.HIGH, s.high)}</td>'
            f'<td data-count="met">{_mark(Mark.MET)} {s.met}</td>'
            f'<td data-count="not met">{_mark(Mark.NOT_MET)} {s.not_met}</td>'
            f'<td data-count="unknown">{_mark(Mark.UNKNOWN)} {s.unknown}</td>'
            f"<td>{open_f}</td>"
            f'<td>{_gate(gate)}</td><td class="nowrap">{_e(last[:10]) if last else "none"}</td>'
            f"<td>{sum(1 for w in v.waivers if w.status != 'expired')}</td>"
            f'<td data-page="{layout.page_of[v.name]}">{layout.page_of[v.name]}</td></tr>')
    head = ["environment", "kind", "keys", "open critical", "open high", "controls met",
            "not met", "unknown", "open post-apply findings", "PR gate", "last drill",
            "active waivers", "page"]
    notes = "".join(f'<div class="note">{_c(n)}</div>' for n in data.notes)
    return ('<section class="overview" id="overview"><h2>Estate overview</h2>'
            '<p class="lede">Per environment: where each key is, who can use it, how it is '
            "backed up and rotated, and when that was last proven. A control is "
            "<b>met</b> only when evidence says so; with no evidence it is <b>unknown</b>, "
            "and an unknown is never counted as met. Everything below is worst first.</p>"
            f"{_legend()}"
            "<h3>Controls by tier</h3><p class=\"sub\">Each key counts once per control "
            "(protection, access, audit, backup, rotation). Rows with a key not met come "
            "first, then rows with unknowns; the more sensitive tier first among equals.</p>"
            f"{_controls_table(overview, layout)}"
            "<h3>Worst environments</h3><p class=\"sub\">Ranked by open critical, then high "
            "failures (post-apply findings not acknowledged, gate results not waived, drills of "
            "the newest run that did not pass), then controls not met on the most sensitive "
            "tier, then unknowns.</p>"
            f"{_worst_table(overview, layout)}"
            "<h3>Every environment</h3>"
            f"{_table('overview', head, rows, 'estate-index')}{notes}</section>")


def _gate(gate: str | None) -> str:
    if gate is None:
        return '<span class="st unknown">no check results</span>'
    cls = "good" if gate == "pass" else "bad"
    return f'<span class="st {cls}">{_e(gate)}</span>'


def _environment(v: EnvView, data: ReportData) -> str:
    env = v.env
    facts = []
    if env.aws:
        replicas = f" (replicas {', '.join(env.aws.replica_regions)})" \
            if env.aws.replica_regions else ""
        facts.append(("AWS", f"account {env.aws.account_id}, {env.aws.region}{replicas}"))
    if env.gcp:
        facts.append(("GCP", f"project {env.gcp.project_id}, {env.gcp.location}"))
    facts.append(("inventory", env.source_file or "-"))
    facts.append(("drill evidence", env.evidence_location or f"./evidence/{env.name}"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_i(val)}</dd>" for k, val in facts)
    t = v.totals()
    open_f = sum(1 for f in v.findings if f.is_open)
    overdue = sum(1 for k in v.keys if k.rotation_state == "overdue")
    tiles = [
        ("good" if t[Mark.MET] else "", t[Mark.MET], "controls met"),
        ("bad" if t[Mark.NOT_MET] else "", t[Mark.NOT_MET], "not met"),
        ("warn" if t[Mark.UNKNOWN] else "", t[Mark.UNKNOWN], "unknown"),
        ("bad" if open_f else "", open_f, "open findings"),
        ("bad" if overdue else "", overdue, "rotations overdue"),
        ("", len(v.drills), "drill records"),
    ]
    tiles_html = "".join(f'<div class="tile {c}"><span class="n">{n}</span>'
                         f'<span class="l">{_e(lbl)}</span></div>' for c, n, lbl in tiles)
    desc = f'<p class="lede">{_c(env.description)}</p>' if env.description else ""
    return (f'<section class="env" id="env-{_slug(env.name)}" data-env="{_e(env.name)}">'
            f'<h2 id="h-{_slug(env.name)}">{_e(env.name)}<span class="kind">'
            f"{_e(env.kind.value)} environment</span></h2>{desc}"
            f'<dl class="facts">{dl}</dl><div class="tiles">{tiles_html}</div>'
            f"{_inventory(v)}{_rotation(v, data)}{_certs(v)}{_post_apply(v)}{_check(v)}"
            f"{_drills(v)}"
            f"{_env_waivers(v)}</section>")


# ---- inventory and control matrix -----------------------------------------------------------

def _cell(col: Column) -> str:
    attrs = f'class="cell {col.mark.css}" data-control="{_e(col.name)}" ' \
            f'data-mark="{_e(col.mark.value)}"'
    if len(col.results) == 1:
        r = col.results[0]
        return f"<td {attrs}>{_mark(r.mark)}<div class=\"why\">{_brk(_why(r))}</div></td>"
    parts = "".join(f'<span class="part"><span class="lbl">{_e(r.control.value)}</span>'
                    f"{_mark(r.mark)}</span>" for r in col.results)
    worst = next((r for r in col.results if r.mark is col.mark), col.results[0])
    return f"<td {attrs}>{parts}<div class=\"why\">{_brk(_why(worst))}</div></td>"


def _brk(text: str) -> str:
    """Escaped text that may break after `_`, `.` and `/` (long rule ids in narrow cells)."""
    return re.sub(r"([_./])", r"\1<wbr>", _c(text, 90))


def _why(r: ControlResult) -> str:
    if r.mark is Mark.NOT_MET:
        f = r.failing[0]
        return f"{f.ref}" + (f" (+{len(r.failing) - 1})" if len(r.failing) > 1 else "")
    if r.mark is Mark.MET:
        n = sum(1 for e in r.evidence if e.mark is Mark.MET)
        return f"{n} passed" + (f", {r.last_proven}" if r.last_proven else "")
    if r.mark is Mark.UNKNOWN:
        e = next((e for e in r.evidence if e.mark is Mark.UNKNOWN), None)
        if e is None:
            return r.reason
        return e.ref if e.source == "check" else e.message.rsplit(": ", 1)[-1]
    return r.reason


def _users(k: KeyView) -> str:
    lines = [f'<div><span class="mono">{_e(u)}</span> <span class="sub ident">{_i(ident)}'
             f"</span></div>" for u, ident in k.users]
    if not lines:
        lines.append('<div class="sub">no workload declared</div>')
    if k.observed_use or k.observed_admin:
        lines.append(f'<div class="sub">access review: {len(k.observed_use)} can use, '
                     f"{len(k.observed_admin)} can administer</div>")
    return "".join(lines)


def _due(k: KeyView) -> str:
    cls = {"overdue": "overdue", "due soon": "due-soon", "ok": "ok"}.get(k.rotation_state, "")
    extra = f" ({days_phrase(k.days_to_due)})" if k.days_to_due is not None else ""
    return (f'<div>{_c(k.rotation)}</div><div>next: <b>{_c(k.next_due)}</b>'
            f'{_e(extra)}</div><div class="st {cls}">{_e(k.rotation_state)}</div>')


def _proven(k: KeyView) -> str:
    parts = []
    if k.last_drill is not None:
        d = k.last_drill
        ok = "good" if d.outcome == "PASSED" else "bad"
        parts.append(f'<div>drill {_e(d.started_at[:10])} '
                     f'<span class="st {ok}">{_e(d.outcome.lower())}</span></div>')
    else:
        parts.append('<div class="sub">no drill</div>')
    for source, when in k.proven:
        parts.append(f'<div class="sub">{_e(source)} {_e(when)}</div>')
    return "".join(parts)


def _inventory(v: EnvView) -> str:
    head = ["key", "where", "who can use it", "how it is backed up", "how it is rotated",
            "last proven", *[name for name, _ in COLUMNS]]
    rows = []
    for tier, keys in v.by_tier():
        rows.append(f'<tr class="tier-row" data-tier="{_e(tier.value)}"><th colspan="{len(head)}">'
                    f'{_e(tier.value)}<span class="tierdesc">{_e(TIER_PURPOSE[tier])} \u00b7 '
                    f"{len(keys)} key(s)</span></th></tr>")
        for k in keys:
            key = k.key
            spec = f"{key.usage.value} / {key.spec}"
            desc = f'<div class="sub">{_c(key.description, 140)}</div>' if key.description else ""
            rows.append(
                f'<tr class="key" data-key="{_e(key.name)}" data-tier="{_e(tier.value)}">'
                f'<td><div class="keyname">{_e(key.name)}</div>{desc}'
                f'<div class="sub mono">{_e(key.cloud.value)} \u00b7 {_e(spec)}</div></td>'
                f'<td><div class="mono">{_i(k.where)}</div><div class="sub">{_c(k.protection)}'
                f"</div></td><td>{_users(k)}</td><td>{_c(k.backup)}</td><td>{_due(k)}</td>"
                f"<td>{_proven(k)}</td>{''.join(_cell(c) for c in k.columns)}</tr>")
    widths = (11, 12.5, 14, 10, 11, 8.5, 7.5, 7.5, 7.5, 10.5)
    cols = "".join(f'<col style="width:{w}%">' for w in widths)
    body = _table("inventory", head, rows).replace("<thead>", f"<colgroup>{cols}</colgroup>"
                                                   "<thead>", 1) if v.keys else \
        '<p class="empty">no keys declared</p>'
    return (f"<h3>Key inventory and controls</h3>{body}{_evidence(v)}")


def _evidence_rows(k: KeyView) -> list[str]:
    rows = []
    for control in Control:
        r = k.controls[control]
        shown: list[Evidence] = [e for e in r.evidence if e.mark is not Mark.MET]
        passes = [e for e in r.evidence if e.mark is Mark.MET]
        shown += passes[:MAX_PASSES_SHOWN]
        if not shown:
            rows.append(f'<tr><td>{_e(control.value)}</td><td>{_mark(r.mark)}</td>'
                        f'<td colspan="5" class="sub">{_c(r.reason or "no evidence")}</td></tr>')
            continue
        for e in shown:
            rows.append(f"<tr><td>{_e(control.value)}</td><td>{_mark(e.mark)}</td>"
                        f"<td>{_e(e.source)}</td><td class=\"mono\">{_i(e.ref)}</td>"
                        f"<td>{_c(e.message)}</td><td class=\"nowrap\">{_e(e.when or '-')}</td>"
                        f"<td>{_c(e.note or '')}</td></tr>")
        if len(passes) > MAX_PASSES_SHOWN:
            rows.append(f'<tr><td>{_e(control.value)}</td><td></td><td colspan="5" class="sub">'
                        f"+{len(passes) - MAX_PASSES_SHOWN} more passing result(s)</td></tr>")
    return rows


def _evidence(v: EnvView) -> str:
    if not v.keys:
        return ""
    parts = []
    for k in v.keys:
        parts.append(f'<h4 id="ev-{_slug(v.name)}-{_slug(k.name)}">{_e(k.name)}</h4>')
        parts.append(_table("evidence", ["control", "mark", "source", "rule / check", "evidence",
                                         "date", "note"], _evidence_rows(k)))
    n = sum(len(r.evidence) for k in v.keys for r in k.controls.values())
    return (f'<details class="evidence"><summary>Evidence behind each mark ({n} item(s))'
            f"</summary>{''.join(parts)}</details>")


# ---- rotation -------------------------------------------------------------------------------

def _rotation(v: EnvView, data: ReportData) -> str:
    rows = []
    for k in v.keys:
        key = k.key
        cur = key.current_generation()
        age = age_days(cur.created_on if cur else None, data.as_of)
        limit = (f"period {key.rotation_period_in_days} d"
                 if key.rotation_period_in_days is not None
                 else f"max age {key.max_key_age_in_days} d")
        gens = ", ".join(f"g{g.generation} {key.generation_state(g).value}"
                         for g in sorted(key.generations, key=lambda g: -g.generation)) or "-"
        cls = {"overdue": "overdue", "due soon": "due-soon", "ok": "ok"}.get(k.rotation_state,
                                                                            "")
        rows.append(
            f'<tr data-key="{_e(key.name)}"><td class="keyname">{_e(key.name)}</td>'
            f"<td>{_e(key.rotation_mode.value)}</td><td>{_e(gens)}</td>"
            f'<td class="nowrap">{_e(cur.created_on.isoformat()) if cur else "-"}</td>'
            f"<td>{_e(f'{age} d') if age is not None else '-'}</td><td>{_e(limit)}</td>"
            f'<td class="nowrap">{_c(k.next_due)}</td>'
            f'<td><span class="st {cls}">{_e(k.rotation_state)}</span> '
            f"{_e(days_phrase(k.days_to_due))}</td></tr>")
    table = _table("rotation", ["key", "mode", "generations", "current since", "age", "limit",
                                "next due", "state"], rows)
    chart = _chart(timeline_svg([k.key for k in v.keys], data.as_of,
                                chart_id=f"timeline-{_slug(v.name)}")) if v.keys else ""
    return f"<h3>Rotation</h3>{table}{chart}"


# ---- certificates ---------------------------------------------------------------------------

CERTS_HEAD = ["generation", "state", "created", "verify-only until", "usable until",
              "certificate (subject)", "serial", "not before", "not after", "source",
              "findings"]


def _certs(v: EnvView) -> str:
    """Per key with certificates: each generation (created, verify-only and usable-until
    dates) and the certificates bound to it, the flagged ones marked with their findings."""
    if v.certs_run is None:
        return ""
    run = v.certs_run
    meta = (f'<div class="sub">{_e(run.command)} {_e(run.when)}, judged at '
            f"{_e(run.certs_at or '?')} \u00b7 <span class=\"mono\">{_i(run.file.path)}"
            "</span></div>")
    if not v.certs:
        return (f"<h3>Certificates by key generation</h3>{meta}<p class=\"empty\">no key of "
                "this environment has certificates in that report</p>")
    parts = []
    for k in v.certs:
        certs = k.certificates
        flagged = sum(1 for c in certs if c.flagged)
        age = f" \u00b7 max age {k.max_key_age_in_days} d" if k.max_key_age_in_days else ""
        parts.append(
            f'<h4 id="certs-{_slug(v.name)}-{_slug(k.key)}" data-key="{_e(k.key)}">'
            f'<span class="keyname">{_e(k.key)}</span> <span class="sub">{_e(k.tier or "?")} '
            f"\u00b7 {_e(k.cloud or '?')} \u00b7 owner {_i(k.owner or 'none declared')}{age} "
            f"\u00b7 {len(certs)} certificate(s), {flagged} flagged</span></h4>")
        rows = []
        for g in k.generations:
            gen = g.generation
            cells = (f'<td class="keyname">{_e(g.label)}</td><td>{_e(gen.state)}</td>'
                     f'<td class="nowrap">{_e(gen.created_on or "-")}</td>'
                     f'<td class="nowrap">{_e(gen.verify_until or "-")}</td>'
                     f'<td class="nowrap">{_e(gen.use_ends or "-")}</td>')
            if not g.certificates:
                rows.append(f'<tr class="gen" data-generation="{_e(g.label)}">{cells}'
                            '<td colspan="6" class="sub">no certificates</td></tr>')
            for c in g.certificates:
                rows.append(_cert_row(c, cells, g.label))
        blank = '<td colspan="5" class="sub">{}</td>'
        for c in k.unmatched:
            where = (f"held by the declared CA {_i(c.cert.held_by)}" if c.cert.held_by
                     else "no generation of the inventory")
            rows.append(_cert_row(c, blank.format(where), "none"))
        parts.append(_table("certs", CERTS_HEAD, rows))
    return f"<h3>Certificates by key generation</h3>{meta}{''.join(parts)}"


def _cert_row(c: CertView, gen_cells: str, generation: str) -> str:
    cert = c.cert
    marks = [f'<div><span class="sev {_e(f.severity)}">{_e(f.severity)}</span> '
             f'<span class="mono">{_e(f.rule_id)}</span>'
             f"{' (acknowledged)' if f.acknowledged else ''}</div>" for f in c.findings]
    marks += [f'<div><span class="st unknown">unknown</span> <span class="mono">'
              f"{_e(u.rule_id)}</span></div>" for u in c.unknowns]
    judged = {f.rule_id for f in c.findings}
    marks += [f'<div><span class="st bad">fails</span> <span class="mono">{_e(r)}</span></div>'
              for r in cert.failed if r not in judged]
    flag = "flagged" if c.flagged else "ok"
    shown = "".join(marks) or '<span class="st good">none</span>'
    return (f'<tr class="cert {flag}" data-cert="{_e(cert.id)}" data-generation="{_e(generation)}"'
            f' data-flagged="{"yes" if c.flagged else "no"}">{gen_cells}'
            f"<td>{_c(cert.subject or '(empty subject)', 200)}</td>"
            f'<td class="mono">{_i(cert.serial or "-")}</td>'
            f'<td class="nowrap">{_e(cert.not_before[:10])}</td>'
            f'<td class="nowrap">{_e(cert.not_after[:10])}</td>'
            f'<td><div>{_e(cert.source)}</div><div class="mono sub">{_i(cert.id)}</div></td>'
            f"<td>{shown}</td></tr>")


# ---- drift and access review ----------------------------------------------------------------

def _post_apply(v: EnvView) -> str:
    if not v.runs:
        return ("<h3>Drift and access review</h3><p class=\"empty\">no post-apply, drift or "
                "access-review report was given for this environment (--post-apply-json)</p>")
    by_run: dict[int, tuple[PostApplyRun, list[str]]] = {}
    for section, run in v.runs.items():
        by_run.setdefault(id(run), (run, []))[1].append(section)
    meta = []
    for r, sections in by_run.values():
        stopped = f" \u00b7 stopped: {_c(r.stopped)}" if r.stopped else ""
        meta.append(f'<div class="sub">latest {_e(", ".join(sections))}: '
                    f"<b>{_e(r.command)}</b> {_e(r.when)} \u00b7 outcome "
                    f"<b>{_e(r.outcome or '?')}</b> \u00b7 {len(r.checked)} resource(s) read "
                    f"\u00b7 <span class=\"mono\">{_i(r.file.path)}</span>{stopped}</div>")
    rows = []
    for f in v.findings:
        state = ('<span class="st good">acknowledged</span> <span class="sub">'
                 f"{_c(f.acknowledged.get('reason', ''), 120)} ({_i(f.acknowledged.get('owner', '?'))}"
                 f", until {_c(f.acknowledged.get('expires', '?'))})</span>"
                 if f.acknowledged else '<span class="st bad">open</span>')
        days = f" \u00b7 {f.days_left} day(s) left" if f.days_left is not None else ""
        rows.append(f'<tr data-check="{_e(f.rule_id)}"><td><span class="sev {_e(f.severity)}">'
                    f"{_e(f.severity)}</span></td><td class=\"mono\">{_e(f.rule_id)}</td>"
                    f"<td class=\"mono\">{_e(f.key or '-')}</td>"
                    f"<td class=\"mono\">{_i(f.resource)}{_e(' ' + f.region) if f.region else ''}</td>"
                    f"<td>{_c(f.reason)}{_e(days)}</td><td>{state}</td></tr>")
    findings = _table("findings", ["severity", "check", "key", "resource", "finding", "status"],
                      rows) if rows else '<p class="empty">no findings in the latest reports</p>'
    unknowns = ""
    if v.unknowns:
        urows = [f"<tr><td class=\"mono\">{_e(u.key or '-')}</td><td class=\"mono\">"
                 f"{_i(u.resource)}</td><td>{_c(u.reason)}</td></tr>" for u in v.unknowns]
        unknowns = ("<h4>Not read (unknown, never clean)</h4>"
                    + _table("unknowns", ["key", "resource", "reason"], urows))
    access = ""
    if v.access:
        arows = []
        for row in v.access:
            use = "".join(f"<div>{_i(p)}</div>" for p in row.get("use") or []) or "-"
            adm = "".join(f"<div>{_i(p)}</div>" for p in row.get("administer") or []) or "-"
            arows.append(f"<tr><td class=\"mono\">{_i(row.get('key', '?'))}</td>"
                         f'<td class="mono">{use}</td><td class="mono">{adm}</td></tr>')
        access = ("<h4>Who can use and administer each key (access review)</h4>"
                  + _table("access", ["key", "can use", "can administer"], arows))
    return f"<h3>Drift and access review</h3>{''.join(meta)}{findings}{unknowns}{access}"


# ---- PR gate --------------------------------------------------------------------------------

def _check(v: EnvView) -> str:
    if v.check is None:
        return ("<h3>PR gate (keyplane check)</h3><p class=\"empty\">no check results were given "
                "for this environment (--check-json)</p>")
    c = v.check_counts
    counts = " \u00b7 ".join(f"{_e(s.lower().replace('_', ' '))} {c[s]}"
                             for s in ("PASS", "FAIL", "UNKNOWN", "ERROR", "NOT_APPLICABLE")
                             if c[s])
    meta = (f'<div class="sub">gate <b>{_gate(v.check.gate)}</b> at fail level '
            f"{_e(v.check.fail_level or '?')} \u00b7 {counts} \u00b7 "
            f'<span class="mono">{_i(v.check.file.path)}</span>'
            f"{' of ' + _e(v.check.file.modified.isoformat()) if v.check.file.modified else ''}"
            "</div>")
    rows = []
    for f in v.check_findings[:MAX_CHECK_ROWS]:
        waived = f'<div class="sub">waived by {_i(f.waived_by)}</div>' if f.waived_by else ""
        rows.append(f'<tr data-rule="{_e(f.rule_id)}"><td><span class="st {_e(f.status)}">'
                    f"{_e(f.status)}</span></td><td><span class=\"sev {_e(f.severity)}\">"
                    f"{_e(f.severity)}</span></td><td class=\"mono\">{_e(f.rule_id)}</td>"
                    f"<td class=\"mono\">{_i(f.construct_path or f.address or f.resource or '-')}"
                    f"</td><td>{_c(f.reason)}{waived}</td></tr>")
    more = len(v.check_findings) - MAX_CHECK_ROWS
    tail = f'<p class="sub">+{more} more not shown</p>' if more > 0 else ""
    table = _table("check", ["status", "severity", "rule", "resource", "result"], rows) \
        if rows else '<p class="empty">every applicable rule passed</p>'
    return f"<h3>PR gate (keyplane check)</h3>{meta}{table}{tail}"


# ---- drills ---------------------------------------------------------------------------------

def _drills(v: EnvView) -> str:
    note = f'<div class="note">{_c(v.drill_note)}</div>' if v.drill_note else ""
    if not v.drills:
        return (f"<h3>Restore drills</h3>{note}<p class=\"empty\">no drill evidence for this "
                "environment: every backup control stays unknown until a drill proves it</p>")
    chart = _chart(rto_svg(v.drills, chart_id=f"rto-{_slug(v.name)}"))
    rows = []
    for d in sorted(v.drills, key=lambda d: d.started_at, reverse=True)[:MAX_DRILL_ROWS]:
        rows.append(_drill_row(d))
    outcomes = Counter(d.outcome for d in v.drills)
    summary = " \u00b7 ".join(f"{_e(o.lower())} {n}" for o, n in sorted(outcomes.items()))
    kinds = sorted({d.kind for d in v.drills if d.kind in DRILL_PROVES})
    proves = "".join(f'<li data-kind="{_e(k)}"><b>{_e(k)}</b>: {_e(DRILL_PROVES[k])}</li>'
                     for k in kinds)
    return (f"<h3>Restore drills</h3>{note}<div class=\"sub\">{len(v.drills)} record(s): "
            f"{summary}</div><div class=\"proves sub\">A passing drill proves:<ul>{proves}</ul></div>"
            f"{chart}"
            + _table("drills", ["started", "kind", "key", "tier", "outcome", "recovery time",
                                "deadline", "recovery point age", "run by", "reason"], rows))


def _drill_row(d: DrillResult) -> str:
    ok = "good" if d.outcome == "PASSED" else "unknown" if d.outcome == "SKIPPED" else "bad"
    gen = f" g{d.generation}" if d.generation is not None else ""
    return (f'<tr data-drill="{_e(d.kind)}"><td class="nowrap">{_e(d.started_at[:16])}</td>'
            f"<td>{_e(d.kind)}</td><td class=\"mono\">{_e((d.key or '(environment)') + gen)}</td>"
            f"<td>{_e(d.tier or '-')}</td><td><span class=\"st {ok}\">{_e(d.outcome)}</span></td>"
            f"<td>{_e(fmt_seconds(d.rto_seconds))}</td><td>{_e(fmt_seconds(d.deadline_seconds))}</td>"
            f"<td>{_e(fmt_seconds(d.rpo_seconds))}</td><td class=\"mono\">{_i(d.identity)}</td>"
            f"<td>{_c(d.reason, 200)}</td></tr>")


# ---- waivers --------------------------------------------------------------------------------

def _waiver_rows(waivers: Sequence[WaiverView], with_envs: bool,
                 env: str | None = None) -> list[str]:
    rows = []
    for w in waivers:
        exp = w.expires.isoformat() if w.expires else "unknown"
        phrase = days_phrase(w.days_left)
        envs = f"<td>{_e(', '.join(w.environments) or 'none')}</td>" if with_envs else ""
        rows.append(f'<tr data-waiver="{_e(w.rule)}:{_e(w.resource)}" data-status="{_e(w.status)}">'
                    f'<td class="mono">{_e(w.rule)}</td><td class="mono">{_i(w.resource)}</td>'
                    f"<td class=\"ident\">{_i(w.owner)}</td><td>{_c(w.reason, 200)}</td>"
                    f'<td class="nowrap">{_e(exp)} <span class="sub">{_e(phrase)}</span></td>'
                    f'<td><span class="st {_e(w.status)}">{_e(w.status)}</span></td>'
                    f"<td>{w.covers_by_env.get(env, 0) if env else w.covers}</td>{envs}</tr>")
    return rows


WAIVER_HEAD = ["rule", "resource", "owner", "reason", "expires", "status", "findings covered"]


def _env_waivers(v: EnvView) -> str:
    if not v.waivers:
        return "<h3>Waivers</h3><p class=\"empty\">no waiver covers a result of this environment</p>"
    return "<h3>Waivers</h3>" + _table("waivers", WAIVER_HEAD, _waiver_rows(v.waivers, False, v.name))


def _all_waivers(waivers: Sequence[WaiverView]) -> str:
    if not waivers:
        return ""
    return ('<section class="all-waivers"><h2>All waivers</h2><p class="lede">Every waiver of '
            "the waivers file, including those that matched nothing and those that expired "
            "(an expired waiver no longer applies).</p>"
            + _table("waivers all", [*WAIVER_HEAD, "environments"], _waiver_rows(waivers, True))
            + "</section>")


def _footer(data: ReportData) -> str:
    rows = [f"<tr><td>{_e(f.kind)}</td><td class=\"mono\">{_i(f.path)}</td>"
            f"<td class=\"mono\">{_e(f.sha256[:16] if f.sha256 else '-')}</td>"
            f"<td>{_e(f.modified.isoformat() if f.modified else '-')}</td></tr>"
            for f in data.inputs]
    inputs = _table("inputs", ["input", "path", "sha-256 (first 16)", "modified"], rows) \
        if rows else '<p class="empty">the inventory only</p>'
    return ('<footer><h3 id="inputs">Inputs</h3>'
            f"{inputs}<p>Generated by <b>keyplane report</b> from the "
            "inventory and the files above; it never calls a cloud. Marks are evidence, not "
            "intent: a declaration counts as met only where the synthesized stack's check "
            "results or a deployed read confirm it.</p></footer>")
