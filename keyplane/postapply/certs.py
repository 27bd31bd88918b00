"""The certs section of a post-apply run: certificates judged where the keys are read.

`keyplane certs ENV` judges an environment's certificates on its own. Post-apply judges the
same certificates with the same rules (`keyplane.commands.certs.judge_certificates`, over
the credentials its run already set up) whenever the environment, or the one cloud of it
being read, declares `certificates` on any key, and folds the result into its report here:

- the certs findings, the same Finding objects with their CERTS pack severities, covered by
  the run's known drift like any other finding;
- every certificate source, public key or rule that could not be judged, as UNKNOWN in the
  `certs` area, so the run is INCOMPLETE (exit 3), never clean;
- `at`, `certificates` and the per-key `timeline` of generations and the certificates each
  backs, as data (schema 1.1 of the post-apply report), with each certificate's serial and
  each key's maximum age, so the evidence report can draw it without the inventory.

An environment that declares no certificates gets no certs section and no extra call.
This module knows the report, not the certificate rules (post-apply may not import them):
the judged report it folds is post-apply's own Report type.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keyplane.findings import Cloud, Finding, Severity, Status
from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud as KeyCloud
from keyplane.postapply.acks import Ack
from keyplane.postapply.acks import apply as apply_acks
from keyplane.postapply.report import Report

SECTION = "certs"
NOT_JUDGED = "read.certificates"  # the rule id of certificates a run could not judge at all


def declares_certificates(environment: Environment) -> bool:
    """Whether any key of `environment` declares where its certificates live."""
    return any(k.certificates for k in environment.keys)


def fold(report: Report, judged: Report, environment: Environment, *,
         acks: list[Ack] | None = None) -> None:
    """Add `judged` (the certificates' report of the same environment and date) to `report`
    as its certs section.

    A resumed run carried the certs findings of the report it resumed from; they are
    dropped, since every certificate was judged again. Known drift covers certs findings as
    it covers the others: an entry is unmatched only if it matched no finding at all.
    """
    report.findings = [f for f in report.findings if f.area != SECTION]
    findings = list(judged.findings)
    if acks:
        findings, unmatched, notes = apply_acks(findings, acks, today=report.started_at.date())
        report.unmatched_acks = [a for a in report.unmatched_acks if a in unmatched]
        report.notes += [n for n in notes if n not in report.notes]
    report.findings += findings
    # a read of a source or a public key names no area: it is the certs section's unknown
    report.unknowns += [u if u.area else replace(u, area=SECTION) for u in judged.unknowns]
    report.checked = sorted(set(report.checked) | set(judged.checked))
    if SECTION not in report.sections:
        report.sections.append(SECTION)
    report.at = judged.at
    report.certificates = judged.certificates
    report.timeline = timeline(judged.timeline, judged.certificates, environment)
    report.sort()


def not_judged(report: Report, environment: Environment, reason: str) -> None:
    """The certs section of a run whose certificates could not be judged at all (the run
    stopped before): one UNKNOWN per key that declares certificates, never silence."""
    for key in environment.keys:
        if not key.certificates:
            continue
        report.unknowns.append(Finding(
            rule_id=NOT_JUDGED, status=Status.UNKNOWN, severity=Severity.INFO,
            resource=f"{key.name}:certificates", reason=f"certificates not judged: {reason}",
            cloud=Cloud.AWS if key.cloud is KeyCloud.AWS else Cloud.GCP,
            environment=environment.name, tier=key.tier, key=key.name, owner=key.owner,
            area=SECTION))
    if SECTION not in report.sections:
        report.sections.append(SECTION)
    report.at = report.started_at.date()
    report.sort()


def timeline(rows: list[dict[str, Any]], certificates: list[dict[str, Any]],
             environment: Environment) -> list[dict[str, Any]]:
    """The certs timeline with what a reader needs beside it: each key's maximum age
    (`max_key_age_in_days`, null when it rotates by period or by the cloud) and each
    certificate's serial (hex), copied, never changed in place."""
    serials = {str(c.get("id")): c.get("serial") for c in certificates}
    ages = {k.name: k.max_key_age_in_days for k in environment.keys}

    def cert(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "serial": serials.get(str(row.get("id")))}

    out = []
    for row in rows:
        gens = [{**g, "certificates": [cert(c) for c in g.get("certificates", [])]}
                for g in row.get("generations", [])]
        out.append({**row, "max_key_age_in_days": ages.get(str(row.get("key"))),
                    "generations": gens,
                    "unmatched": [cert(c) for c in row.get("unmatched", [])]})
    return out


__all__ = ["NOT_JUDGED", "SECTION", "declares_certificates", "fold", "not_judged", "timeline"]
