"""Machine-readable JSON: every finding, the summary and the verdict."""

from __future__ import annotations

import json

from keyplane.policy.engine import Report

# Findings encoded per chunk: one C-encoder call each, with bounded intermediate memory.
_CHUNK = 5_000


def render(report: Report) -> str:
    """The report as one JSON object, one finding per line.

    Encoded finding by finding with the C encoder (no `indent`): a 10,000-resource plan
    has about 100,000 findings, and building them as one tree doubles peak memory.
    """
    head = json.dumps({
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
        part = json.dumps([f.to_dict() for f in report.findings[start:start + _CHUNK]])
        chunks.append(part[1:-1])
    body = ",\n".join(c for c in chunks if c)
    return f'{head[:-1]}, "findings": [\n{body}\n]}}\n'

