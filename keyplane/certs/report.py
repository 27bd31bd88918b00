"""Judging the certificates found, and the report `keyplane certs` writes.

Each certificate is matched to the generation whose public key it binds (`keys`), then
every rule (`rules`) judges it; a rule that raises is an ERROR result, never a pass. The
report is post-apply's (`keyplane.postapply.report.Report`, so its JSON, SARIF and exit
codes are the same) with what only certificates have: every certificate with its outcomes,
and a timeline per key of which certificates each generation backs. Findings carry the key
(`name@gN`) and its owner. Certificates and public keys are public; nothing secret is shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from keyplane.certs.found import FoundCertificate, Source
from keyplane.certs.keys import GenerationKey, KeyIndex
from keyplane.certs.rules import RULES, CertCase, Verdict, overlap_ends, use_ends
from keyplane.certs.sources import Collected, PcaAuthority
from keyplane.findings import Cloud, Finding, Severity, Status
from keyplane.model.environment import Environment, KeyDecl
from keyplane.model.specs import Cloud as KeyCloud
from keyplane.model.tiers import Tier
from keyplane.policy.packs import cert_severity
from keyplane.postapply.report import Report

READ_CERTIFICATES = "read.certificates"
READ_PUBLIC_KEY = "read.public_key"


@dataclass(kw_only=True)
class CertsReport(Report):
    """Post-apply's report, plus the certificates and the per-key timeline."""

    at: dt.date | None = None
    certificates: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Post-apply's JSON form with `at`, `certificates` and `timeline`."""
        out = super().to_dict()
        out["at"] = self.at.isoformat() if self.at else None
        out["certificates"] = self.certificates
        out["timeline"] = self.timeline
        return out


def _cloud(cert: FoundCertificate, key: KeyDecl) -> Cloud:
    if cert.source in (Source.ACM, Source.ACM_PCA, Source.ACM_PCA_AUTHORITY):
        return Cloud.AWS
    if cert.source in (Source.GCP_CAS, Source.GCP_CAS_AUTHORITY):
        return Cloud.GCP
    return Cloud.AWS if key.cloud is KeyCloud.AWS else Cloud.GCP


def judge(env: Environment, certificates: Iterable[FoundCertificate], collected: Collected,
          index: KeyIndex, *, at: dt.datetime, started_at: dt.datetime) -> CertsReport:
    """Every rule on every certificate; the report (its outcome gives the exit code)."""
    certificates = _unique(certificates)
    report = CertsReport(command="certs", environment=env.name, started_at=started_at,
                         sections=["certs"], at=at.date())
    authorities = _authority_keys(certificates, collected.authorities)
    cases: list[tuple[CertCase, dict[str, tuple[Verdict, Finding | None]]]] = []
    for cert in certificates:
        declared_by = env.key(cert.declared_by)
        match = index.match(cert)
        case = CertCase(cert=cert, declared_by=declared_by, match=match,
                        maybe=tuple(index.could_be(cert)) if match is None else (),
                        authority=authorities.get(cert.spki_sha256), index=index, at=at)
        results: dict[str, tuple[Verdict, Finding | None]] = {}
        for rule_id, rule in RULES.items():
            try:
                verdict = rule.func(case)
            except Exception as exc:  # a defect in a rule must never read as a pass
                verdict = Verdict(Status.ERROR, f"rule failed: {type(exc).__name__}: {exc}")
            results[rule_id] = (verdict, _finding(env, case, rule_id, verdict))
        cases.append((case, results))
        report.checked.append(cert.id)
    for _case, results in cases:
        for verdict, finding in results.values():
            if finding is None:
                continue
            if verdict.status is Status.FAIL:
                report.findings.append(finding)
            elif verdict.status in (Status.UNKNOWN, Status.ERROR):
                report.unknowns.append(finding)
    for u in collected.unread:
        key = env.key(u.declared_by)
        cloud = Cloud.GCP if "/caPools/" in u.resource else Cloud.AWS
        report.unknowns.append(Finding(
            rule_id=READ_CERTIFICATES, status=Status.UNKNOWN, severity=Severity.INFO,
            resource=u.resource, reason=u.reason, cloud=cloud, environment=env.name,
            tier=key.tier, key=key.name, owner=key.owner, region=u.region))
    for key, reason in index.failures:
        report.unknowns.append(Finding(
            rule_id=READ_PUBLIC_KEY, status=Status.UNKNOWN, severity=Severity.INFO,
            resource=key.name, reason=reason, environment=env.name, tier=key.tier,
            cloud=Cloud.AWS if key.cloud is KeyCloud.AWS else Cloud.GCP, key=key.name,
            owner=key.owner))
    report.checked += index.read
    report.certificates = [_record(case, results) for case, results in cases]
    report.timeline = timeline(env, [c for c, _ in cases], index, {
        c.cert.id: sorted(r for r, (v, _) in results.items() if v.status is Status.FAIL)
        for c, results in cases})
    report.matched = {c.cert.id: c.match.label for c, _ in cases if c.match is not None}
    report.sort()
    return report


