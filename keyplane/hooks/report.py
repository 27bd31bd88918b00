"""Findings, unknowns and the one report every post-apply job returns.

A report is CLEAN, FINDINGS or INCOMPLETE. A resource that could not be read is
UNKNOWN and makes the run INCOMPLETE: a failure of a part never reads as clean.
Findings carry names, states and numbers, never key material or secrets.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from keyplane.policy.model import Severity  # one severity scale for the gate and post-apply


class Outcome(StrEnum):
    """The result of a run: its exit code follows from it."""

    CLEAN = "clean"
    FINDINGS = "findings"
    INCOMPLETE = "incomplete"

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings, 3 incomplete."""
        return {"clean": 0, "findings": 1, "incomplete": 3}[self.value]


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One difference between the deployed state and what was declared or what the tier demands."""

    check: str  # e.g. drift.key_pending_deletion
    severity: Severity
    resource: str  # ARN, crypto key name, or a name the cloud knows it by
    message: str  # one sentence, lowercase, no secret
    key: str | None = None  # the declared key's name
    region: str | None = None
    expected: Any = None
    actual: Any = None
    days_left: int | None = None
    address: str | None = None  # Terraform address, when the synthesized stack names one
    construct_path: str | None = None
    acknowledged: dict[str, str] | None = None  # the known-drift entry that covers it

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        data = asdict(self)
        data["severity"] = self.severity.value
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Read a finding back from a report (for `--resume`)."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["severity"] = Severity(fields["severity"])
        return cls(**fields)


@dataclass(frozen=True, kw_only=True)
class Unknown:
    """A resource (or a facet of one) that could not be read."""

    resource: str
    reason: str
    region: str | None = None
    key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(kw_only=True)
class Report:
    """What one run checked and found."""

    command: str
    environment: str
    started_at: dt.datetime
    findings: list[Finding] = field(default_factory=list)
    unknowns: list[Unknown] = field(default_factory=list)
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
    def outcome(self) -> Outcome:
        """INCOMPLETE when anything is unknown or the run stopped; else FINDINGS or CLEAN."""
        if self.unknowns or self.stopped:
            return Outcome.INCOMPLETE
        return Outcome.FINDINGS if self.open_findings else Outcome.CLEAN

    def sort(self) -> None:
        """Most urgent first, then by resource, so reports diff cleanly."""
        self.findings.sort(key=lambda f: (-f.severity.rank, f.check, f.resource))
        self.unknowns.sort(key=lambda u: (u.resource, u.reason))
        self.checked.sort()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (also what `--resume` reads back)."""
        self.sort()
        return {
            "command": self.command,
            "environment": self.environment,
            "outcome": self.outcome.value,
            "exit_code": self.outcome.exit_code,
            "started_at": self.started_at.isoformat(),
            "sections": self.sections,
            "stopped": self.stopped,
            "summary": self.summary(),
            "findings": [f.to_dict() for f in self.findings],
            "unknowns": [u.to_dict() for u in self.unknowns],
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
        lines.append(f"  {f.severity.value.upper():8} {f.check:38} {_where(f)}: {f.message}{ack}")
    for u in report.unknowns:
        lines.append(f"  {'UNKNOWN':8} {'':38} {u.key or u.resource}: {u.reason}")
    for a in report.unmatched_acks:
        lines.append(f"  note: known-drift entry for {a['resource']} matched nothing")
    for note in report.notes:
        lines.append(f"  note: {note}")
    for row in report.access:
        lines.append(f"  access {row['key']}: use={', '.join(row['use']) or '-'}; "
                     f"administer={', '.join(row['administer']) or '-'}")
    for draft in report.drafts:
        lines.append("")
        lines.append(draft["yaml"].rstrip())
    return "\n".join(lines) + "\n"


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
            msg = f.message + (f" _(acknowledged: {f.acknowledged['reason']})_"
                               if f.acknowledged else "")
            out.append(f"| {f.severity.value} | `{f.check}` | `{_where(f)}` | "
                       f"{msg.replace('|', '/')} |")
    if report.unknowns:
        out += ["", "| unknown | reason |", "|---|---|"]
        out += [f"| `{u.key or u.resource}` | {u.reason} |" for u in report.unknowns]
    if report.access:
        out += ["", "| key | can use | can administer |", "|---|---|---|"]
        out += [f"| `{r['key']}` | {'<br>'.join(r['use']) or '-'} | "
                f"{'<br>'.join(r['administer']) or '-'} |" for r in report.access]
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
