"""SARIF 2.1.0 for GitHub code scanning (upload-sarif).

Code scanning resolves `artifactLocation.uri` against the repository's root, so every URI
is repository-relative: relative to `--sarif-root` when given, else to
`git rev-parse --show-toplevel` of each input's directory. A file outside any repository
keeps an absolute `file://` URI rather than a relative one that would point at the wrong
file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from keyplane.policy.engine import Report, gate_fails
from keyplane.policy.errors import CheckInputError
from keyplane.policy.inputs.jsonload import read_text
from keyplane.policy.model import Finding, Severity, Status
from keyplane.policy.packs import PACKS
from keyplane.policy.registry import Rule
from keyplane.policy.reporters import SHOWN

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DISTRIBUTION = "keyplane"
SRCROOT = "%SRCROOT%"
# GitHub ranks security alerts by `security-severity`: 9.0-10 critical, 7.0-8.9 high,
# 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                     Severity.LOW: "3.0", Severity.INFO: "1.0"}
# An UNKNOWN the gate does not fail on says "not verified", not "vulnerable": ranked no higher.
UNVERIFIED_CAP = Severity.LOW


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


def _lines(report: Report) -> dict[tuple[str, str], int]:
    """(file, address) -> line where the resource is written, found by a plain text search."""
    wanted: dict[str, set[str]] = {}
    for f in report.findings:
        if f.source and f.status.value in SHOWN:
            wanted.setdefault(f.source, set()).add(f.address)
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


def _result(f: Finding, report: Report, lines: dict[tuple[str, str], int],
            root: Path | None) -> dict[str, Any]:
    level = "error" if f.gate or f.status is Status.ERROR else "warning"
    location = artifact_location(f.source, root)
    physical: dict[str, Any] = {"artifactLocation": location}
    line = lines.get((f.source or "", f.address))
    if line:
        physical["region"] = {"startLine": line}
    tier = f.tier.value if f.tier else "no tier"
    # The input file is part of the identity: one rule and address in plan.json and in
    # cdk.tf.json are two alerts, and a repository-relative URI keeps it stable across runs.
    identity = f"{f.rule_id}|{location['uri']}|{f.address}"
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "level": level,
        "message": {"text": f"{f.status.value} [{tier}] {f.address}: {f.message}"},
        "locations": [{
            "physicalLocation": physical,
            "logicalLocations": [{"fullyQualifiedName": f.address, "kind": "resource",
                                  "name": f.address}],
        }],
        "partialFingerprints": {"keyplaneFinding/v2": hashlib.sha256(identity.encode()).hexdigest()},
        "properties": {"status": f.status.value, "severity": f.severity.value, "tier": tier,
                       "constructPath": f.construct_path, "attribute": f.attribute,
                       "security-severity": security_severity(f, report.rules.get(f.rule_id),
                                                              report)},
    }
    if f.waived_by:
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": f"waiver {f.waived_by}"}]
    return result


def render(report: Report, root: Path | None = None) -> str:
    """One SARIF run: every rule in tool.driver.rules, a result per non-passing finding.

    `root` is the repository root URIs are relative to; None finds it per input with git.
    """
    rules = []
    for r in report.rules.values():
        rules.append({
            "id": r.rule_id,
            "name": "".join(p.capitalize() for p in r.rule_id.split("_")),
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": r.summary},
            "help": {"text": r.doc, "markdown": r.doc},
            "helpUri": r.help_uri,
            "defaultConfiguration": {"level": "error"},
            # A result carries its own rank; this default is what an alert without one
            # gets, so it is the rule's lowest, never its highest.
            "properties": {"tags": ["security", "keyplane", r.area],
                           "security-severity": SECURITY_SEVERITY[rule_floor(r)]},
        })
    lines = _lines(report)
    results = [_result(f, report, lines, root) for f in report.findings
               if f.status.value in SHOWN]
    notes = [{"level": "warning", "message": {"text": w.render()}} for w in report.warnings]
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
            "invocations": [{"executionSuccessful": True,
                             "toolExecutionNotifications": notes}],
            "results": results,
        }],
    }
    return json.dumps(sarif) + "\n"
