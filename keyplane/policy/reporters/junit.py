"""JUnit XML: one test case per (rule, resource), for CI test reports."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from keyplane.policy.engine import Report
from keyplane.policy.model import Finding, Status


def render(report: Report) -> str:
    """A testsuite per area; FAIL and gate-failing UNKNOWN are failures, ERROR errors."""
    root = ET.Element("testsuites", name="keyplane check")
    by_area: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_area[f.area].append(f)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for area in sorted(by_area):
        suite = ET.SubElement(root, "testsuite", name=f"keyplane.{area}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for f in by_area[area]:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=f"keyplane.{area}.{f.rule_id}",
                                 name=f.address)
            text = f"{f.message} (severity {f.severity.value}, tier " \
                   f"{f.tier.value if f.tier else '-'}, attribute {f.attribute or '-'})"
            if f.status is Status.ERROR:
                counts["errors"] += 1
                ET.SubElement(case, "error", message=f.message, type="ERROR").text = text
            elif f.waived_by or f.status is Status.NOT_APPLICABLE:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"waived by {f.waived_by}"
                              if f.waived_by else f.message)
            elif f.status is Status.FAIL or (f.status is Status.UNKNOWN and f.gate):
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=f.message,
                              type=f.status.value).text = text
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"
