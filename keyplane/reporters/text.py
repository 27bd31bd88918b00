"""Plain text for terminals and CI logs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyplane.findings import Status
from keyplane.policy.engine import Report
from keyplane.reporters import SHOWN, verdict

if TYPE_CHECKING:
    from keyplane.postapply.report import Report as PostApplyReport


def render(report: Report | PostApplyReport) -> str:
    """The gate: failing, erroring and unknown findings, one per line, then the summary and
    verdict. Post-apply: its own text (`keyplane.postapply.report.render_text`)."""
    if not isinstance(report, Report):
        from keyplane.postapply.report import render_text

        return render_text(report)
    lines = []
    order = {Status.ERROR: 0, Status.FAIL: 1, Status.UNKNOWN: 2}
    shown = [f for f in report.findings if f.status.value in SHOWN]
    shown.sort(key=lambda f: (not f.gate, order.get(f.status, 3), -f.severity.rank, f.resource))
    for f in shown:
        mark = "waived" if f.waived_by else ("GATE" if f.gate else "    ")
        tier = f.tier.value if f.tier else "no-tier"
        lines.append(f"{mark:6} {f.status.value:7} {f.severity.value:8} {f.rule_id}  "
                     f"{f.resource} [{tier}]: {f.reason}")
        where = []
        if len(report.files) > 1 and f.source:
            where.append(f"in {f.source}")
        if f.construct_path:
            where.append(f"construct {f.construct_path}")
        if f.attribute:
            where.append(f"attribute {f.attribute}")
        if f.waived_by:
            where.append(f"waived by {f.waived_by}")
        if where:
            lines.append(f"{'':6} {'; '.join(where)}")
    for w in report.warnings:
        lines.append(f"warning: {w.render()}")
    counts = report.counts()
    summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    lines.append(f"keyplane check: {report.resources} resource(s) in {len(report.files)} "
                 f"file(s), {len(report.rules)} rule(s): {summary or 'no findings'}")
    lines.append(verdict(report))
    return "\n".join(lines) + "\n"
