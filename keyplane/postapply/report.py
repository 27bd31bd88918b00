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

__all__ = ["CERTS_SCHEMA_VERSION", "Finding", "Report", "RunOutcome", "Severity", "Status",
           "Unknown", "render"]

# The post-apply report's schema 1.1: schema 1 plus the certs section (`at`, `certificates`,
# `timeline`). Only a report that carries the section says 1.1; one without it is unchanged,
# byte for byte, so every reader of schema 1 reads both (a minor version only adds).
CERTS_SCHEMA_VERSION = f"{SCHEMA_VERSION}.1"


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
    # certs: the date certificates were judged at, every certificate with each rule's
    # outcome, and per key the generations and the certificates each backs
    at: dt.date | None = None
    certificates: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)

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
        """The JSON form (also what `--resume` reads back); with the certs section, schema
        1.1: its `at`, `certificates` and `timeline` too."""
        self.sort()
        out: dict[str, Any] = {
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
        if "certs" in self.sections:
            out["schema_version"] = CERTS_SCHEMA_VERSION
            out["at"] = self.at.isoformat() if self.at else None
            out["certificates"] = self.certificates
            out["timeline"] = self.timeline
        return out

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
    if report.timeline:
        lines.append("")
        lines.append("certificates by key generation (newest generation first):")
        lines += _timeline_text(report.timeline)
    for draft in report.drafts:
        lines.append("")
        lines.append(draft["yaml"].rstrip())
    return "\n".join(lines) + "\n"


def _cert_text(c: dict[str, Any]) -> str:
    serial = f" serial {c['serial']}" if c.get("serial") else ""
    fails = f"  FAILS {', '.join(c['failed'])}" if c.get("failed") else ""
    return (f"{str(c['not_before'])[:10]} .. {str(c['not_after'])[:10]}  "
            f"{c.get('subject') or '(empty subject)'}{serial}  [{c['source']} {c['id']}]{fails}")


def _timeline_text(rows: list[dict[str, Any]]) -> list[str]:
    """The certs timeline: per key, each generation and the certificates it backs."""
    lines = []
    for row in rows:
        age = row.get("max_key_age_in_days")
        lines.append(f"  {row['key']} ({row.get('tier')}, {row.get('cloud')}, owner "
                     f"{row.get('owner') or 'none declared'}"
                     f"{f', max age {age} d' if age else ''})")
        for g in row["generations"]:
            until = f"usable until {g['use_ends']}" if g.get("use_ends") else "no end declared"
            lines.append(f"    g{g['generation']} {g.get('state', '?'):11} created "
                         f"{g.get('created_on') or '?'}, {until}")
            if not g["certificates"]:
                lines.append("       no certificates")
            lines += [f"       {_cert_text(c)}" for c in g["certificates"]]
        for c in row.get("unmatched", []):
            held = f"held by {c['held_by']}" if c.get("held_by") else "no generation"
            lines.append(f"    {held}: {_cert_text(c)}")
    return lines


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
    if report.timeline:
        out += ["", "Certificates by key generation (newest generation first):", "",
                "| key | owner | generation | state | usable until | certificate | serial | "
                "valid | fails |", "|---|---|---|---|---|---|---|---|---|"]
        out += _timeline_markdown(report.timeline)
    for draft in report.drafts:
        out += ["", "```yaml", draft["yaml"].rstrip(), "```"]
    return "\n".join(out) + "\n"


def _md(value: object) -> str:
    return str(value).replace("|", "/").replace("\n", " ")


def _timeline_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """One table row per certificate (or per generation without one)."""
    out = []
    for row in rows:
        head = f"| `{_md(row['key'])}` | {_md(row.get('owner') or '-')} | "
        for g in row["generations"]:
            gen = (f"g{g['generation']} | {_md(g.get('state', '?'))} | "
                   f"{_md(g.get('use_ends') or '-')} | ")
            for c in g["certificates"] or [None]:
                out.append(head + gen + _cert_markdown(c))
        for c in row.get("unmatched", []):
            where = "held by its declared CA" if c.get("held_by") else "no generation"
            out.append(head + f"- | {where} | - | " + _cert_markdown(c))
    return out


def _cert_markdown(c: dict[str, Any] | None) -> str:
    if c is None:
        return "- | - | - | - |"
    valid = f"{str(c['not_before'])[:10]} .. {str(c['not_after'])[:10]}"
    return (f"`{_md(c['id'])}` | {_md(c.get('serial') or '-')} | {valid} | "
            f"{_md(', '.join(c.get('failed') or []) or '-')} |")


def render(report: Report, fmt: str) -> str:
    """The report in `fmt` (text, json or markdown)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, default=str) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    return render_text(report)
