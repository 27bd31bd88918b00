"""SARIF 2.1.0 for GitHub code scanning (upload-sarif), of the gate and of post-apply.

Code scanning resolves `artifactLocation.uri` against the repository's root, so every URI
is repository-relative: relative to `--sarif-root` when given, else to
`git rev-parse --show-toplevel` of each file's directory. A file outside any repository
keeps an absolute `file://` URI rather than a relative one that would point at the wrong
file.

The gate locates a finding in the input it read (synth or plan JSON). Post-apply locates a
finding on a declared resource in the synthesized stack that declares it
(`<synth-dir>/stacks/<env>-<cloud>/cdk.tf.json`, at the resource's address, with its
construct path), and a finding on anything else (an undeclared key, a shared resource) by
the resource's name alone, as a logical location.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyplane.findings import Finding, Severity, Status
from keyplane.model.specs import Cloud as ModelCloud
from keyplane.model.stacks import stack_file
from keyplane.model.tiers import Tier
from keyplane.policy.engine import Report, gate_fails
from keyplane.policy.errors import CheckInputError
from keyplane.policy.inputs.jsonload import read_text
from keyplane.policy.packs import PACKS, cert_severity, check_severity
from keyplane.policy.registry import Rule
from keyplane.reporters import SHOWN

if TYPE_CHECKING:
    from keyplane.postapply.registry import Check
    from keyplane.postapply.report import Report as PostApplyReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DISTRIBUTION = "keyplane"
SRCROOT = "%SRCROOT%"
# GitHub ranks security alerts by `security-severity`: 9.0-10 critical, 7.0-8.9 high,
# 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                     Severity.LOW: "3.0", Severity.INFO: "1.0"}
# An UNKNOWN the gate does not fail on says "not verified", not "vulnerable": ranked no higher.
UNVERIFIED_CAP = Severity.LOW
FINGERPRINT = "keyplaneFinding/v2"
# Certificate rules (`keyplane certs`, post-apply's certs section): their ids and their doc.
CERTS_PREFIX = "certs."
CERTS_DOCS_URL = "https://github.com/keyplane/keyplane/blob/main/docs/certificates.md#findings"


@functools.cache
def project_url(label: str) -> str | None:
    """The installed distribution's `[project.urls]` entry named `label`, if any."""
    try:
        entries = metadata.metadata(DISTRIBUTION).get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for entry in entries:
        name, _, url = str(entry).partition(",")
        if name.strip().lower() == label.lower() and url.strip():
            return url.strip()
    return None


def _version() -> str | None:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def git_root(directory: Path) -> Path | None:
    """`git rev-parse --show-toplevel` run in `directory`; None outside a repository."""
    try:
        done = subprocess.run(["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, check=False)
    except (FileNotFoundError, NotADirectoryError):
        return None  # no git, or the directory is gone
    top = done.stdout.strip()
    return Path(top).resolve() if done.returncode == 0 and top else None


def artifact_location(source: str | None, root: Path | None) -> dict[str, str]:
    """The repository-relative location of an input file (see the module docstring)."""
    if not source:
        return {"uri": "cdktf.out", "uriBaseId": SRCROOT}
    path = Path(source).resolve()
    base = root.resolve() if root is not None else git_root(path.parent)
    if base is not None and path.is_relative_to(base):
        return {"uri": path.relative_to(base).as_posix(), "uriBaseId": SRCROOT}
    return {"uri": path.as_uri()}


def lowest(severities: Iterable[Severity]) -> Severity | None:
    """The least severe of `severities`; None when there is none."""
    return min(severities, key=lambda s: s.rank, default=None)


def _descriptor(rule_id: str, *, title: str, summary: str, doc: str, help_uri: str,
                tags: list[str], floor: Severity) -> dict[str, Any]:
    """A reportingDescriptor (`tool.driver.rules[]`)."""
    words = rule_id.replace(".", "_").split("_")
    return {
        "id": rule_id,
        "name": "".join(p.capitalize() for p in words),
        "shortDescription": {"text": title},
        "fullDescription": {"text": summary},
        "help": {"text": doc, "markdown": doc},
        "helpUri": help_uri,
        "defaultConfiguration": {"level": "error"},
        # A result carries its own rank; this default is what an alert without one
        # gets, so it is the rule's lowest, never its highest.
        "properties": {"tags": tags, "security-severity": SECURITY_SEVERITY[floor]},
    }


def _document(rules: list[dict[str, Any]], results: list[dict[str, Any]],
              notes: list[dict[str, Any]], *, successful: bool = True) -> str:
    """One SARIF log of one run: keyplane's driver with `rules`, `results` and `notes`."""
    driver: dict[str, Any] = {"name": "keyplane", "rules": rules}
    homepage, version = project_url("Homepage"), _version()
    if homepage:
        driver["informationUri"] = homepage
    if version:
        driver["semanticVersion"] = version
    sarif = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "invocations": [{"executionSuccessful": successful,
                             "toolExecutionNotifications": notes}],
            "results": results,
        }],
    }
    return json.dumps(sarif) + "\n"


