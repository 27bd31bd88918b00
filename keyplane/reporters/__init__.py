"""Renderers of findings, whatever produced them: the gate's Report (`keyplane check`) and
post-apply's Report (`keyplane post-apply` and its single-job commands).

Formats: text, json, markdown, sarif and junit. Post-apply's text, json and markdown are
its own (`keyplane.postapply.report`); sarif and junit are shared. None prints a sensitive
value: the plan reader replaced those before any rule ran, and post-apply findings carry
names, states and numbers only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keyplane.policy.engine import Report

FORMATS = ("text", "json", "sarif", "markdown", "junit")
# The gate's findings a report shows (PASS and NOT_APPLICABLE are counted only).
SHOWN = ("FAIL", "ERROR", "UNKNOWN")


def renderer(fmt: str) -> Callable[[Any], str]:
    """The render function of `fmt`; each takes a gate or a post-apply report."""
    if fmt == "json":
        from keyplane.reporters.jsonout import render
    elif fmt == "sarif":
        from keyplane.reporters.sarif import render
    elif fmt == "markdown":
        from keyplane.reporters.markdown import render
    elif fmt == "junit":
        from keyplane.reporters.junit import render
    elif fmt == "text":
        from keyplane.reporters.text import render
    else:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    return render


def render(report: Any, fmt: str, *, root: Path | None = None,
           synth_dir: Path = Path("cdktf.out")) -> str:
    """`report` (gate or post-apply) in `fmt`; `root` and `synth_dir` locate SARIF results."""
    if fmt == "sarif":
        from keyplane.reporters import sarif

        return sarif.render(report, root=root, synth_dir=synth_dir)
    return renderer(fmt)(report)


def verdict(report: Report) -> str:
    """`passed` or `failed`, and why."""
    n = len(report.gating())
    if not n:
        return f"gate passed (fail level {report.fail_level.value})"
    return f"gate failed: {n} finding(s) at or above {report.fail_level.value}"
