"""Progress of long steps, on stderr: live on a terminal, one line per step in CI logs.

On a terminal each step shows a spinner (rich) while it runs and a line with its duration
when it ends. Elsewhere (CI logs, pipes) each step is one plain line when it starts, so a
log says what was running if a job is killed. `--quiet` turns both off. Progress never goes
to stdout, which belongs to the command's output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """Reports steps; a no-op when disabled."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and _isatty(self.stream)

    def note(self, text: str) -> None:
        """One line, now (a step's result or where something was written)."""
        if self.enabled:
            print(f"  {text}", file=self.stream, flush=True)

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """A step: a spinner on a terminal, a start line elsewhere, then its duration."""
        if not self.enabled:
            yield
            return
        start = time.monotonic()
        if not self.live:
            print(f"keyplane: {text}", file=self.stream, flush=True)
            yield
            return
        from rich.console import Console

        console = Console(file=self.stream)
        with console.status(text):
            yield
        console.print(f"[green]done[/green] {text} ({time.monotonic() - start:.1f} s)",
                      highlight=False)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
