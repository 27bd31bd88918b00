"""Writing results: formats, atomic files, and machine-readable errors."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from keyplane.errors import KeyplaneError

# The output format of the running command, so an error is printed the same way.
_state: dict[str, str] = {"format": "text"}


def set_format(fmt: str) -> None:
    """Remember the running command's `--format` for error output."""
    _state["format"] = fmt


def emit_error(exc: KeyplaneError) -> None:
    """Print an error: a JSON object on stdout under `--format json`, lines on stderr otherwise."""
    if _state["format"] == "json":
        click.echo(json.dumps(exc.to_dict(), indent=2))
        return
    problems = exc.problems()
    if len(problems) == 1 and problems[0].file is None:
        click.echo(f"keyplane: error {exc.code}: {exc.message}", err=True)
        return
    for problem in problems:
        click.echo(problem.render(), err=True)
    if not any(p.message == exc.message for p in problems):  # a summary, not a repetition
        click.echo(f"keyplane: {exc.message}", err=True)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(data: Any) -> str:
    """Stable, readable JSON."""
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def deliver(text: str, output: Path | None) -> None:
    """Print `text`, or write it atomically to `output` and say so on stderr (stdout stays
    the command's own output; a CI log shows where every file went)."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(output, text)
        click.echo(f"keyplane: wrote {output}", err=True)
