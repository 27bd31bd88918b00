"""What a parsed document (JSON or YAML) may be before keyplane walks it.

Every reader parses its file, then calls `problem()` (or `loads()` for JSON) and turns
what comes back into its own coded error. Real inputs nest a few dozen levels at most
(a Terraform plan: modules, nested blocks, a policy document inside); a document nested
deeper, an alias that contains itself, aliases that expand a few lines into millions of
values, or a number too long for Python to print is refused where it is read, so no
later walk (copies, redaction, secret scans, reports) can exhaust the stack or the
clock. A RecursionError would otherwise reach the command line as an internal error.
"""

from __future__ import annotations

import json
import sys
from typing import Any

MAX_DEPTH = 200  # levels of objects/lists; real inputs stay well below 50
MAX_YAML_VALUES = 200_000  # values once aliases are expanded; an inventory has a few hundred
# Python refuses to print an int longer than this (sys.get_int_max_str_digits(), 4300 by
# default); an int is refused when it reads, not when a message later prints it.
_LOG2_10 = 3.3219280948873626

Path = tuple[str | int, ...]


class DocumentError(ValueError):
    """A document that parsed but cannot be walked safely; `path` locates it."""

    def __init__(self, reason: str, path: Path = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def at(self) -> str | None:
        """Where in the document: `a.b[3]` (the first eight steps of a long path), or None."""
        if not self.path:
            return None
        return dotted(self.path[:8]) + ("..." if len(self.path) > 8 else "")

    def where(self) -> str:
        """`reason (at a.b[3])`, or the reason alone at the top of the document."""
        at = self.at()
        return f"{self.reason} (at {at})" if at else self.reason


def dotted(path: Path) -> str:
    """`a.b[3].c` for ("a", "b", 3, "c")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _max_digits() -> int:
    return sys.get_int_max_str_digits()  # 0: no limit


def _int(text: str) -> int:
    limit = _max_digits()
    digits = len(text.lstrip("+-"))
    if limit and digits > limit:
        raise DocumentError(f"a number has {digits} digits; at most {limit} are read")
    return int(text)


def problem(data: Any, *, max_depth: int = MAX_DEPTH, max_values: int | None = None
            ) -> DocumentError | None:
    """Why `data` cannot be walked safely, or None.

    Too deep (more than `max_depth` levels), a container inside itself (a YAML alias in
    its own anchor), more than `max_values` values counting every alias expansion (when
    given), or an int too long to print. Walks without recursion.
    """
    limit = _max_digits()
    max_bits = int(limit * _LOG2_10) if limit else 0
    stack: list[tuple[Any, int, Path]] = [(data, 0, ())]
    ancestors: list[int] = []  # ids of the containers above the node being visited
    seen = 0
    while stack:
        node, depth, path = stack.pop()
        seen += 1
        if max_values is not None and seen > max_values:
            return DocumentError(f"expands to more than {max_values} values (yaml aliases "
                                 "repeated inside each other?)")
        if isinstance(node, int) and not isinstance(node, bool):
            if max_bits and node.bit_length() > max_bits:
                return DocumentError(f"a number is longer than {limit} digits", path)
            continue
        if not isinstance(node, dict | list | tuple):
            continue
        del ancestors[depth:]
        if id(node) in ancestors:
            return DocumentError("a value contains itself (a yaml alias inside its own "
                                 "anchor)", path)
        if depth >= max_depth:
            return DocumentError(f"nested deeper than {max_depth} levels", path)
        ancestors.append(id(node))
        if isinstance(node, dict):
            for key, value in node.items():
                stack.append((key, depth + 1, path))
                stack.append((value, depth + 1, (*path, key if isinstance(key, str | int)
                                                 else str(key))))
        else:
            stack.extend((value, depth + 1, (*path, i)) for i, value in enumerate(node))
    return None


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` that raises DocumentError (a ValueError) where a walk would fail later.

    json.JSONDecodeError is raised as by `json.loads` for text that is not JSON.
    """
    try:
        data = json.loads(text, parse_int=_int)
    except RecursionError:
        raise DocumentError(f"nested deeper than {max_depth} levels") from None
    found = problem(data, max_depth=max_depth)
    if found is not None:
        raise found
    return data
