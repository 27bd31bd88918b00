"""Reading what the other keyplane commands wrote: check JSON, post-apply JSON, drill evidence.

Each reader turns one file into small records at the edge and is tolerant of what it
does not need: unknown fields are ignored, missing optional fields read as None, so a
newer keyplane's output still reads. What it cannot work with (unreadable, not JSON,
not the right kind of document) raises ReportInputError naming the file and the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyplane.audit.evidence import DrillResult, EvidenceError, LocalEvidenceStore
from keyplane.audit.report.errors import (
    REPORT_EVIDENCE_DIR_MISSING,
    REPORT_EVIDENCE_UNREADABLE,
    REPORT_INPUT_NOT_JSON,
    REPORT_INPUT_SHAPE,
    REPORT_INPUT_UNREADABLE,
    ReportInputError,
)
from keyplane.documents import DocumentError, loads

# The sections a post-apply style report may hold, by the command that wrote it.
SECTIONS_BY_COMMAND = {
    "post-apply": ("rotation", "drift", "access-review"),
    "drift": ("drift",),
    "rotation": ("rotation",),
    "access-review": ("access-review",),
    "discover": ("discover",),
}
# Which section a finding belongs to, by the prefix of its check id.
SECTION_OF_PREFIX = {"rotation": "rotation", "drift": "drift", "access": "access-review",
                     "discover": "discover"}


@dataclass(frozen=True)
class InputFile:
    """One file the report read, with a digest so the evidence can be traced."""

    kind: str  # check | post-apply | waivers | evidence
    path: str
    sha256: str | None
    modified: dt.date | None


@dataclass(frozen=True)
class CheckFinding:
    """One result of `keyplane check --format json`."""

    rule_id: str
    status: str  # PASS | FAIL | UNKNOWN | NOT_APPLICABLE | ERROR
    severity: str | None
    tier: str | None
    address: str | None
    resource_type: str | None
    construct_path: str | None
    attribute: str | None
    message: str
    source: str | None
    area: str | None
    fails_gate: bool
    waived_by: str | None


@dataclass(frozen=True)
class CheckRun:
    """One `keyplane check` JSON file."""

    file: InputFile
    gate: str | None
    fail_level: str | None
    inputs: tuple[str, ...]
    findings: tuple[CheckFinding, ...]


@dataclass(frozen=True)
class PaFinding:
    """One finding of a post-apply, drift, rotation or access-review report."""

    check: str
    severity: str
    resource: str
    message: str
    key: str | None  # the declared key id: `name` or `name@gN`
    region: str | None
    address: str | None
    days_left: int | None
    expected: Any
    actual: Any
    acknowledged: Mapping[str, Any] | None

    @property
    def section(self) -> str | None:
        """rotation, drift, access-review or discover, from the check id's prefix."""
        return SECTION_OF_PREFIX.get(self.check.split(".", 1)[0])


@dataclass(frozen=True)
class PaUnknown:
    """A resource that run could not read."""

    resource: str
    reason: str
    key: str | None
    region: str | None


@dataclass(frozen=True)
class PostApplyRun:
    """One JSON report of `keyplane post-apply` (or `drift`, `rotation`, `access-review`)."""

    file: InputFile
    command: str
    environment: str
    started_at: dt.datetime | None
    outcome: str | None
    sections: tuple[str, ...]
    stopped: str | None
    findings: tuple[PaFinding, ...]
    unknowns: tuple[PaUnknown, ...]
    checked: frozenset[str]
    matched: Mapping[str, str]  # resource -> declared key id
    access: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def when(self) -> str:
        """The run's date, or `undated`."""
        return self.started_at.date().isoformat() if self.started_at else "undated"


def describe(path: Path, kind: str, data: bytes | None) -> InputFile:
    """The InputFile record of `path`."""
    try:
        modified: dt.date | None = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date()
    except OSError:
        modified = None
    digest = hashlib.sha256(data).hexdigest() if data is not None else None
    return InputFile(kind=kind, path=str(path), sha256=digest, modified=modified)