def _unique(certificates: Iterable[FoundCertificate]) -> list[FoundCertificate]:
    """Each certificate once (a certificate declared by ARN and found by tag too)."""
    seen: set[str] = set()
    out = []
    for cert in certificates:
        if cert.id not in seen:
            seen.add(cert.id)
            out.append(cert)
    return out


def _authority_keys(certificates: list[FoundCertificate],
                    authorities: dict[str, PcaAuthority]) -> dict[str, PcaAuthority]:
    """SPKI fingerprint -> the declared ACM Private CA (or CA Service CA) whose own key it
    is."""
    out = {}
    for cert in certificates:
        if cert.source in (Source.ACM_PCA_AUTHORITY, Source.GCP_CAS_AUTHORITY) and \
                cert.authority in authorities:
            out[cert.spki_sha256] = authorities[cert.authority]
    return out


def _finding(env: Environment, case: CertCase, rule_id: str, verdict: Verdict
             ) -> Finding | None:
    """The Finding of a FAIL, UNKNOWN or ERROR verdict (None for the others, and for a rule
    not in the tier's pack)."""
    if verdict.status not in (Status.FAIL, Status.UNKNOWN, Status.ERROR):
        return None
    rule = RULES[rule_id]
    tier = Tier.CA if rule.ca_tier_only else case.tier
    severity = cert_severity(rule_id, tier)
    if severity is None:
        return None
    if verdict.status is Status.ERROR:
        severity = Severity.HIGH
    key = case.key
    return Finding(rule_id=rule_id, status=verdict.status, severity=severity,
                   resource=case.cert.id, reason=verdict.reason, control=rule.control,
                   cloud=_cloud(case.cert, key), environment=env.name, tier=tier,
                   key=case.match.label if case.match is not None else key.name,
                   owner=key.owner, region=case.cert.region, expected=verdict.expected,
                   actual=verdict.actual, days_left=verdict.days_left, area="certs",
                   resource_type=f"certificate:{case.cert.source}")


def _record(case: CertCase, results: dict[str, tuple[Verdict, Finding | None]]
            ) -> dict[str, Any]:
    data = case.cert.to_dict()
    data.update(key=case.match.key.name if case.match is not None else None,
                generation=case.match.generation if case.match is not None else None,
                owner=case.key.owner, tier=case.tier.value,
                outcomes={r: v.status.value for r, (v, _) in results.items()},
                reasons={r: v.reason for r, (v, _) in results.items()})
    return data


def _gen_state(key: KeyDecl, number: int | None) -> str:
    gen = next((g for g in key.generations if g.generation == number), None)
    return key.generation_state(gen).value if gen is not None else "undeclared"


def _public_key(g: GenerationKey | None) -> str:
    if g is None:
        return "unknown"
    return "read" if g.spki_sha256 is not None else "recorded"


