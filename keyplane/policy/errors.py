"""Errors of the PR gate's inputs: located, with stable codes, exit 2 (fail closed)."""

from __future__ import annotations

from keyplane.errors import KeyplaneError, Problem

# Stable codes of `keyplane check` (KP5xx).
INPUT_UNREADABLE = "KP501"  # cannot read the file or directory
INPUT_NOT_JSON = "KP502"  # truncated or not JSON
INPUT_UNSUPPORTED_FORMAT = "KP503"  # plan format_version with an unsupported major
INPUT_UNRECOGNIZED = "KP504"  # JSON, but neither synth JSON nor a plan
INPUT_MALFORMED = "KP505"  # the right kind of document with the wrong shape
WAIVER_MALFORMED = "KP510"  # waivers file: syntax, missing field, bad date, unknown rule
PLAN_MINOR_VERSION = "KP520"  # warning: unknown minor format_version, read anyway
WAIVER_EXPIRED = "KP521"  # warning: an expired waiver no longer applies
WAIVER_UNUSED = "KP522"  # warning: a waiver that matches no finding
RULE_ERRORED = "KP530"  # a rule raised; its finding is ERROR and fails the gate


class CheckInputError(KeyplaneError):
    """An input of `keyplane check` cannot be read as synth JSON or a plan: the gate fails."""

    code = INPUT_NOT_JSON

    def __init__(self, message: str, *, code: str, file: str | None = None,
                 line: int | None = None, column: int | None = None,
                 path: str | None = None) -> None:
        super().__init__(message, code=code)
        self.file, self.line, self.column, self.path = file, line, column, path

    def problems(self) -> list[Problem]:
        return [Problem(code=self.code, message=self.message, file=self.file, line=self.line,
                        column=self.column, path=self.path)]


class WaiverError(KeyplaneError):
    """The waivers file is malformed; every problem is listed with its file:line."""

    code = WAIVER_MALFORMED

    def __init__(self, problems: list[Problem]) -> None:
        files = sorted({p.file for p in problems if p.file})
        super().__init__(f"{len(problems)} problem(s) in {', '.join(files) or 'the waivers'}")
        self._problems = list(problems)

    def problems(self) -> list[Problem]:
        return list(self._problems)
