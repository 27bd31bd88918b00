"""SARIF 2.1.0 for GitHub code scanning (upload-sarif)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from keyplane.policy.engine import Report
from keyplane.policy.model import Finding, Severity, Status
from keyplane.policy.reporters import SHOWN

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# GitHub reads `security-severity` (0-10) to rank security alerts.
_SECURITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
             Severity.LOW: "3.0", Severity.INFO: "1.0"}


def _uri(path: str | None) -> str:
    if not path:
        return "cdktf.out"
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    return Path(rel).as_posix()


def _lines(report: Report) -> dict[tuple[str, str], int]:
    """(file, address) -> line where the resource is written, found by a plain text search."""
    wanted: dict[str, set[str]] = {}
    for f in report.findings:
        if f.source and f.status.value in SHOWN:
            wanted.setdefault(f.source, set()).add(f.address)
    out: dict[tuple[str, str], int] = {}
    for source, addresses in wanted.items():
        try:
            text = Path(source).read_text(encoding="utf-8").splitlines()
        except OSError:
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


def _result(f: Finding, lines: dict[tuple[str, str], int]) -> dict[str, Any]:
    level = "error" if f.gate or f.status is Status.ERROR else "warning"
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(f.source)}}
    line = lines.get((f.source or "", f.address))
    if line:
        physical["region"] = {"startLine": line}
    tier = f.tier.value if f.tier else "no tier"
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "level": level,
        "message": {"text": f"{f.status.value} [{tier}] {f.address}: {f.message}"},
        "locations": [{
            "physicalLocation": physical,
            "logicalLocations": [{"fullyQualifiedName": f.address, "kind": "resource",
                                  "name": f.address}],
        }],
        "partialFingerprints": {"keyplaneFinding/v1": hashlib.sha256(
            f"{f.rule_id}|{f.address}".encode()).hexdigest()},
        "properties": {"status": f.status.value, "severity": f.severity.value, "tier": tier,
                       "constructPath": f.construct_path, "attribute": f.attribute},
    }
    if f.waived_by:
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": f"waiver {f.waived_by}"}]
    return result


def render(report: Report) -> str:
    """One SARIF run: every rule in tool.driver.rules, a result per non-passing finding."""
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
            "properties": {"tags": ["security", "keyplane", r.area],
                           "security-severity": _SECURITY[r.severity]},
        })
    lines = _lines(report)
    results = [_result(f, lines) for f in report.findings if f.status.value in SHOWN]
    notes = [{"level": "warning", "message": {"text": w.render()}} for w in report.warnings]
    sarif = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "keyplane", "informationUri": rules[0]["helpUri"]
                                if rules else "https://github.com/keyplane/keyplane",
                                "semanticVersion": "0.1.0", "rules": rules}},
            "invocations": [{"executionSuccessful": True,
                             "toolExecutionNotifications": notes}],
            "results": results,
        }],
    }
    return json.dumps(sarif) + "\n"
