"""Reading YAML with positions: every value keeps the line and column it came from."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from keyplane.documents import MAX_DEPTH, MAX_YAML_VALUES
from keyplane.errors import Problem

Path_ = tuple[str | int, ...]
# Python prints no int longer than sys.get_int_max_str_digits() (0: no limit).
_MAX_INT_BITS = int(sys.get_int_max_str_digits() * 3.3219280948873626)


def dotted(path: Path_, data: Any = None) -> str:
    """`keys[3].tier` for ("keys", 3, "tier"); with the document's `data`, a list item that
    has a `name` is shown by it: `keys[code-signing].tier`, what a reader finds in the file."""
    out = ""
    node = data
    for part in path:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            out += f"[{name}]" if isinstance(name, str) and name.strip() else f"[{part}]"
            node = item
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


@dataclass
class SourceDoc:
    """A parsed YAML document as plain data, with the position of every path in it."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_) -> tuple[int | None, int | None]:
        """1-based (line, column) of `path`, or of its nearest located parent."""
        p = tuple(path)
        while p:
            if p in self.positions:
                return self.positions[p]
            p = p[:-1]
        return self.positions.get((), (None, None))

    def problem(self, code: str, message: str, path: Path_ = ()) -> Problem:
        """A problem located at `path` in this file."""
        line, col = self.where(path)
        return Problem(code=code, message=message, file=self.file, line=line, column=col,
                       path=dotted(path, self.data) or None)


class _Refused(Exception):
    """A YAML document keyplane will not turn into data (see keyplane.documents)."""

    def __init__(self, reason: str, path: Path_) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


def _plain(node: Any, path: Path_, pos: dict[Path_, tuple[int, int]],
           budget: list[int], ancestors: tuple[int, ...] = ()) -> Any:
    """`node` as plain dicts, lists and scalars, recording positions.

    Aliases are expanded; an alias inside its own anchor, nesting deeper than
    MAX_DEPTH, or more than MAX_YAML_VALUES values after expansion raise _Refused.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise _Refused(f"expands to more than {MAX_YAML_VALUES} values (yaml aliases repeated "
                       "inside each other?)", path)
    if isinstance(node, CommentedMap | CommentedSeq):
        if id(node) in ancestors:
            raise _Refused("a value contains itself (a yaml alias inside its own anchor)", path)
        if len(ancestors) >= MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", path)
        ancestors = (*ancestors, id(node))
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            try:
                line, col = node.lc.key(k)
                pos[(*path, k)] = (line + 1, col + 1)
            except (KeyError, TypeError, IndexError):
                pass
            out[_key(k)] = _plain(v, (*path, k), pos, budget, ancestors)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, v in enumerate(node):
            try:
                line, col = node.lc.item(i)
                pos[(*path, i)] = (line + 1, col + 1)
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_plain(v, (*path, i), pos, budget, ancestors))
        return items
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int) and not isinstance(node, bool) and _MAX_INT_BITS and \
            node.bit_length() > _MAX_INT_BITS:
        raise _Refused(f"a number is longer than {sys.get_int_max_str_digits()} digits", path)
    return node


def _key(key: Any) -> Any:
    """A mapping key as plain data: a complex key (`? [a, b]`) becomes its text."""
    if isinstance(key, str):
        return str(key)
    if isinstance(key, CommentedMap | CommentedSeq | tuple | list | dict):
        return str(key)
    return key


def _decode(raw: bytes, file: str) -> tuple[str | None, Problem | None]:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, Problem("KP102", f"file is not valid utf-8 (byte 0x{raw[exc.start]:02x}); "
                                      "save it as utf-8", file, line, col)


def parse_yaml(path: Path, display: str | None = None) -> tuple[SourceDoc | None, list[Problem]]:
    """Parse one YAML file; on any syntax or encoding problem return no document."""
    file = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem("KP101", f"cannot read file: {exc.strerror or exc}", file)]
    text, problem = _decode(raw, file)
    if problem is not None or text is None:
        return None, [problem] if problem else []
    if "\x00" in text:
        idx = text.index("\x00")
        line = text.count("\n", 0, idx) + 1
        return None, [Problem("KP102", "file contains a nul byte; is it binary?", file, line)]
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = (exc.problem or exc.context or "invalid yaml").strip()
        if mark is None:
            return None, [Problem("KP101", f"yaml syntax error: {what}", file)]
        return None, [Problem("KP101", f"yaml syntax error: {what}", file, mark.line + 1,
                              mark.column + 1)]
    except YAMLError as exc:
        return None, [Problem("KP101", f"yaml syntax error: {_first_line(exc)}", file)]
    except RecursionError:
        return None, [Problem("KP101", f"yaml cannot be read: nested deeper than {MAX_DEPTH} "
                              "levels", file)]
    except (ValueError, TypeError, ArithmeticError, LookupError) as exc:
        # ruamel's constructors raise plain Python errors for a value that scans but does
        # not construct: `2025-13-45` (a timestamp), `!!int x`, a 5000-digit number.
        return None, [Problem("KP101", f"yaml value cannot be read: {_first_line(exc)}", file)]
    pos: dict[Path_, tuple[int, int]] = {(): (1, 1)}
    try:
        data = _plain(node, (), pos, [MAX_YAML_VALUES])
    except _Refused as exc:
        at_line, at_col = SourceDoc(file=file, data=None, positions=pos).where(exc.path)
        return None, [Problem("KP101", f"yaml cannot be read: {exc.reason}", file, at_line,
                              at_col)]
    return SourceDoc(file=file, data=data, positions=pos), []


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    # "...: value has 5000 digits; use sys.set_int_max_str_digits() ...": not the user's fix
    return lines[0].split("; use sys.")[0] if lines else type(exc).__name__