def unique_inputs(files: Iterable[InputFile]) -> list[InputFile]:
    """`files` without repeats, first mention kept: one file or directory is one input, however
    it was spelled (`evidence`, `./evidence/`, an absolute path) and however often it was read
    (every environment reads the same --evidence-dir)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for f in files:
        ident = (f.kind, str(Path(f.path).resolve()))
        if ident not in seen:
            seen.add(ident)
            out.append(f)
    return out


def require_evidence_dirs(dirs: Iterable[Path]) -> None:
    """Raise ReportInputError for a given evidence directory that is not there.

    A directory named on purpose that does not exist is a typo or a missing mount; reading
    it as "no drills" would turn every backup control into a quiet `unknown`.
    """
    for d in dirs:
        if not d.exists():
            raise ReportInputError("the --evidence-dir directory does not exist",
                                   code=REPORT_EVIDENCE_DIR_MISSING, file=str(d))
        if not d.is_dir():
            raise ReportInputError("the --evidence-dir path is a file, not a directory of drill "
                                   "evidence records", code=REPORT_EVIDENCE_DIR_MISSING,
                                   file=str(d))


def _read_json(path: Path, what: str) -> tuple[Any, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReportInputError(f"cannot read the {what} file: {exc.strerror or exc}",
                               code=REPORT_INPUT_UNREADABLE, file=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReportInputError(f"the {what} file is not utf-8 text (byte {exc.start})",
                               code=REPORT_INPUT_UNREADABLE, file=str(path)) from None
    try:
        return loads(text), raw
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"the {what} file is not valid json: {exc.msg.lower()}",
                               code=REPORT_INPUT_NOT_JSON, file=str(path), line=exc.lineno,
                               column=exc.colno) from None
    except DocumentError as exc:  # keyplane never writes json this deep or numbers this long
        raise ReportInputError(f"the {what} file cannot be read: {exc.where()}",
                               code=REPORT_INPUT_SHAPE, file=str(path)) from None


def _shape(path: Path, message: str) -> ReportInputError:
    return ReportInputError(message, code=REPORT_INPUT_SHAPE, file=str(path))


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def read_check(path: Path) -> CheckRun:
    """Read the output of `keyplane check --format json`."""
    data, raw = _read_json(path, "check json")
    if not isinstance(data, Mapping) or not isinstance(data.get("findings"), list):
        raise _shape(path, "not a `keyplane check --format json` result: expected an object "
                           "with a 'findings' list")
    findings = []
    for i, item in enumerate(data["findings"]):
        if not isinstance(item, Mapping) or not item.get("rule_id") or not item.get("status"):
            raise _shape(path, f"findings[{i}] is not a check finding: expected an object "
                               "with 'rule_id' and 'status'")
        findings.append(CheckFinding(
            rule_id=str(item["rule_id"]), status=str(item["status"]).upper(),
            severity=_opt_str(item.get("severity")), tier=_opt_str(item.get("tier")),
            address=_opt_str(item.get("address")),
            resource_type=_opt_str(item.get("resource_type")),
            construct_path=_opt_str(item.get("construct_path")),
            attribute=_opt_str(item.get("attribute")), message=str(item.get("message") or ""),
            source=_opt_str(item.get("source")), area=_opt_str(item.get("area")),
            fails_gate=bool(item.get("fails_gate")), waived_by=_opt_str(item.get("waived_by"))))
    files = data.get("files")
    return CheckRun(file=describe(path, "check", raw), gate=_opt_str(data.get("gate")),
                    fail_level=_opt_str(data.get("fail_level")),
                    inputs=tuple(str(f) for f in files) if isinstance(files, list) else (),
                    findings=tuple(findings))


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_post_apply(path: Path) -> PostApplyRun:
    """Read a JSON report of `keyplane post-apply`, `drift`, `rotation` or `access-review`."""
    data, raw = _read_json(path, "post-apply json")
    if not isinstance(data, Mapping) or not isinstance(data.get("findings"), list) \
            or not isinstance(data.get("environment"), str):
        raise _shape(path, "not a keyplane post-apply, drift, rotation or access-review json "
                           "report: expected an object with 'environment' and a 'findings' list")
    command = str(data.get("command") or "post-apply")
    sections = data.get("sections")
    if isinstance(sections, list) and sections:
        secs = tuple(str(s) for s in sections)
    else:
        secs = SECTIONS_BY_COMMAND.get(command, ())
    findings = []
    for i, item in enumerate(data["findings"]):
        if not isinstance(item, Mapping) or not item.get("check"):
            raise _shape(path, f"findings[{i}] is not a post-apply finding: expected an object "
                               "with 'check'")
        ack = item.get("acknowledged")
        findings.append(PaFinding(
            check=str(item["check"]), severity=str(item.get("severity") or "medium").lower(),
            resource=str(item.get("resource") or ""), message=str(item.get("message") or ""),
            key=_opt_str(item.get("key")), region=_opt_str(item.get("region")),
            address=_opt_str(item.get("address")), days_left=_int(item.get("days_left")),
            expected=item.get("expected"), actual=item.get("actual"),
            acknowledged=ack if isinstance(ack, Mapping) else None))
    unknowns = []
    for item in data.get("unknowns") or []:
        if isinstance(item, Mapping):
            unknowns.append(PaUnknown(resource=str(item.get("resource") or ""),
                                      reason=str(item.get("reason") or "could not be read"),
                                      key=_opt_str(item.get("key")),
                                      region=_opt_str(item.get("region"))))
    checked = data.get("checked")
    matched = data.get("matched")
    access = data.get("access")
    for i, row in enumerate(access if isinstance(access, list) else []):
        for name in ("use", "administer"):
            if isinstance(row, Mapping) and row.get(name) is not None and \
                    not isinstance(row[name], list):
                raise _shape(path, f"access[{i}].{name} is not an access-review list of "
                                   f"principals: expected a list, got {type(row[name]).__name__}")
    notes = data.get("notes")
    return PostApplyRun(
        file=describe(path, "post-apply", raw), command=command,
        environment=str(data["environment"]), started_at=_timestamp(data.get("started_at")),
        outcome=_opt_str(data.get("outcome")), sections=secs,
        stopped=_opt_str(data.get("stopped")), findings=tuple(findings),
        unknowns=tuple(unknowns),
        checked=frozenset(str(c) for c in checked) if isinstance(checked, list) else frozenset(),
        matched={str(k): str(v) for k, v in matched.items()} if isinstance(matched, Mapping)
        else {},
        access=tuple(a for a in access if isinstance(a, Mapping)) if isinstance(access, list)
        else (),
        notes=tuple(str(n) for n in notes) if isinstance(notes, list) else ())


def is_remote(location: str) -> bool:
    """Whether an evidence location lives in an object store (not readable offline)."""
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", location)) and not location.startswith("file://")


def read_drills(roots: Iterable[Path], environment: str) -> tuple[list[DrillResult], list[str]]:
    """Every drill record of `environment` under `roots` (and `<root>/<environment>`), oldest first.

    Returns the records and the directories read. A record that cannot be read raises
    ReportInputError naming it.
    """
    seen: set[str] = set()
    out: list[DrillResult] = []
    dirs: list[str] = []
    for root in roots:
        for d in (root, root / environment):
            key = str(d.resolve()) if d.exists() else str(d)
            if key in seen or not d.is_dir():
                continue
            seen.add(key)
            dirs.append(str(d))
            try:
                out.extend(LocalEvidenceStore(d).history(environment))
            except EvidenceError as exc:
                raise ReportInputError(exc.message, code=REPORT_EVIDENCE_UNREADABLE,
                                       file=str(d)) from None
    unique = {(r.record_name(), r.environment): r for r in out}
    return sorted(unique.values(), key=lambda r: (r.started_at, r.record_name())), dirs
