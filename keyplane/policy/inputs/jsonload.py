"""Read one JSON file, failing closed with file:line:col when it is truncated or not JSON.

Encodings: UTF-8, UTF-8 with a byte order mark (Windows editors), and UTF-16 LE/BE with a
byte order mark (`terraform show -json > plan.json` in Windows PowerShell 5 writes UTF-16 LE).
Anything else is a coded error naming the file, never a guess.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

from keyplane.documents import DocumentError, loads
from keyplane.policy.errors import INPUT_MALFORMED, INPUT_NOT_JSON, INPUT_UNREADABLE, CheckInputError

# Longest mark first: the UTF-32 LE mark begins with the UTF-16 LE one.
_MARKS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
          (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
          (codecs.BOM_UTF16_BE, "utf-16-be"))
_READ = frozenset({"utf-8", "utf-16-le", "utf-16-be"})
_EXPECTED = "expected utf-8, or utf-16 with a byte order mark"


def _position(text: str) -> tuple[int, int]:
    """(line, column) just after `text`, both 1-based, counted in characters."""
    return text.count("\n") + 1, len(text) - (text.rfind("\n") + 1) + 1


def decode(raw: bytes, file: str) -> str:
    """The text of a file's bytes, by its byte order mark; CheckInputError when it has none we read."""
    encoding, body = "utf-8", raw
    for mark, name in _MARKS:
        if raw.startswith(mark):
            encoding, body = name, raw[len(mark):]
            break
    if encoding not in _READ:
        raise CheckInputError(f"file is {encoding} (byte order mark {raw[:4].hex(' ')}); {_EXPECTED}",
                              code=INPUT_NOT_JSON, file=file, line=1, column=1)
    if encoding == "utf-8" and b"\x00" in body:
        # JSON never holds a raw NUL; UTF-8 text with NULs is UTF-16 or UTF-32 without a mark.
        at = body.index(b"\x00")
        line, column = _position(body[:at].decode("utf-8", errors="replace"))
        raise CheckInputError(f"file has nul bytes (utf-16 or utf-32 without a byte order mark?); "
                              f"{_EXPECTED}", code=INPUT_NOT_JSON, file=file, line=line,
                              column=column)
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        line, column = _position(body[:exc.start].decode(encoding, errors="replace"))
        what = f"byte 0x{body[exc.start]:02x}" if encoding == "utf-8" else \
            f"{exc.reason} at byte {exc.start + len(raw) - len(body)}"
        raise CheckInputError(f"file is not valid {encoding} ({what}); expected terraform json",
                              code=INPUT_NOT_JSON, file=file, line=line, column=column) from None


def read_text(path: Path) -> str:
    """The decoded text of a JSON input; CheckInputError (exit 2) when it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckInputError(f"cannot read file: {exc.strerror or exc}", code=INPUT_UNREADABLE,
                              file=str(path)) from None
    return decode(raw, str(path))


def read_json(path: Path) -> Any:
    """The parsed document; CheckInputError (exit 2) naming the position of the first problem."""
    file = str(path)
    text = read_text(path)
    if not text.strip():
        raise CheckInputError("file is empty; expected synth json or a terraform plan in json",
                              code=INPUT_NOT_JSON, file=file, line=1, column=1)
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip())
        what = "truncated json" if truncated else "not valid json"
        raise CheckInputError(f"{what}: {exc.msg.lower()}; the gate fails closed",
                              code=INPUT_NOT_JSON, file=file, line=exc.lineno,
                              column=exc.colno) from None
    except DocumentError as exc:  # parsed, but too deep or a number too long to read
        raise CheckInputError(f"json cannot be read: {exc.reason}; the gate fails closed",
                              code=INPUT_MALFORMED, file=file, path=exc.at()) from None
