"""Findings, unknowns and the one report every post-apply job returns.

A report is CLEAN, FINDINGS or INCOMPLETE. A resource that could not be read is
UNKNOWN and makes the run INCOMPLETE: a failure of a part never reads as clean.
Findings carry names, states and numbers, never key material or secrets.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from keyplane.findings import SCHEMA_VERSION, Finding, RunOutcome, Severity, Status

__all__ = ["Finding", "Report", "RunOutcome", "Severity", "Status", "Unknown", "render"]


@dataclass(frozen=True, kw_only=True)
class Unknown:
    """A read that failed, as the collector records it; the run turns it into an UNKNOWN
    Finding (`read.<facet>`) unless a check already judged that resource UNKNOWN for it."""

    resource: str
    reason: str
    region: str | None = None
    key: str | None = None
    facet: str | None = None  # the facet whose read failed, when the read was of one facet

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def finding_json(f: Finding) -> dict[str, Any]:
    """A post-apply finding in JSON: schema 1, plus `check` and `message`, the names schema 0
    used for `rule_id` and `reason` (kept so existing readers go on working)."""
    data = f.to_dict()
    data["check"] = f.rule_id
    data["message"] = f.reason
    return data


@dataclass(kw_only=True)
class Report:
    """What one run checked and found."""

    command: str
    environment: str
    started_at: dt.datetime
    findings: list[Finding] = field(default_factory=list)
    unknowns: list[Finding] = field(default_factory=list)  # status UNKNOWN
    checked: list[str] = field(default_factory=list)  # resources read completely
    sections: list[str] = field(default_factory=list)  # rotation, drift, access-review...
    stopped: str | None = None  # why the run stopped early (expired credentials)
    notes: list[str] = field(default_factory=list)
    drafts: list[dict[str, Any]] = field(default_factory=list)  # discover's YAML drafts
    unmatched_acks: list[dict[str, str]] = field(default_factory=list)
    access: list[dict[str, Any]] = field(default_factory=list)  # who can use / administer
    matched: dict[str, str] = field(default_factory=dict)  # resource -> declared key id

    @property
    def open_findings(self) -> list[Finding]:
        """Findings no known-drift entry covers (informational ones do not count)."""
        return [f for f in self.findings
                if f.acknowledged is None and f.severity is not Severity.INFO]

    @property
    def outcome(self) -> RunOutcome:
        """INCOMPLETE when anything is unknown or the run stopped; else FINDINGS or CLEAN."""
        if self.unknowns or self.stopped:
            return RunOutcome.INCOMPLETE
        return RunOutcome.FINDINGS if self.open_findings else RunOutcome.CLEAN

    def sort(self) -> None:
        """Most urgent first, then by resource, so reports diff cleanly."""
        self.findings.sort(key=lambda f: (-f.severity.rank, f.rule_id, f.resource))
        self.unknowns.sort(key=lambda u: (u.resource, u.reason))
        self.checked.sort()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (also what `--resume` reads back)."""
        self.sort()
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "post-apply",
            "command": self.command,
            "environment": self.environment,
            "outcome": self.outcome.value,
            "exit_code": self.outcome.exit_code,
            "started_at": self.started_at.isoformat(),
            "sections": self.sections,
            "stopped": self.stopped,
            "summary": self.summary(),
            "findings": [finding_json(f) for f in self.findings],
            "unknowns": [finding_json(u) for u in self.unknowns],
            "checked": self.checked,
            "access": self.access,
            "matched": self.matched,
            "drafts": self.drafts,
            "unmatched_known_drift": self.unmatched_acks,
            "notes": self.notes,
        }

    def summary(self) -> dict[str, int]:
        """Counts for the headline."""
        acked = sum(1 for f in self.findings if f.acknowledged is not None)
        return {"findings": len(self.open_findings), "acknowledged": acked,
                "unknown": len(self.unknowns), "checked": len(self.checked)}


def _headline(report: Report) -> str:
    s = report.summary()
    return (f"{report.command} {report.environment}: {report.outcome.value.upper()} — "
            f"{s['findings']} finding(s), {s['acknowledged']} acknowledged, "
            f"{s['unknown']} unknown, {s['checked']} resource(s) checked")


def _where(f: Finding) -> str:
    parts = [f.key or f.resource]
    if f.region:
        parts.append(f.region)
    return " ".join(parts)


def render_text(report: Report) -> str:
    """Plain lines for a terminal or a CI log."""
    report.sort()
    lines = [_headline(report)]
    if report.stopped:
        lines.append(f"stopped: {report.stopped}")
    for f in report.findings:
        ack = (f" [acknowledged: {f.acknowledged['reason']} ({f.acknowledged['owner']}, "
               f"until {f.acknowledged['expires']})]" if f.acknowledged else "")
        lines.append(f"  {f.severity.value.upper():8} {f.rule_id:38} {_where(f)}: {f.reason}{ack}")
    for u in report.unknowns:
        lines.append(f"  {'UNKNOWN':8} {'':38} {u.key or u.resource}: {u.reason}")
    for a in report.unmatched_acks:
        lines.append(f"  note: known-drift entry for {a['resource']} matched nothing")
    for note in report.notes:
        lines.append(f"  note: {note}")
    for row in report.access:
        lines.append(f"  access {row['key']}: use={', '.join(row['use']) or '-'}; "
                     f"administer={', '.join(row['administer']) or '-'}")
        for role, who in (row.get("assumed_by") or {}).items():
            lines.append(f"    {role} assumed by {', '.join(who) or 'nobody'}")
    for draft in report.drafts:
        lines.append("")
        lines.append(draft["yaml"].rstrip())
    return "\n".join(lines) + "\n"


def _assumers(assumed_by: dict[str, list[str]]) -> str:
    return "<br>".join(f"{role.rsplit('/', 1)[-1]}: {', '.join(who) or 'nobody'}"
                       for role, who in assumed_by.items()).replace("|", "/") or "-"


def render_markdown(report: Report) -> str:
    """A Markdown summary for a pull request or a ticket."""
    report.sort()
    out = [f"### keyplane {report.command} `{report.environment}`: "
           f"**{report.outcome.value.upper()}**", ""]
    s = report.summary()
    out.append(f"{s['findings']} finding(s), {s['acknowledged']} acknowledged, "
               f"{s['unknown']} unknown, {s['checked']} resource(s) checked.")
    if report.stopped:
        out += ["", f"> stopped: {report.stopped}"]
    if report.findings:
        out += ["", "| severity | check | resource | finding |", "|---|---|---|---|"]
        for f in report.findings:
            msg = f.reason + (f" _(acknowledged: {f.acknowledged['reason']})_"
                               if f.acknowledged else "")
            out.append(f"| {f.severity.value} | `{f.rule_id}` | `{_where(f)}` | "
                       f"{msg.replace('|', '/')} |")
    if report.unknowns:
        out += ["", "| unknown | reason |", "|---|---|"]
        out += [f"| `{u.key or u.resource}` | {u.reason} |" for u in report.unknowns]
    if report.access:
        out += ["", "| key | can use | can administer | who can assume those roles |",
                "|---|---|---|---|"]
        out += [f"| `{r['key']}` | {'<br>'.join(r['use']) or '-'} | "
                f"{'<br>'.join(r['administer']) or '-'} | "
                f"{_assumers(r.get('assumed_by') or {})} |" for r in report.access]
    for draft in report.drafts:
        out += ["", "```yaml", draft["yaml"].rstrip(), "```"]
    return "\n".join(out) + "\n"


def render(report: Report, fmt: str) -> str:
    """The report in `fmt` (text, json or markdown)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, default=str) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    return render_text(report)