def _fingerprint(identity: str) -> dict[str, str]:
    return {FINGERPRINT: hashlib.sha256(identity.encode()).hexdigest()}


def _logical(name: str) -> dict[str, str]:
    return {"fullyQualifiedName": name, "kind": "resource", "name": name}


def _lines(wanted: Mapping[str, set[str]]) -> dict[tuple[str, str], int]:
    """(file, address) -> line where the resource is written, found by a plain text search."""
    out: dict[tuple[str, str], int] = {}
    for source, addresses in wanted.items():
        try:
            text = read_text(Path(source)).splitlines()
        except CheckInputError:
            continue
        for addr in addresses:
            needle = json.dumps(addr)  # plan JSON: "address": "aws_kms_key.k"
            rtype, _, name = addr.partition(".")
            name_key = json.dumps(name.split("[")[0]) + ":"
            in_type = False
            for i, line in enumerate(text, 1):
                if needle in line:
                    out[(source, addr)] = i
                    break
                if json.dumps(rtype) + ":" in line:
                    in_type = True
                elif in_type and name_key in line:
                    out[(source, addr)] = i
                    break
    return out


# --- the gate ------------------------------------------------------------------------------


def security_severity(finding: Finding, rule: Rule | None, report: Report) -> str:
    """A finding's rank: its tier's severity, except a non-failing UNKNOWN ranks at most low.

    Waivers are left out of "failing": a waived finding keeps its rank and is shown as
    suppressed.
    """
    severity = finding.severity
    if finding.status is Status.UNKNOWN and not gate_fails(
            replace(finding, waived_by=None), rule, report.fail_level):
        severity = min(severity, UNVERIFIED_CAP, key=lambda s: s.rank)
    return SECURITY_SEVERITY[severity]


def rule_floor(rule: Rule) -> Severity:
    """The lowest severity the rule is reported at in any tier pack (its own when in none)."""
    severities = [pack[rule.rule_id] for pack in PACKS.values() if rule.rule_id in pack]
    if not rule.needs_tier or not severities:
        severities.append(rule.severity)  # it also runs, at its own severity, with no tier
    return min(severities, key=lambda s: s.rank)


def _gate_result(f: Finding, report: Report, lines: dict[tuple[str, str], int],
                 root: Path | None) -> dict[str, Any]:
    level = "error" if f.gate or f.status is Status.ERROR else "warning"
    address = f.address or f.resource
    location = artifact_location(f.source, root)
    physical: dict[str, Any] = {"artifactLocation": location}
    line = lines.get((f.source or "", address))
    if line:
        physical["region"] = {"startLine": line}
    tier = f.tier.value if f.tier else "no tier"
    # The input file is part of the identity: one rule and address in plan.json and in
    # cdk.tf.json are two alerts, and a repository-relative URI keeps it stable across runs.
    identity = f"{f.rule_id}|{location['uri']}|{address}"
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "level": level,
        "message": {"text": f"{f.status.value} [{tier}] {address}: {f.reason}"},
        "locations": [{
            "physicalLocation": physical,
            "logicalLocations": [_logical(address)],
        }],
        "partialFingerprints": _fingerprint(identity),
        "properties": {"status": f.status.value, "severity": f.severity.value, "tier": tier,
                       "constructPath": f.construct_path, "attribute": f.attribute,
                       "security-severity": security_severity(f, report.rules.get(f.rule_id),
                                                              report)},
    }
    if f.waived_by:
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": f"waiver {f.waived_by}"}]
    return result


