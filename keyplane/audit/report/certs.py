"""The certificate-to-generation timeline of the report, read from a post-apply JSON report.

A post-apply run whose environment declares certificates (and `keyplane certs --format
json`) writes a `timeline`: per key, each generation with its dates, and the certificates
each backs. This module reads it into typed records, checking its shape (a report that
cannot be drawn names its file and the field), and joins each certificate with the
findings and unknowns the same run reported on it, so the renderers can flag them.
Certificates are public; nothing here holds key material.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyplane.audit.report.errors import REPORT_INPUT_SHAPE, ReportInputError
from keyplane.findings import Finding
from keyplane.model.environment import Environment


@dataclass(frozen=True)
class TimelineCert:
    """One certificate of the timeline, as the run wrote it."""

    id: str  # an ARN, or `<file>#<n>`
    source: str
    subject: str
    serial: str | None  # hex; from the timeline, else from the run's `certificates`
    not_before: str  # ISO date-time
    not_after: str
    failed: tuple[str, ...]  # the rules it fails
    held_by: str | None = None  # unmatched: the declared ACM Private CA whose own key it is


@dataclass(frozen=True)
class TimelineGeneration:
    """One generation of a key and the certificates it backs, oldest first."""

    generation: int | None
    state: str  # current, verify-only, disabled, undeclared
    created_on: str | None
    verify_until: str | None
    overlap_ends: str | None
    use_ends: str | None  # the last day it may back a certificate
    public_key: str | None  # read, recorded, unknown
    certificates: tuple[TimelineCert, ...]


@dataclass(frozen=True)
class KeyTimeline:
    """One key with certificates: its generations (newest first), then the certificates
    declared under it that bind no generation."""

    key: str
    tier: str | None
    cloud: str | None
    owner: str | None
    max_key_age_in_days: int | None
    generations: tuple[TimelineGeneration, ...]
    unmatched: tuple[TimelineCert, ...]


def _shape(path: Path, message: str) -> ReportInputError:
    return ReportInputError(message, code=REPORT_INPUT_SHAPE, file=str(path))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(path: Path, where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _shape(path, f"{where} is not a certs timeline list: expected a list, got "
                           f"{type(value).__name__}")
    return value


def _cert(path: Path, where: str, item: Any, serials: Mapping[str, str]) -> TimelineCert:
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str) or not item["id"]:
        raise _shape(path, f"{where} is not a certificate of the certs timeline: expected an "
                           "object with an 'id'")
    for name in ("not_before", "not_after"):
        try:
            dt.datetime.fromisoformat(str(item.get(name)).replace("Z", "+00:00"))
        except ValueError:
            raise _shape(path, f"{where}.{name} is not a date-time") from None
    failed = item.get("failed")
    return TimelineCert(
        id=item["id"], source=_text(item.get("source")) or "?",
        subject=_text(item.get("subject")) or "",
        serial=_text(item.get("serial")) or serials.get(item["id"]),
        not_before=str(item["not_before"]), not_after=str(item["not_after"]),
        failed=tuple(str(r) for r in failed) if isinstance(failed, list) else (),
        held_by=_text(item.get("held_by")))


def read_timeline(path: Path, data: Mapping[str, Any]) -> tuple[KeyTimeline, ...]:
    """The `timeline` of a post-apply (or certs) JSON report (none when it has none).

    Raises ReportInputError naming `path` and the field when the timeline is not the list
    keyplane writes: a report that cannot be drawn is not silently left out.
    """
    serials = {str(c["id"]): str(c["serial"])
               for c in (data.get("certificates") or []) if isinstance(c, Mapping)
               and isinstance(c.get("id"), str) and isinstance(c.get("serial"), str)} \
        if isinstance(data.get("certificates"), list) else {}
    out = []
    for i, row in enumerate(_list(path, "timeline", data.get("timeline"))):
        where = f"timeline[{i}]"
        if not isinstance(row, Mapping) or not isinstance(row.get("key"), str) or not row["key"]:
            raise _shape(path, f"{where} is not a key of the certs timeline: expected an object "
                               "with a 'key'")
        gens = []
        for j, g in enumerate(_list(path, f"{where}.generations", row.get("generations"))):
            gw = f"{where}.generations[{j}]"
            if not isinstance(g, Mapping):
                raise _shape(path, f"{gw} is not a generation of the certs timeline: expected "
                                   "an object")
            gens.append(TimelineGeneration(
                generation=_number(g.get("generation")), state=_text(g.get("state")) or "?",
                created_on=_text(g.get("created_on")), verify_until=_text(g.get("verify_until")),
                overlap_ends=_text(g.get("overlap_ends")), use_ends=_text(g.get("use_ends")),
                public_key=_text(g.get("public_key")),
                certificates=tuple(_cert(path, f"{gw}.certificates[{k}]", c, serials)
                                   for k, c in enumerate(_list(path, f"{gw}.certificates",
                                                               g.get("certificates"))))))
        out.append(KeyTimeline(
            key=row["key"], tier=_text(row.get("tier")), cloud=_text(row.get("cloud")),
            owner=_text(row.get("owner")),
            max_key_age_in_days=_number(row.get("max_key_age_in_days")),
            generations=tuple(gens),
            unmatched=tuple(_cert(path, f"{where}.unmatched[{k}]", c, serials)
                            for k, c in enumerate(_list(path, f"{where}.unmatched",
                                                        row.get("unmatched"))))))
    return tuple(out)


# ---- what the report shows -------------------------------------------------------------------

@dataclass(frozen=True)
class CertView:
    """A certificate with what the run reported on it."""

    cert: TimelineCert
    findings: tuple[Finding, ...]  # its failures (open or acknowledged)
    unknowns: tuple[Finding, ...]  # what could not be judged about it

    @property
    def flagged(self) -> bool:
        """Whether any rule failed on it, or could not judge it."""
        return bool(self.findings or self.unknowns or self.cert.failed)


@dataclass(frozen=True)
class GenerationView:
    """A generation and its certificates."""

    generation: TimelineGeneration
    certificates: tuple[CertView, ...]

    @property
    def label(self) -> str:
        """`g4`, or `g?` for a deployed generation the inventory does not number."""
        number = self.generation.generation
        return f"g{number}" if number is not None else "g?"


@dataclass(frozen=True)
class KeyCertsView:
    """One key's certificate-to-generation timeline."""

    key: str
    tier: str | None
    cloud: str | None
    owner: str | None
    max_key_age_in_days: int | None  # the run's, else the inventory's
    generations: tuple[GenerationView, ...]
    unmatched: tuple[CertView, ...]

    @property
    def certificates(self) -> list[CertView]:
        """Every certificate of the key, generation by generation, then the unmatched."""
        return [c for g in self.generations for c in g.certificates] + list(self.unmatched)


def key_views(timeline: Sequence[KeyTimeline], findings: Sequence[Finding],
              unknowns: Sequence[Finding], env: Environment) -> list[KeyCertsView]:
    """The timeline of one run joined with its findings and unknowns on each certificate
    (by the certificate's id, the findings' resource), in the run's key order."""
    def view(c: TimelineCert) -> CertView:
        return CertView(c, tuple(f for f in findings if f.resource == c.id),
                        tuple(u for u in unknowns if u.resource == c.id))

    declared = {k.name: k for k in env.keys}
    out = []
    for row in timeline:
        age = row.max_key_age_in_days
        if age is None and row.key in declared:
            age = declared[row.key].max_key_age_in_days
        out.append(KeyCertsView(
            key=row.key, tier=row.tier, cloud=row.cloud, owner=row.owner,
            max_key_age_in_days=age,
            generations=tuple(GenerationView(g, tuple(view(c) for c in g.certificates))
                              for g in row.generations),
            unmatched=tuple(view(c) for c in row.unmatched)))
    return out


__all__ = ["CertView", "GenerationView", "KeyCertsView", "KeyTimeline", "TimelineCert",
           "TimelineGeneration", "key_views", "read_timeline"]