def timeline(env: Environment, cases: list[CertCase], index: KeyIndex,
             failed: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Per key with certificates: each generation (newest first) and the certificates it
    backs, oldest first; then the certificates declared under it that bind no generation."""
    def cert_row(c: CertCase) -> dict[str, Any]:
        return {"id": c.cert.id, "source": c.cert.source, "subject": c.cert.subject,
                "not_before": c.cert.not_before.isoformat(),
                "not_after": c.cert.not_after.isoformat(), "failed": failed.get(c.cert.id, [])}

    keys = [k for k in env.keys if k.certificates or any(
        c.match is not None and c.match.key.name == k.name for c in cases)]
    out = []
    for key in keys:
        on_key = [c for c in cases if c.match is not None and c.match.key.name == key.name]
        numbers = sorted({g.generation for g in key.generations} | {
            c.match.generation for c in on_key if c.match is not None
            and c.match.generation is not None}, reverse=True)
        gens = []
        for number in numbers:
            backs = sorted((c for c in on_key if c.match is not None
                            and c.match.generation == number), key=lambda c: c.cert.not_before)
            known = index.of(key.name, number)
            decl = next((g for g in key.generations if g.generation == number), None)
            ends = use_ends(key, number)
            overlap = overlap_ends(key, number) if decl is not None and \
                number != key.generation else None
            ref = known.ref if known is not None else next(
                (c.match.ref for c in backs if c.match is not None), None)
            gens.append({"generation": number, "state": _gen_state(key, number),
                         "created_on": decl.created_on.isoformat() if decl else None,
                         "verify_until": (decl.verify_until.isoformat()
                                          if decl and decl.verify_until else None),
                         "overlap_ends": overlap.isoformat() if overlap else None,
                         "use_ends": ends[0].isoformat() if ends else None,
                         "ref": ref, "public_key": _public_key(known) if decl else "read",
                         "certificates": [cert_row(c) for c in backs]})
        loose = [c for c in cases if c.match is None and c.declared_by.name == key.name]
        out.append({"key": key.name, "tier": key.tier.value, "cloud": key.cloud.value,
                    "owner": key.owner, "generations": gens,
                    "unmatched": [dict(cert_row(c), held_by=c.authority.arn
                                       if c.authority is not None else None) for c in loose]})
    return out


# ---- rendering ---------------------------------------------------------------------------------

def _who(f: Finding) -> str:
    owner = f" (owner {f.owner})" if f.owner else ""
    return f"{f.key or f.resource}{owner}"


def _headline(report: CertsReport) -> str:
    s = report.summary()
    return (f"certs {report.environment} at {report.at}: {report.outcome.value.upper()} — "
            f"{s['findings']} finding(s), {s['unknown']} unknown, "
            f"{len(report.certificates)} certificate(s)")


def render_text(report: CertsReport) -> str:
    """Findings, unknowns and the timeline, for a terminal or a CI log."""
    report.sort()
    lines = [_headline(report)]
    for f in report.findings:
        lines.append(f"  {f.severity.value.upper():8} {f.rule_id:32} {_who(f)}")
        lines.append(f"           {f.resource}: {f.reason}")
    for u in report.unknowns:
        lines.append(f"  {u.status.value:8} {u.rule_id:32} {_who(u)}")
        lines.append(f"           {u.resource}: {u.reason}")
    if report.timeline:
        lines.append("")
        lines.append("timeline (newest generation first):")
    for row in report.timeline:
        lines.append(f"  {row['key']} ({row['tier']}, {row['cloud']}, owner "
                     f"{row['owner'] or 'none declared'})")
        for g in row["generations"]:
            until = f"usable until {g['use_ends']}" if g["use_ends"] else "no end declared"
            lines.append(f"    g{g['generation']} {g['state']:11} created "
                         f"{g['created_on'] or '?'}, {until}; public key {g['public_key']}")
            if not g["certificates"]:
                lines.append("       no certificates")
            for c in g["certificates"]:
                lines.append(f"       {c['not_before'][:10]} .. {c['not_after'][:10]}  "
                             f"{c['subject'] or '(empty subject)'}  [{c['source']} {c['id']}]"
                             f"{'  FAILS ' + ', '.join(c['failed']) if c['failed'] else ''}")
        for c in row["unmatched"]:
            held = f"held by {c['held_by']}" if c["held_by"] else "no generation"
            lines.append(f"    {held}: {c['not_before'][:10]} .. {c['not_after'][:10]}  "
                         f"{c['subject'] or '(empty subject)'}  [{c['source']} {c['id']}]"
                         f"{'  FAILS ' + ', '.join(c['failed']) if c['failed'] else ''}")
    return "\n".join(lines) + "\n"


def render_markdown(report: CertsReport) -> str:
    """A Markdown summary: findings with their owners, then the timeline as a table."""
    report.sort()
    out = [f"### keyplane certs `{report.environment}` at {report.at}: "
           f"**{report.outcome.value.upper()}**", ""]
    rows = [*report.findings, *report.unknowns]
    if rows:
        out += ["| severity | rule | key | owner | certificate | finding |",
                "|---|---|---|---|---|---|"]
        for f in rows:
            sev = f.severity.value if f.status is Status.FAIL else f.status.value
            out.append(f"| {sev} | `{f.rule_id}` | `{f.key or '-'}` | {f.owner or '-'} | "
                       f"`{f.resource}` | {f.reason.replace('|', '/')} |")
    if report.timeline:
        out += ["", "| key | owner | generation | state | usable until | certificate | "
                    "valid | fails |", "|---|---|---|---|---|---|---|---|"]
        for row in report.timeline:
            for g in row["generations"]:
                certs = g["certificates"] or [None]
                for c in certs:
                    valid = f"{c['not_before'][:10]} .. {c['not_after'][:10]}" if c else "-"
                    out.append(f"| `{row['key']}` | {row['owner'] or '-'} | "
                               f"g{g['generation']} | {g['state']} | {g['use_ends'] or '-'} | "
                               f"{('`' + c['id'] + '`') if c else '-'} | {valid} | "
                               f"{', '.join(c['failed']) if c and c['failed'] else '-'} |")
            for c in row["unmatched"]:
                out.append(f"| `{row['key']}` | {row['owner'] or '-'} | - | "
                           f"{'acm-pca' if c['held_by'] else 'no generation'} | - | "
                           f"`{c['id']}` | {c['not_before'][:10]} .. {c['not_after'][:10]} | "
                           f"{', '.join(c['failed']) or '-'} |")
    return "\n".join(out) + "\n"


__all__ = ["READ_CERTIFICATES", "READ_PUBLIC_KEY", "CertsReport", "judge", "render_markdown",
           "render_text", "timeline"]
