"""`keyplane estate`'s report as text (a terminal, a CI log) or JSON (machines).

Both read the report's fields; neither judges anything.
"""

from __future__ import annotations

import json
from typing import Any

from keyplane.estate.reconcile import EstateReport

FORMATS = ("text", "json")


def _keys(value: Any) -> str:
    return "-" if value is None else str(value)


def render_text(report: EstateReport) -> str:
    """Outcome, what was read, findings, unknowns, notes, then every account and project."""
    report.sort()
    lines = [f"estate: {report.outcome.value.upper()} ({len(report.open_findings)} finding(s), "
             f"{len(report.unknowns)} unknown)"]
    aws = report.summary.get("aws")
    if aws:
        states = ", ".join(f"{n} {s.lower()}" for s, n in aws["states"].items()) or "none"
        lines.append(f"aws organization {aws['organization_id']} (management account "
                     f"{aws['management_account_id']}, read as {aws['caller_account_id']}): "
                     f"{aws['accounts']} account(s) ({states}) in {aws['units']} root(s) and "
                     f"unit(s); keys read in {aws['accounts_scanned']} undeclared account(s) "
                     f"in {', '.join(aws['regions'])}")
    gcp = report.summary.get("gcp")
    if gcp:
        states = ", ".join(f"{n} {s.lower()}" for s, n in gcp["states"].items()) or "none"
        lines.append(f"gcp {gcp['scope']}: {gcp['projects']} project(s) ({states}) in "
                     f"{gcp['folders']} folder(s); keys read in {gcp['projects_scanned']} "
                     f"undeclared project(s) in {', '.join(gcp['locations'])}")
    if report.findings:
        lines += ["", "findings:"]
        for f in report.findings:
            where = f" [{f.source}]" if f.source else ""
            lines.append(f"  {f.severity.value:<8} {f.rule_id}  {f.resource}{where}")
            lines.append(f"           {f.reason}")
    if report.unknowns:
        lines += ["", "unknown (not read; never judged clean):"]
        lines += [f"  {u.resource}: {u.reason}" for u in report.unknowns]
    if report.notes:
        lines += ["", "not compared:"]
        lines += [f"  {n}" for n in report.notes]
    if report.accounts:
        lines += ["", "aws accounts:"]
        for a in report.accounts:
            owner = ", ".join(a["declared_by"]) or "-"
            lines.append(f"  {a['id']}  {a['state']:<15} keys {_keys(a['customer_keys']):>3}  "
                         f"{owner:<24} {a['name']} ({a['path']})")
    if report.projects:
        lines += ["", "gcp projects:"]
        for p in report.projects:
            owner = ", ".join(p["declared_by"]) or "-"
            lines.append(f"  {p['project_id']:<30} {p['state']:<16} keys "
                         f"{_keys(p['crypto_keys']):>3}  {owner:<24} {p['path']}")
    return "\n".join(lines) + "\n"


def render(report: EstateReport, fmt: str) -> str:
    """The report in `fmt` (text or json)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, default=str) + "\n"
    return render_text(report)
