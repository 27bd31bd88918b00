"""One call for the whole gate: read inputs, run rules, apply waivers, decide."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from keyplane.errors import Problem
from keyplane.policy.engine import Report, regate, run
from keyplane.policy.inputs import load_inputs
from keyplane.policy.model import Finding, Severity, today
from keyplane.policy.registry import discover
from keyplane.policy.waivers import apply_waivers, load_waivers

REDACTED = "(sensitive)"


def scrub(findings: list[Finding], secrets: set[str]) -> list[Finding]:
    """Findings with any sensitive string the plan marked replaced (belt and braces)."""
    if not secrets:
        return findings
    ordered = sorted(secrets, key=len, reverse=True)

    def clean(text: str | None) -> str | None:
        if text is None:
            return None
        for s in ordered:
            if s in text:
                text = text.replace(s, REDACTED)
        return text

    return [replace(f, reason=clean(f.reason) or "", attribute=clean(f.attribute))
            for f in findings]


def check(paths: Iterable[Path], *, waivers: Path | None = None,
          fail_level: Severity = Severity.HIGH, on: dt.date | None = None) -> Report:
    """The gate's report for `paths` (cdktf.out directories, cdk.tf.json files, plan JSON)."""
    rules = discover()
    day = on or today()
    waiver_list = load_waivers(waivers, rules) if waivers is not None else []
    loaded = load_inputs(paths)
    findings = run(loaded.resources, rules=rules, on=day, fail_level=fail_level)
    findings = scrub(findings, loaded.secrets)
    notes: list[Problem] = []
    if waiver_list:
        findings, notes = apply_waivers(findings, waiver_list, day)
        findings = regate(findings, rules, fail_level)
    return Report(findings=findings, rules=rules, files=loaded.files,
                  resources=len(loaded.resources), fail_level=fail_level,
                  warnings=[*loaded.warnings, *notes])
