"""keyplane's exceptions: one base, subclasses that keep their fields.

Messages are lowercase, carry no final period, and say what was given and what
is allowed. Every error has a stable code so CI logs and scripts can match on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as the input allows."""

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str | None = None

    def location(self) -> str:
        """`file:line:col`, or as much of it as is known."""
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def render(self) -> str:
        """The one-line form printed on a terminal and in CI logs."""
        where = f" ({self.path})" if self.path else ""
        return f"{self.location()}: {self.code} {self.message}{where}"

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable form used by `--format json`."""
        return {
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
        }


class KeyplaneError(Exception):
    """Base of every error keyplane raises on purpose; the CLI turns it into exit 2."""

    code = "KP000"
    exit_code = 2

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def problems(self) -> list[Problem]:
        """The located problems this error stands for."""
        return [Problem(code=self.code, message=self.message)]

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable error object."""
        return {"error": self.code, "message": self.message,
                "problems": [p.to_dict() for p in self.problems()]}


class InventoryError(KeyplaneError):
    """The environment inventory is invalid; carries every problem found, not only the first."""

    code = "KP100"

    def __init__(self, problems: list[Problem]) -> None:
        files = sorted({p.file for p in problems if p.file})
        summary = f"{len(problems)} problem(s) in {', '.join(files) or 'the inventory'}"
        super().__init__(summary)
        self._problems = list(problems)

    def problems(self) -> list[Problem]:
        return list(self._problems)


class UsageError(KeyplaneError):
    """A command was called with arguments it cannot work with."""

    code = "KP002"
