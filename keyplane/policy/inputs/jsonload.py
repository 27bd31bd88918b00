"""Read one JSON file, failing closed with file:line:col when it is truncated or not JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keyplane.policy.errors import INPUT_NOT_JSON, INPUT_UNREADABLE, CheckInputError


def read_json(path: Path) -> Any:
    """The parsed document; CheckInputError (exit 2) naming the position of the first problem."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckInputError(f"cannot read file: {exc.strerror or exc}", code=INPUT_UNREADABLE,
                              file=file) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise CheckInputError(f"file is not valid utf-8 (byte 0x{raw[exc.start]:02x}); "
                              "expected terraform json", code=INPUT_NOT_JSON, file=file,
                              line=line, column=col) from None
    if not text.strip():
        raise CheckInputError("file is empty; expected synth json or a terraform plan in json",
                              code=INPUT_NOT_JSON, file=file, line=1, column=1)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip())
        what = "truncated json" if truncated else "not valid json"
        raise CheckInputError(f"{what}: {exc.msg.lower()}; the gate fails closed",
                              code=INPUT_NOT_JSON, file=file, line=exc.lineno,
                              column=exc.colno) from None
