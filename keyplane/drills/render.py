"""Rendering drill results: text for terminals, JSON for machines, Markdown for PRs and issues."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from keyplane.audit.evidence import DrillResult


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}s"


def _row(r: DrillResult) -> list[str]:
    gen = "-" if r.generation is None else f"g{r.generation}"
    return [r.kind, r.key or "-", gen, r.outcome, _secs(r.rto_seconds), _secs(r.rpo_seconds),
            r.reason]


HEAD = ["kind", "target", "gen", "outcome", "rto", "rpo", "reason"]


def text(results: Sequence[DrillResult], *, title: str, notes: Sequence[str] = ()) -> str:
    """A fixed-width table."""
    rows = [HEAD] + [_row(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEAD) - 1)]
    lines = [title]
    for row in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
                     + "  " + row[-1])
    lines += [f"  note: {n}" for n in notes]
    if not results:
        lines.append("  (no results)")
    return "\n".join(lines) + "\n"


def markdown(results: Sequence[DrillResult], *, title: str, notes: Sequence[str] = ()) -> str:
    """A Markdown table."""
    lines = [f"### {title}", "", "| " + " | ".join(HEAD) + " |",
             "|" + "---|" * len(HEAD)]
    for r in results:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _row(r)) + " |")
    lines += ["", *[f"> {n}" for n in notes]] if notes else []
    return "\n".join(lines) + "\n"


def as_json(data: Any) -> str:
    """Stable JSON."""
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def render(fmt: str, results: Sequence[DrillResult], *, title: str, data: Any,
           notes: Sequence[str] = ()) -> str:
    """`results` in `fmt` (text, json, markdown); `data` is the JSON document."""
    if fmt == "json":
        return as_json(data)
    if fmt == "markdown":
        return markdown(results, title=title, notes=notes)
    return text(results, title=title, notes=notes)
