"""Known drift: findings a team has acknowledged for scheduled runs.

A YAML (or JSON) list of entries, each naming the resource (ARN, crypto key name,
declared key name or `name@gN`), the reason, the owner and an expiry date, and
optionally the check it covers. An acknowledged finding stays in the report,
marked, and no longer fails the run; an expired entry no longer applies (and is
noted); an entry that matches nothing is reported.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keyplane.documents import MAX_DEPTH, MAX_YAML_VALUES, loads, problem
from keyplane.findings import Finding
from keyplane.postapply.errors import KnownDriftError

REQUIRED = ("resource", "reason", "owner", "expires")
ALLOWED = (*REQUIRED, "check")


@dataclass(frozen=True, kw_only=True)
class Ack:
    """One acknowledged drift."""

    resource: str
    reason: str
    owner: str
    expires: dt.date
    check: str | None = None

    def covers(self, f: Finding) -> bool:
        """Whether this entry covers `f`."""
        if self.check is not None and self.check != f.rule_id:
            return False
        names = {f.resource, f.key}
        if f.key and "@g" in f.key:
            names.add(f.key.split("@g", 1)[0])
        return self.resource in names

    def to_dict(self) -> dict[str, str]:
        """The form shown in reports."""
        data = {"resource": self.resource, "reason": self.reason, "owner": self.owner,
                "expires": self.expires.isoformat()}
        if self.check:
            data["check"] = self.check
        return data


def load(path: Path) -> list[Ack]:
    """Read and validate a known-drift file; every problem names the entry and the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnownDriftError(f"cannot read known-drift file {path}: {exc}") from None
    data: Any
    fmt = "json" if path.suffix == ".json" else "yaml"
    try:
        if fmt == "json":
            data = loads(text)
        else:
            from ruamel.yaml import YAML

            data = YAML(typ="safe").load(text)
    except RecursionError:
        raise KnownDriftError(f"{path}: not valid {fmt}: nested deeper than {MAX_DEPTH} "
                              "levels") from None
    except Exception as exc:  # the parser's own error, whatever its class: one line
        lines = str(exc).splitlines()
        raise KnownDriftError(f"{path}: not valid {fmt}: "
                              f"{lines[0].split('; use sys.')[0] if lines else type(exc).__name__}"
                              ) from None
    found = problem(data, max_values=MAX_YAML_VALUES)  # before anything walks or prints it
    if found is not None:
        raise KnownDriftError(f"{path}: not valid {fmt}: {found.where()}")
    if isinstance(data, dict) and "known_drift" in data:
        data = data["known_drift"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise KnownDriftError(f"{path}: expected a list of entries, got {type(data).__name__}")
    acks = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise KnownDriftError(f"{path}: entry {i} must be a mapping, got "
                                  f"{type(entry).__name__}")
        missing = [k for k in REQUIRED if not entry.get(k)]
        if missing:
            raise KnownDriftError(f"{path}: entry {i} misses {', '.join(missing)}; every entry "
                                  f"needs {', '.join(REQUIRED)}")
        unknown = sorted(str(k) for k in set(entry) - set(ALLOWED))  # keys may be numbers
        if unknown:
            raise KnownDriftError(f"{path}: entry {i} has unknown field(s) {', '.join(unknown)}; "
                                  f"allowed: {', '.join(ALLOWED)}")
        expires = entry["expires"]
        if isinstance(expires, dt.datetime):  # `2030-01-01 10:00:00`: the day is what counts
            expires = expires.date()
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                raise KnownDriftError(f"{path}: entry {i} expires must be a date (yyyy-mm-dd), "
                                      f"got {expires}") from None
        if not isinstance(expires, dt.date):
            raise KnownDriftError(f"{path}: entry {i} expires must be a date (yyyy-mm-dd), got "
                                  f"{expires!r}")
        acks.append(Ack(resource=str(entry["resource"]), reason=str(entry["reason"]),
                        owner=str(entry["owner"]), expires=expires,
                        check=str(entry["check"]) if entry.get("check") else None))
    return acks


def apply(findings: list[Finding], acks: list[Ack], *, today: dt.date
          ) -> tuple[list[Finding], list[dict[str, str]], list[str]]:
    """Mark covered findings; the entries that matched nothing; notes on expired entries."""
    out = []
    used: set[int] = set()
    notes: list[str] = []
    for f in findings:
        hit = None
        for i, a in enumerate(acks):
            if a.covers(f):
                if a.expires < today:
                    if i not in used:
                        notes.append(f"known-drift entry for {a.resource} expired on "
                                     f"{a.expires} and no longer applies")
                    used.add(i)
                    continue
                hit = (i, a)
                break
        if hit is not None:
            used.add(hit[0])
            f = replace(f, acknowledged=hit[1].to_dict())
        out.append(f)
    unmatched = [a.to_dict() for i, a in enumerate(acks) if i not in used]
    return out, unmatched, sorted(set(notes))
