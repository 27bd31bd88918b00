"""Inline SVG charts: a timeline of key generations and an RTO chart of restore drills.

Plain SVG strings with a viewBox, no script and no external font or stylesheet, so
they draw offline in any browser and print. Every value is escaped. Each mark has a
<title> so a reader can hover for the exact dates; the legend names every shape.

SVG text does not wrap and an SVG cannot measure it before it is drawn, so the geometry
is sized from a generous estimate of each label's width (`text_width`): label columns
grow with the longest label, and nothing is placed where it would cross the frame or
another label.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from keyplane.audit.evidence import DrillResult
from keyplane.model.environment import KeyDecl
from keyplane.model.tiers import RotationMode, Tier

WIDTH = 1400  # the least viewBox width; a chart with long labels is wider
MIN_PLOT_W = 700  # the least width of the plotted area, however long the labels
LABEL_GAP = 14  # between a row's key name and its tier
EDGE = 8  # between a label and the frame
RIGHT_PAD = 32  # room for a month label drawn just right of the last tick
ROW_H = 22
TOP = 34
TIMELINE_TOP = 50  # room for the as-of label above the month labels
MAX_PAST_DAYS = 3 * 366  # older history is clipped (with an arrow) to keep recent years legible
MAX_FUTURE_DAYS = 400  # due dates further out are written, not drawn


def _e(value: object) -> str:
    return escape(str(value), quote=True)


# Advance per character as a share of the font size, at the wide end of the fonts the
# stylesheet may resolve to (DejaVu Sans is the widest common fallback): an estimate that
# is too wide costs some white space, one that is too narrow makes labels collide.
_MONO_EM, _SANS_EM, _BOLD_EM = 0.62, 0.64, 0.72


def text_width(s: str, size: float, *, mono: bool = False, bold: bool = False) -> float:
    """An upper estimate of the width of `s` drawn at `size` px."""
    em = _MONO_EM if mono else _BOLD_EM if bold else _SANS_EM
    return len(s) * size * em


def _text(x: float, y: float, s: str, cls: str = "", anchor: str = "start") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}>{_e(s)}</text>'


def _rect(x: float, y: float, w: float, h: float, cls: str, title: str) -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 1.5):.1f}" height="{h:.1f}" '
            f'class="{cls}"><title>{_e(title)}</title></rect>')


@dataclass(frozen=True)
class _Scale:
    start: dt.date
    end: dt.date
    x0: float
    x1: float

    def x(self, d: dt.date) -> float:
        span = max((self.end - self.start).days, 1)
        days = min(max((d - self.start).days, 0), span)
        return self.x0 + (self.x1 - self.x0) * days / span

    def inside(self, d: dt.date) -> bool:
        return self.start <= d <= self.end


def _range(keys: Sequence[KeyDecl], as_of: dt.date) -> tuple[dt.date, dt.date]:
    dates = [g.created_on for k in keys for g in k.generations]
    start = min(dates, default=as_of - dt.timedelta(days=365))
    start = max(start - dt.timedelta(days=30), as_of - dt.timedelta(days=MAX_PAST_DAYS))
    future = [as_of + dt.timedelta(days=60)]
    for k in keys:
        due = k.next_rotation_due()
        if due is not None:
            future.append(due)
        future += [g.verify_until for g in k.generations if g.verify_until]
    horizon = as_of + dt.timedelta(days=MAX_FUTURE_DAYS)
    end = min(max(future) + dt.timedelta(days=20), horizon)
    return start, end


def _month_ticks(s: _Scale, top: float, bottom: float) -> list[str]:
    out = []
    months = (s.end.year - s.start.year) * 12 + s.end.month - s.start.month
    step = 1 if months <= 8 else 2 if months <= 16 else 3 if months <= 30 else 6
    d = dt.date(s.start.year, s.start.month, 1)
    while d <= s.end:
        if d >= s.start and (d.month - 1) % step == 0:
            x = s.x(d)
            cls = "grid year" if d.month == 1 else "grid"
            out.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" '
                       f'class="{cls}"/>')
            label = str(d.year) if d.month == 1 else d.strftime("%b")
            out.append(_text(x + 2, top - 4, label, "tick"))
        d = dt.date(d.year + (d.month // 12), d.month % 12 + 1, 1)
    return out


def timeline_label_width(keys: Sequence[KeyDecl]) -> float:
    """The width of the label column: the longest key name, a gap, the longest tier name."""
    name = max((text_width(k.name, 11, mono=True) for k in keys), default=0.0)
    tier = max((text_width(k.tier.value, 10) for k in keys), default=0.0)
    return EDGE + name + LABEL_GAP + tier + EDGE


def timeline_svg(keys: Sequence[KeyDecl], as_of: dt.date, *, chart_id: str) -> str:
    """Generations per key (created, verify-only window, disabled), rotations, due dates, as-of."""
    start, end = _range(keys, as_of)
    label_w = timeline_label_width(keys)
    width = round(max(WIDTH, label_w + MIN_PLOT_W + RIGHT_PAD))
    s = _Scale(start, end, label_w, width - RIGHT_PAD)
    top = TIMELINE_TOP
    height = top + ROW_H * max(len(keys), 1) + 44
    bottom = top + ROW_H * max(len(keys), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline" id="{_e(chart_id)}"'
             f' viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="generation and rotation timeline">',
             f"<title>Generations and rotations, as of {as_of.isoformat()}</title>"]
    parts += _month_ticks(s, top - 6, bottom)
    for i, key in enumerate(keys):
        y = top + i * ROW_H
        mid = y + ROW_H / 2
        if i % 2:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW_H}" class="band"/>')
        parts.append(_text(EDGE, mid + 4, key.name, "rowlabel"))
        # Right-aligned against the plot, so it starts after the longest name, never on it.
        parts.append(_text(label_w - EDGE, mid + 4, key.tier.value, "tierlabel", "end"))
        parts += _key_marks(key, s, y, as_of)
    x = s.x(as_of)
    parts.append(f'<line x1="{x:.1f}" y1="{top - 30}" x2="{x:.1f}" y2="{bottom + 2}" '
                 f'class="asof"><title>as of {as_of.isoformat()}</title></line>')
    label = f"as of {as_of.isoformat()}"
    half = text_width(label, 10.5, bold=True) / 2
    # Centred on the line where it fits; pushed inside the frame near either edge.
    parts.append(_text(min(max(x, half + EDGE), width - half - EDGE), top - 34, label,
                       "asoflabel", "middle"))
    parts += _timeline_legend(bottom + 22)
    parts.append("</svg>")
    return "".join(parts)


def _key_marks(key: KeyDecl, s: _Scale, y: float, as_of: dt.date) -> list[str]:
    out: list[str] = []
    # Two lanes: earlier generations above, the current one below, because a verify-only
    # window overlaps the life of the generation that replaced it.
    bar_y, bar_h = y + 11, ROW_H - 15
    prev_y, prev_h = y + 4, 6.0
    if key.rotation_mode is RotationMode.AUTOMATIC or not key.generations:
        out.append(_rect(s.x0, y + ROW_H / 2 - 1, s.x1 - s.x0, 2, "auto",
                         f"{key.name}: automatic rotation every {key.rotation_period_in_days} d"))
        out.append(_text(s.x0 + 6, y + ROW_H / 2 - 3,
                         f"automatic every {key.rotation_period_in_days} d (cloud-managed)",
                         "autolabel"))
        return out
    gens = sorted(key.generations, key=lambda g: g.generation)
    for idx, g in enumerate(gens):
        nxt = gens[idx + 1].created_on if idx + 1 < len(gens) else None
        state = key.generation_state(g).value
        label = f"{key.name} g{g.generation} ({state}), created {g.created_on.isoformat()}"
        if not s.inside(g.created_on) and g.created_on < s.start:
            out.append(_text(s.x0 + 2, bar_y + bar_h - 1, "\u2039", "clip"))
        if state == "current":
            due = key.next_rotation_due()
            live_end = as_of
            out.append(_rect(s.x(g.created_on), bar_y, s.x(live_end) - s.x(g.created_on), bar_h,
                             "gen-current", label))
            if due is not None:
                if due > as_of:
                    out.append(_rect(s.x(as_of), bar_y, s.x(due) - s.x(as_of), bar_h,
                                     "gen-planned", f"{label}; rotation due {due.isoformat()}"))
                out.append(_due_marker(s, due, y, as_of, key))
        else:
            active_end = nxt or as_of
            out.append(_rect(s.x(g.created_on), prev_y, s.x(active_end) - s.x(g.created_on),
                             prev_h, "gen-previous", f"{label}, superseded "
                             f"{active_end.isoformat()}"))
            until = g.verify_until or (as_of if g.enabled else active_end)
            if until > active_end:
                out.append(_rect(s.x(active_end), prev_y, s.x(until) - s.x(active_end), prev_h,
                                 "gen-verify", f"{key.name} g{g.generation} verify-only until "
                                 f"{until.isoformat()}"))
            if not g.enabled:
                xd = s.x(max(until, active_end))
                out.append(f'<path d="M{xd - 3:.1f},{prev_y - 1:.1f} l6,{prev_h + 2:.1f} '
                           f'm0,-{prev_h + 2:.1f} l-6,{prev_h + 2:.1f}" class="disabled"><title>'
                           f"{_e(key.name)} g{g.generation} disabled</title></path>")
        if idx > 0 and s.inside(g.created_on):
            xr = s.x(g.created_on)
            out.append(f'<path d="M{xr:.1f},{y + 11:.1f} l-4,-6 h8 z" class="rotation">'
                       f'<title>rotation to g{g.generation} on {g.created_on.isoformat()}'
                       f"</title></path>")
    return out


def _due_marker(s: _Scale, due: dt.date, y: float, as_of: dt.date, key: KeyDecl) -> str:
    cls = "due overdue" if due < as_of else "due"
    if due > s.end:
        return _text(s.x1 - 2, y + ROW_H / 2 + 4, f"due {due.isoformat()} \u203a", "duelabel",
                     "end")
    x, m = s.x(due), y + ROW_H / 2
    return (f'<path d="M{x:.1f},{m - 6:.1f} l6,6 l-6,6 l-6,-6 z" class="{cls}"><title>'
            f"{_e(key.name)} rotation due {due.isoformat()}</title></path>")


def _timeline_legend(y: float) -> list[str]:
    items = [("gen-current", "current generation"), ("gen-planned", "remaining life"),
             ("gen-previous", "previous generation"), ("gen-verify", "verify-only window")]
    out, x = [], float(EDGE)
    for cls, label in items:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="14" height="10" class="{cls}"/>')
        out.append(_text(x + 18, y, label, "legend"))
        x += 18 + text_width(label, 10.5) + 16
    shapes = [
        (f'<path d="M{{x:.1f}},{y - 9:.1f} l8,10 m0,-10 l-8,10" class="disabled"/>', "disabled"),
        (f'<path d="M{{x5:.1f}},{y:.1f} l-4,-6 h8 z" class="rotation"/>', "rotation"),
        (f'<path d="M{{x5:.1f}},{y - 10:.1f} l5,5 l-5,5 l-5,-5 z" class="due"/>', "due"),
        (f'<path d="M{{x5:.1f}},{y - 10:.1f} l5,5 l-5,5 l-5,-5 z" class="due overdue"/>',
         "overdue"),
        (f'<line x1="{{x:.1f}}" y1="{y - 11:.1f}" x2="{{x:.1f}}" y2="{y + 1:.1f}" class="asof"/>',
         "as of"),
    ]
    for shape, label in shapes:
        out.append(shape.format(x=x + 4, x5=x + 5))
        out.append(_text(x + 16, y, label, "legend"))
        x += 16 + text_width(label, 10.5) + 16
    return out


# ---- RTO chart ------------------------------------------------------------------------------

RTO_LABEL_W = 400  # the least width of the label column
RTO_VALUE_W = 260  # the least room right of the 150 % line for a bar's words
MAX_DRILL_ROWS = 24


def _tier_rank(tier: str | None) -> int:
    try:
        return Tier(tier).rank if tier else -1
    except ValueError:
        return -1


def rto_rows(drills: Sequence[DrillResult]) -> list[DrillResult]:
    """The drills the RTO chart draws: timed ones, newest first, grouped by tier."""
    timed = [d for d in drills if d.rto_seconds is not None or d.deadline_seconds is not None]
    recent = sorted(timed, key=lambda d: d.started_at, reverse=True)[:MAX_DRILL_ROWS]
    return sorted(recent, key=lambda d: (-_tier_rank(d.tier), d.deadline_seconds or 0,
                                         d.started_at), reverse=False)


def _rto_label(d: DrillResult) -> str:
    """`2026-11-15 replica code-signing@us-west-2 g4`: what was drilled, when."""
    gen = f" g{d.generation}" if d.generation is not None else ""
    return f"{d.started_at[:10]} {d.kind} {d.key or '(environment)'}{gen}"


def _rto_text(d: DrillResult) -> str:
    """`95s of 15m · passed`: the words written after a drill's bar."""
    rto, dl = d.rto_seconds, d.deadline_seconds
    return (f"{_dur(rto) if rto is not None else 'no recovery'}"
            f"{' of ' + _dur(dl) if dl else ''} \u00b7 {d.outcome.lower()}")


