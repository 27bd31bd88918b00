"""Machine-readable JSON. The gate: every finding, the summary and the verdict (schema 1, with
the names schema 0 used kept beside them). Post-apply: its own document
(`keyplane.postapply.report`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from keyplane.findings import SCHEMA_VERSION, Finding
from keyplane.policy.engine import Report

if TYPE_CHECKING:
    from keyplane.postapply.report import Report as PostApplyReport

# Findings encoded per chunk: one C-encoder call each, with bounded intermediate memory.
_CHUNK = 5_000


def gate_finding_json(f: Finding) -> dict[str, Any]:
    """A gate finding in JSON: schema 1 (`Finding.to_dict`), plus the names schema 0 used,
    each present even when null, so existing readers go on working."""
    data = f.to_dict()
    data["status"] = f.status.value  # schema 1: outcome
    data["message"] = f.reason  # schema 1: reason
    data["address"] = f.address
    data["resource_type"] = f.resource_type
    data["construct_path"] = f.construct_path
    data["attribute"] = f.attribute
    data["source"] = f.source
    data["area"] = f.area
    data["fails_gate"] = f.gate
    data["waived_by"] = f.waived_by
    return data


def render(report: Report | PostApplyReport) -> str:
    """The gate's report as one JSON object, one finding per line (post-apply: its own JSON).

    Encoded finding by finding with the C encoder (no `indent`): a 10,000-resource plan
    has about 100,000 findings, and building them as one tree doubles peak memory.
    """
    if not isinstance(report, Report):
        from keyplane.postapply.report import render as render_post_apply

        return render_post_apply(report, "json")
    head = json.dumps({
        "schema_version": SCHEMA_VERSION,
        "kind": "check",
        "tool": "keyplane check",
        "gate": "fail" if report.failed else "pass",
        "fail_level": report.fail_level.value,
        "files": report.files,
        "resources": report.resources,
        "rules": len(report.rules),
        "summary": report.counts(),
        "warnings": [w.to_dict() for w in report.warnings],
    })
    chunks = []
    for start in range(0, len(report.findings), _CHUNK):
        part = json.dumps([gate_finding_json(f) for f in report.findings[start:start + _CHUNK]])
        chunks.append(part[1:-1])
    body = ",\n".join(c for c in chunks if c)
    return f'{head[:-1]}, "findings": [\n{body}\n]}}\n'
