"""Waivers: a named, owned, reasoned and expiring exception for one rule on some resources."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyplane.errors import Problem
from keyplane.policy.errors import WAIVER_EXPIRED, WAIVER_MALFORMED, WAIVER_UNUSED, WaiverError
from keyplane.policy.model import Finding, Status

if TYPE_CHECKING:
    from keyplane.model.source import SourceDoc

FIELDS = ("rule", "resource", "owner", "reason", "expires")
# ERROR is never waivable: a broken rule is fixed, not excused.
WAIVABLE = frozenset({Status.FAIL, Status.UNKNOWN})


@dataclass(frozen=True)
class Waiver:
    """One waiver as written, with where it was written."""

    rule: str
    resource: str
    owner: str
    reason: str
    expires: dt.date
    file: str
    line: int | None

    @property
    def label(self) -> str:
        """`rule:resource`, how findings and reports name the waiver."""
        return f"{self.rule}:{self.resource}"

    def matches(self, finding: Finding) -> bool:
        """Whether the waiver names this finding's rule and resource (address or glob)."""
        if finding.rule_id != self.rule:
            return False
        address = finding.address or finding.resource
        return address == self.resource or fnmatchcase(address, self.resource)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def load_waivers(path: Path, known_rules: Iterable[str]) -> list[Waiver]:
    """Parse a waivers file; WaiverError lists every problem with its file:line."""
    from keyplane.model.source import parse_yaml  # ruamel.yaml only when waivers are given

    doc, problems = parse_yaml(path)
    if doc is None:
        raise WaiverError([replace(p, code=WAIVER_MALFORMED) for p in problems])
    items, root = _items(doc)
    known = set(known_rules)
    problems = []
    out: list[Waiver] = []
    if items is None:
        raise WaiverError([doc.problem(WAIVER_MALFORMED, "a waivers file is a list of waivers "
                                       "(or a mapping with a 'waivers' list)")])
    for i, item in enumerate(items):
        at: tuple[str | int, ...] = (*root, i)
        if not isinstance(item, Mapping):
            problems.append(doc.problem(WAIVER_MALFORMED, "a waiver must be a mapping with "
                                        f"{', '.join(FIELDS)}", at))
            continue
        bad = False
        for name in FIELDS:
            value = item.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.append(doc.problem(WAIVER_MALFORMED, f"waiver is missing '{name}'; "
                                            f"every waiver names {', '.join(FIELDS)}", at))
                bad = True
        extra = sorted(set(item) - set(FIELDS), key=str)  # keys may be numbers or dates
        if extra:
            problems.append(doc.problem(WAIVER_MALFORMED, f"unknown field '{extra[0]}'; allowed: "
                                        f"{', '.join(FIELDS)}", (*at, extra[0])))
            bad = True
        if bad:
            continue
        expires = _date(item["expires"])
        if expires is None:
            problems.append(doc.problem(WAIVER_MALFORMED, "expires must be a date (yyyy-mm-dd), "
                                        f"got {item['expires']!r}", (*at, "expires")))
            continue
        if str(item["rule"]) not in known:
            problems.append(doc.problem(WAIVER_MALFORMED, f"unknown rule '{item['rule']}'; see "
                                        "`keyplane check --list-rules`", (*at, "rule")))
            continue
        line, _ = doc.where(at)
        out.append(Waiver(rule=str(item["rule"]), resource=str(item["resource"]),
                          owner=str(item["owner"]), reason=str(item["reason"]),
                          expires=expires, file=doc.file, line=line))
    if problems:
        raise WaiverError(problems)
    return out


def _items(doc: SourceDoc) -> tuple[list[Any] | None, tuple[str | int, ...]]:
    if isinstance(doc.data, list):
        return doc.data, ()
    if isinstance(doc.data, Mapping) and isinstance(doc.data.get("waivers"), list):
        return doc.data["waivers"], ("waivers",)
    if isinstance(doc.data, Mapping) and doc.data.get("waivers") is None and \
            set(doc.data) <= {"waivers"}:
        return [], ()
    return None, ()


def apply_waivers(findings: list[Finding], waivers: list[Waiver],
                  on: dt.date) -> tuple[list[Finding], list[Problem]]:
    """Mark findings the waivers cover; report expired waivers and waivers that match nothing."""
    notes: list[Problem] = []
    used: set[int] = set()
    out: list[Finding] = []
    for f in findings:
        if f.status in WAIVABLE:
            for i, w in enumerate(waivers):
                if w.expires >= on and w.matches(f):
                    used.add(i)
                    f = replace(f, waived_by=w.label)
                    break
        out.append(f)
    for i, w in enumerate(waivers):
        if w.expires < on:
            notes.append(Problem(WAIVER_EXPIRED, f"waiver {w.label} (owner {w.owner}) expired on "
                                 f"{w.expires.isoformat()} and no longer applies", w.file,
                                 w.line))
        elif i not in used:
            notes.append(Problem(WAIVER_UNUSED, f"waiver {w.label} (owner {w.owner}) matches no "
                                 "failing finding; remove it", w.file, w.line))
    return out, notes
