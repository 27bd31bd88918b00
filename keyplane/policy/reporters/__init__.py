"""Renderers of a Report: text, json, sarif, markdown, junit. None prints a sensitive value:
the plan reader replaced those before any rule ran."""

from __future__ import annotations

from collections.abc import Callable

from keyplane.policy.engine import Report

FORMATS = ("text", "json", "sarif", "markdown", "junit")


def renderer(fmt: str) -> Callable[[Report], str]:
    """The render function of `fmt`."""
    if fmt == "json":
        from keyplane.policy.reporters.jsonout import render
    elif fmt == "sarif":
        from keyplane.policy.reporters.sarif import render
    elif fmt == "markdown":
        from keyplane.policy.reporters.markdown import render
    elif fmt == "junit":
        from keyplane.policy.reporters.junit import render
    else:
        from keyplane.policy.reporters.text import render
    return render


SHOWN = ("FAIL", "ERROR", "UNKNOWN")


def verdict(report: Report) -> str:
    """`passed` or `failed`, and why."""
    n = len(report.gating())
    if not n:
        return f"gate passed (fail level {report.fail_level.value})"
    return f"gate failed: {n} finding(s) at or above {report.fail_level.value}"
