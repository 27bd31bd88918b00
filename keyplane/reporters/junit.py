"""JUnit XML for CI test reports: the gate's one test case per (rule, resource), and
post-apply's one test case per finding and per resource it could not judge."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keyplane.findings import Finding, Severity, Status
from keyplane.policy.engine import Report

if TYPE_CHECKING:
    from keyplane.postapply.report import Report as PostApplyReport

# What a test case says: passed, or a child element of this kind.
PASSED, FAILURE, ERROR, SKIPPED = "passed", "failure", "error", "skipped"


@dataclass(frozen=True, slots=True)
class Case:
    """One test case of one suite."""

    suite: str
    classname: str
    name: str
    kind: str = PASSED
    message: str = ""
    type: str = ""
    text: str | None = None


def document(name: str, cases: Iterable[Case]) -> str:
    """The testsuites document: a suite per `Case.suite` (sorted), cases in the given order."""
    root = ET.Element("testsuites", name=name)
    by_suite: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        by_suite[c.suite].append(c)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    plural = {FAILURE: "failures", ERROR: "errors", SKIPPED: "skipped"}
    for suite_name in sorted(by_suite):
        suite = ET.SubElement(root, "testsuite", name=suite_name)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for c in by_suite[suite_name]:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=c.classname, name=c.name)
            if c.kind == PASSED:
                continue
            counts[plural[c.kind]] += 1
            attrs = {"message": c.message}
            if c.type:
                attrs["type"] = c.type
            ET.SubElement(case, c.kind, attrs).text = c.text
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"


def _gate_case(f: Finding) -> Case:
    """FAIL and gate-failing UNKNOWN are failures, ERROR errors, waived and N/A skipped."""
    suite, classname = f"keyplane.{f.area}", f"keyplane.{f.area}.{f.rule_id}"
    text = (f"{f.reason} (severity {f.severity.value}, tier "
            f"{f.tier.value if f.tier else '-'}, attribute {f.attribute or '-'})")
    if f.status is Status.ERROR:
        return Case(suite, classname, f.resource, ERROR, f.reason, "ERROR", text)
    if f.waived_by or f.status is Status.NOT_APPLICABLE:
        return Case(suite, classname, f.resource, SKIPPED,
                    f"waived by {f.waived_by}" if f.waived_by else f.reason)
    if f.status is Status.FAIL or (f.status is Status.UNKNOWN and f.gate):
        return Case(suite, classname, f.resource, FAILURE, f.reason, f.status.value, text)
    return Case(suite, classname, f.resource)


def _post_apply_case(f: Finding) -> Case:
    """An open FAIL is a failure; acknowledged drift and informational results are skipped;
    what could not be judged (UNKNOWN, ERROR) is an error: never a pass."""
    area = f.area or f.rule_id.split(".", 1)[0]
    suite, classname = f"keyplane.post-apply.{area}", f"keyplane.{f.rule_id}"
    name = f.key or f.resource
    if f.region:
        name = f"{name} {f.region}"
    tier = f.tier.value if f.tier else "-"
    text = f"{f.reason} (severity {f.severity.value}, tier {tier}, resource {f.resource})"
    if f.status in (Status.UNKNOWN, Status.ERROR):
        return Case(suite, classname, name, ERROR, f.reason, f.status.value, text)
    if f.acknowledged:
        return Case(suite, classname, name, SKIPPED,
                    f"acknowledged: {f.acknowledged.get('reason', '')}")
    if f.status is Status.FAIL and f.severity is Severity.INFO:
        return Case(suite, classname, name, SKIPPED, f"informational: {f.reason}")
    if f.status is Status.FAIL:
        return Case(suite, classname, name, FAILURE, f.reason, f.status.value, text)
    return Case(suite, classname, name)


def _unique(cases: list[Case]) -> list[Case]:
    """Cases whose (classname, name) repeats get ` [2]`, ` [3]`...: CI tools merge duplicates."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for c in cases:
        seen[(c.classname, c.name)] += 1
        n = seen[(c.classname, c.name)]
        out.append(c if n == 1 else Case(c.suite, c.classname, f"{c.name} [{n}]", c.kind,
                                         c.message, c.type, c.text))
    return out


def render(report: Report | PostApplyReport) -> str:
    """The gate: a testsuite per area, a case per finding. Post-apply: a testsuite per check
    area, a case per finding and per unknown, and an error case when the run stopped early
    (a clean run has no case)."""
    if isinstance(report, Report):
        return document("keyplane check", (_gate_case(f) for f in report.findings))
    report.sort()
    cases = [_post_apply_case(f) for f in [*report.findings, *report.unknowns]]
    if report.stopped:  # the run did not finish: never a green report
        cases.append(Case("keyplane.post-apply", f"keyplane.{report.command}",
                          report.environment, ERROR, f"stopped: {report.stopped}", "STOPPED"))
    return document(f"keyplane {report.command} {report.environment}", _unique(cases))
