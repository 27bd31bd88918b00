"""Errors of `keyplane report`: an input that cannot be read is named with the reason (exit 2)."""

from __future__ import annotations

from keyplane.errors import KeyplaneError, Problem

# Stable codes of `keyplane report` (KP81x).
REPORT_INPUT_UNREADABLE = "KP811"  # the file cannot be opened or decoded
REPORT_INPUT_NOT_JSON = "KP812"  # truncated or not JSON
REPORT_INPUT_SHAPE = "KP813"  # JSON, but not the output of the keyplane command it should be
REPORT_EVIDENCE_UNREADABLE = "KP814"  # a drill evidence record cannot be read
REPORT_BAD_DATE = "KP815"  # --as-of is not a date
REPORT_EVIDENCE_DIR_MISSING = "KP816"  # an --evidence-dir that does not exist (or is a file)
REPORT_HTML_TO_TERMINAL = "KP817"  # html asked for on a terminal without --output
REPORT_PAGES = "KP818"  # --page-size where pages cannot be written (markdown, stdout)


class ReportInputError(KeyplaneError):
    """An input of the report cannot be used; it names the file and the reason."""

    code = REPORT_INPUT_UNREADABLE

    def __init__(self, message: str, *, code: str, file: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        super().__init__(message, code=code)
        self.file, self.line, self.column = file, line, column

    def problems(self) -> list[Problem]:
        return [Problem(code=self.code, message=self.message, file=self.file, line=self.line,
                        column=self.column)]