def render_gate(report: Report, root: Path | None = None) -> str:
    """The gate's run: every rule in tool.driver.rules, a result per non-passing finding.

    `root` is the repository root URIs are relative to; None finds it per input with git.
    """
    rules = [_descriptor(r.rule_id, title=r.title, summary=r.summary, doc=r.doc,
                         help_uri=r.help_uri, tags=["security", "keyplane", r.area],
                         floor=rule_floor(r))
             for r in report.rules.values()]
    wanted: dict[str, set[str]] = {}
    for f in report.findings:
        if f.source and f.status.value in SHOWN:
            wanted.setdefault(f.source, set()).add(f.address or f.resource)
    lines = _lines(wanted)
    results = [_gate_result(f, report, lines, root) for f in report.findings
               if f.status.value in SHOWN]
    notes = [{"level": "warning", "message": {"text": w.render()}} for w in report.warnings]
    return _document(rules, results, notes)


# --- post-apply ----------------------------------------------------------------------------


def _check_floor(check_id: str, seen: Iterable[Severity]) -> Severity:
    """The lowest severity of a post-apply check (or certificate rule) in any tier pack
    (else of its findings)."""
    pack = cert_severity if check_id.startswith(CERTS_PREFIX) else check_severity
    packed = lowest(s for s in (pack(check_id, t) for t in Tier) if s is not None)
    return packed or lowest(seen) or Severity.MEDIUM


def _check_descriptor(check_id: str, check: Check | None, seen: list[Severity]) -> dict[str, Any]:
    from keyplane.postapply.registry import DOCS_URL

    floor = _check_floor(check_id, seen)
    if check is None and check_id.startswith(CERTS_PREFIX):
        # a certificate rule (keyplane certs, and post-apply's certs section): documented
        # with the certificate inventory, its severity from the CERTS pack
        return _descriptor(check_id, title=f"certificate rule {check_id}",
                           summary=f"{check_id}: see the rule's row in {CERTS_DOCS_URL}",
                           doc=f"See {CERTS_DOCS_URL}.", help_uri=CERTS_DOCS_URL,
                           tags=["security", "keyplane", "post-apply", "certs"], floor=floor)
    if check is not None:
        return _descriptor(check_id, title=check.title, summary=check.summary, doc=check.doc,
                           help_uri=check.help_uri, floor=floor,
                           tags=["security", "keyplane", "post-apply", check.area,
                                 check.control.value])
    # a check of the jobs not yet moved into the registry: no title or doc of its own yet
    area = check_id.split(".", 1)[0]
    return _descriptor(check_id, title=f"post-apply check {check_id}", summary=check_id,
                       doc=f"See {DOCS_URL}.", help_uri=f"{DOCS_URL}#{check_id.replace('.', '')}",
                       tags=["security", "keyplane", "post-apply", area], floor=floor)


def stack_source(f: Finding, synth_dir: Path) -> str | None:
    """The synthesized stack file that declares `f`'s resource; None when nothing declares it."""
    if not f.address or f.cloud is None or not f.environment:
        return None
    return str(stack_file(f.environment, ModelCloud(f.cloud.value), synth_dir))


def post_apply_identities(findings: list[Finding]) -> dict[int, str]:
    """id(finding) -> its identity: the check, environment, deployed resource and region (not
    the file: the same drift on the same key is one alert in every run, wherever the stack was
    synthesized), and, when one check fails one resource more than once (two undeclared
    grants), a number in the order of their reasons."""
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        base = f"{f.rule_id}|{f.environment or ''}|{f.resource}|{f.region or ''}"
        groups.setdefault(base, []).append(f)
    out: dict[int, str] = {}
    for base, group in groups.items():
        for n, f in enumerate(sorted(group, key=lambda g: g.reason), 1):
            out[id(f)] = base if n == 1 else f"{base}|{n}"
    return out


