"""Markdown: for the gate, sized for a pull-request comment (a summary table and collapsed
details per area); for post-apply, its own summary (`keyplane.postapply.report`)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from keyplane.findings import Finding, Status
from keyplane.policy.engine import Report
from keyplane.reporters import SHOWN, verdict

if TYPE_CHECKING:
    from keyplane.postapply.report import Report as PostApplyReport

# GitHub limits a comment to 65,536 characters; keep a margin for the note.
MAX_BYTES = 60_000


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _row(f: Finding) -> str:
    mark = "waived" if f.waived_by else ("**gate**" if f.gate else "")
    return (f"| {f.status.value} {mark} | {f.severity.value} | `{f.rule_id}` | "
            f"`{_cell(f.resource)}` | {f.tier.value if f.tier else '-'} | {_cell(f.reason)} |")


def render(report: Report | PostApplyReport) -> str:
    """The gate's comment body (past MAX_BYTES the rest is cut with a note saying how much),
    or post-apply's Markdown summary."""
    if not isinstance(report, Report):
        from keyplane.postapply.report import render_markdown

        return render_markdown(report)
    icon = "❌" if report.failed else "✅"
    head = [f"## {icon} keyplane check: {verdict(report)}", "",
            f"{report.resources} resource(s) in {len(report.files)} file(s), "
            f"{len(report.rules)} rule(s).", ""]
    by_area: dict[str, list[Finding]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in report.findings:
        counts[f.area][f.status.value] += 1
        if f.status.value in SHOWN:
            by_area[f.area].append(f)
    cols = [Status.FAIL, Status.UNKNOWN, Status.ERROR, Status.PASS, Status.NOT_APPLICABLE]
    head.append("| area | " + " | ".join(c.value for c in cols) + " |")
    head.append("|---" * (len(cols) + 1) + "|")
    for area in sorted(counts):
        head.append(f"| {area} | " + " | ".join(str(counts[area][c.value]) for c in cols) + " |")
    head.append("")
    for w in report.warnings:
        head.append(f"> warning: {_cell(w.render())}")
    body = "\n".join(head) + "\n"
    total = sum(len(v) for v in by_area.values())
    written = 0
    for area in sorted(by_area, key=lambda a: (-sum(f.gate for f in by_area[a]), a)):
        items = sorted(by_area[area], key=lambda f: (not f.gate, -f.severity.rank, f.resource))
        gating = sum(f.gate for f in items)
        part = [f"<details><summary><b>{area}</b>: {len(items)} finding(s), {gating} failing "
                "the gate</summary>", "",
                "| status | severity | rule | resource | tier | finding |",
                "|---|---|---|---|---|---|"]
        closing = "\n</details>\n\n"
        for f in items:
            row = _row(f)
            if len((body + "\n".join(part) + row + closing).encode()) > MAX_BYTES:
                part.append("")
                body += "\n".join(part) + closing
                return body + (f"\n**Truncated:** {total - written} more finding(s) not shown; "
                               "run `keyplane check --format json` for the full report.\n")
            part.append(row)
            written += 1
        body += "\n".join(part) + closing
    return body