def _dur(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:g}h"


MAX_RATIO = 1.5  # bars past 150% of the deadline are cut (with their value written)


def rto_svg(drills: Sequence[DrillResult], *, chart_id: str) -> str:
    """One bar per drill: the share of its tier's deadline it took to recover.

    Deadlines range from minutes (a sign canary) to hours (a CloudHSM cluster restore),
    so each bar is drawn against its own deadline and one dashed line marks 100 %;
    the label gives the absolute times.
    """
    rows = rto_rows(drills)
    labels = [_rto_label(d) for d in rows]
    texts = [_rto_text(d) for d in rows]
    # Columns as wide as their longest words: a long key name or outcome never runs into
    # a bar or out of the frame.
    label_w = max([RTO_LABEL_W, *(EDGE + text_width(t, 11, mono=True) + 2 * EDGE
                                  for t in labels)])
    value_w = max([RTO_VALUE_W, *(5 + text_width(t, 10.5) + 2 * EDGE for t in texts)])
    width = round(max(WIDTH, label_w + MIN_PLOT_W / 2 + value_w))
    x0, x1 = float(label_w), float(width - value_w)
    height = TOP + ROW_H * max(len(rows), 1) + 46
    bottom = TOP + ROW_H * max(len(rows), 1)

    def x(ratio: float) -> float:
        return x0 + (x1 - x0) * min(max(ratio, 0.0), MAX_RATIO) / MAX_RATIO

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart rto" id="{_e(chart_id)}" '
             f'viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="restore drill recovery times against deadlines">',
             "<title>Restore drills: recovery time as a share of the tier deadline</title>"]
    for pct in (0, 25, 50, 75, 100, 125, 150):
        xv = x(pct / 100)
        parts.append(f'<line x1="{xv:.1f}" y1="{TOP - 6}" x2="{xv:.1f}" y2="{bottom}" '
                     f'class="grid"/>')
        parts.append(_text(xv, TOP - 10, f"{pct}%", "tick", "middle"))
    for i, (d, label, text) in enumerate(zip(rows, labels, texts, strict=True)):
        y = TOP + i * ROW_H
        if i % 2:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW_H}" class="band"/>')
        when = d.started_at[:10]
        parts.append(_text(EDGE, y + ROW_H / 2 + 4, label, "rowlabel"))
        rto, dl = d.rto_seconds, d.deadline_seconds
        over = rto is not None and dl is not None and rto > dl
        cls = "bar-pass" if d.outcome == "PASSED" and not over else \
            "bar-unknown" if d.outcome == "SKIPPED" else "bar-fail"
        title = f"{d.kind} {d.key or ''} {when}: {text}"
        if rto is not None and dl:
            parts.append(_rect(x0, y + 5, x(rto / dl) - x0, ROW_H - 10, cls, title))
            parts.append(_text(x(rto / dl) + 5, y + ROW_H / 2 + 4, text, "barlabel"))
        else:
            # No recovery time (the drill stopped before recovering) or no deadline: a
            # marker at the origin and the words, never a bar that suggests a duration.
            parts.append(f'<circle cx="{x0 + 4:.1f}" cy="{y + ROW_H / 2:.1f}" r="4" '
                         f'class="{cls}"><title>{_e(title)}</title></circle>')
            parts.append(_text(x0 + 12, y + ROW_H / 2 + 4, text, "barlabel"))
    xd = x(1.0)
    parts.append(f'<line x1="{xd:.1f}" y1="{TOP - 4}" x2="{xd:.1f}" y2="{bottom}" '
                 'class="deadline"><title>the tier deadline of each drill</title></line>')
    parts.append(_text(xd, bottom + 12, "tier deadline", "deadlinelabel", "middle"))
    ly, lx = bottom + 30, float(EDGE)
    for cls, words in (("bar-pass", "passed within deadline"),
                       ("bar-fail", "failed, timed out or over deadline"),
                       ("bar-unknown", "skipped")):
        parts.append(f'<rect x="{lx:.1f}" y="{ly - 9}" width="14" height="10" class="{cls}"/>')
        parts.append(_text(lx + 18, ly, words, "legend"))
        lx += 18 + text_width(words, 10.5) + 16
    parts.append(f'<line x1="{lx + 4:.1f}" y1="{ly - 11}" x2="{lx + 4:.1f}" y2="{ly + 1}" '
                 'class="deadline"/>')
    parts.append(_text(lx + 12, ly, "deadline (100 %)", "legend"))
    parts.append("</svg>")
    return "".join(parts)
