"""Refuse secret material in the inventory, without ever echoing it.

An inventory is reviewed in pull requests and copied into CI logs; a secret in
it is already leaked. keyplane names the field and the kind of secret, never
the value, and refuses to load the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from keyplane.model.source import Path_

_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a pem private key", re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----")),
    ("an aws access key id", re.compile(r"(?<![A-Z0-9])(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("a google service-account key", re.compile(r'"type"\s*:\s*"service_account"|"private_key"\s*:')),
    ("a google api key", re.compile(r"AIza[0-9A-Za-z_-]{35}")),
    ("a github token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("an aws secret access key", re.compile(r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9/+])[A-Za-z0-9/+]{40}$")),
)

_SECRET_FIELD = re.compile(
    r"(pass(word|wd|phrase)?|secret|private[_-]?key|client[_-]?secret|api[_-]?key|"
    r"access[_-]?key|token|credentials?)$", re.IGNORECASE)
# Fields that *reference* a secret by name are what keyplane asks for.
_REFERENCE_SUFFIXES = ("_ssm_parameter", "_secret_arn", "_secret_name", "_parameter_name")


def _walk(node: Any, path: Path_) -> Iterator[tuple[Path_, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*path, k), v
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*path, i), v
            yield from _walk(v, (*path, i))


def find_secrets(data: Any) -> list[tuple[Path_, str]]:
    """(path, kind) for each value that looks like secret material; values never leave here."""
    found: list[tuple[Path_, str]] = []
    for path, value in _walk(data, ()):
        field = path[-1] if path and isinstance(path[-1], str) else ""
        if isinstance(value, dict) and value.get("type") == "service_account" and (
                "private_key" in value or "private_key_id" in value):
            found.append((path, "a google service-account key"))
            continue
        if not isinstance(value, str | int) or isinstance(value, bool):
            continue
        text = str(value)
        if (field and _SECRET_FIELD.search(field) and not field.endswith(_REFERENCE_SUFFIXES)
                and text.strip()):
            found.append((path, f"a secret (field '{field}')"))
            continue
        for kind, pattern in _VALUE_PATTERNS:
            if pattern.search(text):
                found.append((path, kind))
                break
    return found