def _post_apply_result(f: Finding, identity: str, source: str | None,
                       lines: dict[tuple[str, str], int], root: Path | None) -> dict[str, Any]:
    tier = f.tier.value if f.tier else "no tier"
    where = f.key or f.resource
    if f.region:
        where = f"{where} {f.region}"
    location: dict[str, Any] = {}
    if source is not None and f.address:
        artifact = artifact_location(source, root)
        physical: dict[str, Any] = {"artifactLocation": artifact}
        line = lines.get((source, f.address))
        if line:
            physical["region"] = {"startLine": line}
        location["physicalLocation"] = physical
        logical = [_logical(f.address)]
        if f.construct_path:
            logical.append({"fullyQualifiedName": f.construct_path, "kind": "module",
                            "name": f.construct_path.rsplit("/", 1)[-1]})
        location["logicalLocations"] = logical
    else:
        location["logicalLocations"] = [_logical(f.resource)]
    properties: dict[str, Any] = {
        "status": f.status.value, "severity": f.severity.value, "tier": tier,
        "control": f.control.value if f.control else None,
        "cloud": f.cloud.value if f.cloud else None, "environment": f.environment,
        "resource": f.resource, "key": f.key, "region": f.region, "address": f.address,
        "constructPath": f.construct_path, "security-severity": SECURITY_SEVERITY[f.severity]}
    for name in ("expected", "actual", "days_left"):
        value = getattr(f, name)
        if value is not None:
            properties[name] = json.loads(json.dumps(value, default=str))
    if f.is_open:
        level = "error"
    elif f.acknowledged is None and f.severity is Severity.INFO:
        level = "note"  # informational: never an alert
    else:
        level = "warning"  # acknowledged drift: kept, shown suppressed
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "level": level,
        "message": {"text": f"{f.status.value} [{tier}] {where}: {f.reason}"},
        "locations": [location],
        "partialFingerprints": _fingerprint(identity),
        "properties": properties,
    }
    if f.acknowledged:
        ack = f.acknowledged
        result["suppressions"] = [{
            "kind": "external", "status": "accepted",
            "justification": f"known drift: {ack.get('reason', '')} (owner {ack.get('owner', '-')}, "
                             f"until {ack.get('expires', '-')})"}]
    return result


def render_post_apply(report: PostApplyReport, *, synth_dir: Path = Path("cdktf.out"),
                      root: Path | None = None) -> str:
    """Post-apply's run: the checks of its sections as rules, a result per FAIL finding, and
    every resource it could not judge as a notification (the run was incomplete).

    `synth_dir` is where the synthesized stacks are (findings on declared resources point
    into them); `root` is the repository root URIs are relative to (None: git finds it).
    """
    from keyplane.postapply.registry import checks_for, discover

    report.sort()
    registered = discover()
    findings = [f for f in report.findings if f.status is Status.FAIL]
    ids = [c.check_id for c in checks_for(report.sections)]
    ids += sorted({f.rule_id for f in findings} - set(ids))
    seen: dict[str, list[Severity]] = {}
    for f in findings:
        seen.setdefault(f.rule_id, []).append(f.severity)
    rules = [_check_descriptor(i, registered.get(i), seen.get(i, [])) for i in ids]
    sources = {id(f): stack_source(f, synth_dir) for f in findings}
    wanted: dict[str, set[str]] = {}
    for f in findings:
        source = sources[id(f)]
        if source is not None and f.address:
            wanted.setdefault(source, set()).add(f.address)
    lines = _lines(wanted)
    identities = post_apply_identities(findings)
    results = [_post_apply_result(f, identities[id(f)], sources[id(f)], lines, root)
               for f in findings]
    notes = [{"level": "error" if u.status is Status.ERROR else "warning",
              "message": {"text": f"{u.status.value} {u.key or u.resource}: {u.reason}"},
              "descriptor": {"id": u.rule_id}} for u in report.unknowns]
    if report.stopped:
        notes.append({"level": "error", "message": {"text": f"stopped: {report.stopped}"}})
    return _document(rules, results, notes, successful=report.stopped is None)


def render(report: Report | PostApplyReport, root: Path | None = None, *,
           synth_dir: Path = Path("cdktf.out")) -> str:
    """The SARIF log of a gate report or a post-apply report."""
    if isinstance(report, Report):
        return render_gate(report, root=root)
    return render_post_apply(report, synth_dir=synth_dir, root=root)
