"""Reading what the other keyplane commands wrote: check JSON, post-apply JSON, drill evidence.

Every finding of every input is read into keyplane's one `Finding` (keyplane/findings.py,
JSON schema 1): the report takes its control, cloud, tier and section from the finding's
fields and infers nothing from ids, ARNs or words. A file written by an older keyplane
(schema 0: no `schema_version`) is read through one adapter, `schema0_finding`, which
fills the schema-1 fields from the old names; it is the only place a control is derived
from a check id.

Each reader is tolerant of what it does not need: unknown fields are ignored, missing
optional fields read as None, so a newer keyplane's output still reads. What it cannot
work with (unreadable, not JSON, not the right kind of document, a finding whose outcome,
severity, control, cloud or tier is not one keyplane writes) raises ReportInputError
naming the file and the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from keyplane.audit.evidence import DrillResult, EvidenceError, LocalEvidenceStore
from keyplane.audit.report.certs import KeyTimeline, read_timeline
from keyplane.audit.report.errors import (
    REPORT_EVIDENCE_DIR_MISSING,
    REPORT_EVIDENCE_UNREADABLE,
    REPORT_INPUT_NOT_JSON,
    REPORT_INPUT_SHAPE,
    REPORT_INPUT_UNREADABLE,
    ReportInputError,
)
from keyplane.documents import DocumentError, loads
from keyplane.findings import Cloud, Control, Finding, Severity, Status, cloud_of_type
from keyplane.model.tiers import Tier

# The sections a post-apply style report holds, by the command that wrote it (for a report
# that does not list its `sections`).
SECTIONS_BY_COMMAND = {
    "post-apply": ("rotation", "drift", "access-review"),
    "drift": ("drift",),
    "rotation": ("rotation",),
    "access-review": ("access-review",),
    "discover": ("discover",),
    "certs": ("certs",),
}
# The section of a post-apply finding, by its `area` field: the post-apply registry's
# table (keyplane.postapply.registry.SECTION_OF_AREA; the report may not import postapply).
SECTION_OF_AREA = {"rotation": "rotation", "drift": "drift", "access": "access-review",
                   "discover": "discover", "certs": "certs"}


@dataclass(frozen=True)
class InputFile:
    """One file the report read, with a digest so the evidence can be traced."""

    kind: str  # check | post-apply | waivers | evidence
    path: str
    sha256: str | None
    modified: dt.date | None


@dataclass(frozen=True)
class CheckRun:
    """One `keyplane check` JSON file."""

    file: InputFile
    gate: str | None
    fail_level: str | None
    inputs: tuple[str, ...]
    findings: tuple[Finding, ...]


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
    findings: tuple[Finding, ...]  # FAIL
    unknowns: tuple[Finding, ...]  # what could not be judged (UNKNOWN, ERROR)
    checked: frozenset[str]
    matched: Mapping[str, str]  # resource -> declared key id
    access: tuple[Mapping[str, Any], ...]
    notes: tuple[str, ...] = field(default=())
    # certs (post-apply schema 1.1, and `keyplane certs`): the day certificates were judged
    # and, per key, each generation and the certificates it backs
    certs_at: str | None = None
    timeline: tuple[KeyTimeline, ...] = field(default=())

    @property
    def when(self) -> str:
        """The run's date, or `undated`."""
        return self.started_at.date().isoformat() if self.started_at else "undated"


def section_of(f: Finding) -> str | None:
    """The post-apply section (rotation, drift, access-review, discover) of a finding's area."""
    return SECTION_OF_AREA.get(f.area) if f.area else None


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


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _schema(data: Mapping[str, Any]) -> str:
    """The document's schema version: `0` when it names none (written by an older keyplane)."""
    version = data.get("schema_version")
    return "0" if version is None else str(version)


# ---- schema 0: the one adapter ---------------------------------------------------------------

# Schema 0 check findings named no control: the control of a gate rule, by its id, else by
# its area (the rule's package). Rules about the gate itself (inventory, secrets) prove none.
_SCHEMA0_RULE_CONTROL: dict[str, Control] = {
    "aws_kms_key_rotation_enabled": Control.ROTATION,
    "aws_kms_key_rotation_period": Control.ROTATION,
    "kms_key_generation_age": Control.ROTATION,
    "gcp_kms_rotation_period": Control.ROTATION,
    "aws_kms_key_multi_region_replicas": Control.BACKUP,
    "gcp_kms_admin_user_separation": Control.ACCESS,
    "gcp_kms_iam_no_public_or_primitive": Control.ACCESS,
}
_SCHEMA0_AREA_CONTROL: dict[str, Control] = {
    "kms": Control.PROTECTION, "gcp": Control.PROTECTION, "lifecycle": Control.PROTECTION,
    "keypolicy": Control.ACCESS, "iam": Control.ACCESS,
    "audit": Control.AUDIT, "alarms": Control.AUDIT,
    "backup": Control.BACKUP,
}


# ... and a check finding on a resource the environment shares spoke to the control of the
# construct holding it (`<env>/aws/<component>/...`): a rule on the trail's key was audit
# evidence, one on the vault's key backup evidence.
_SCHEMA0_COMPONENT_CONTROL: dict[str, Control] = {
    "audit": Control.AUDIT, "alarms": Control.AUDIT, "backup": Control.BACKUP,
    "iam": Control.ACCESS, "cloudhsm": Control.PROTECTION,
}
_SCHEMA0_KEY_ALARM = re.compile(r"^(?:alarm|filter)-(?:sign-volume|SignOutsideCeremony)-.")
_SCHEMA0_HASH = re.compile(r"_[0-9A-F]{8}$")


def _schema0_component(item: Mapping[str, Any]) -> tuple[str, str]:
    """Where a schema 0 check finding sat: (`key`, `workload` or `shared`, the component),
    from its construct path, else its Terraform address."""
    path = str(item.get("construct_path") or "")
    if path:
        parts = path.split("/")
        if len(parts) < 3:
            return "shared", ""
        comp = parts[2]
        if parts[1] == "aws":
            if comp == "iam" and len(parts) > 3 and parts[3].startswith("user-"):
                return "workload", comp
            if comp == "alarms" and len(parts) > 3 and _SCHEMA0_KEY_ALARM.match(parts[3]):
                return "key", comp
            return ("key" if comp == "keys" else "shared"), comp
        if comp.startswith("key-") or (comp.startswith("alert-") and "-sign-volume" in comp):
            return "key", comp
        return "shared", comp
    name = _SCHEMA0_HASH.sub("", str(item.get("address") or "").rsplit(".", 1)[-1])
    if name.startswith("aws_"):
        comp, _, rest = name[len("aws_"):].partition("_")
        if comp == "iam" and rest.startswith("user-"):
            return "workload", comp
        return ("key" if comp == "keys" else "shared"), comp
    if name.startswith("gcp_key-"):
        return "key", name[len("gcp_"):]
    return "shared", name.removeprefix("gcp_")


def _schema0_rule_control(item: Mapping[str, Any]) -> Control | None:
    """The control a schema 0 check finding spoke to: its rule's (by id, else area), or for
    a shared resource its construct's."""
    rule = _SCHEMA0_RULE_CONTROL.get(str(item.get("rule_id") or "")) or \
        _SCHEMA0_AREA_CONTROL.get(str(item.get("area") or ""))
    where, comp = _schema0_component(item)
    if where == "key":
        return rule
    if where == "workload":
        return rule or Control.ACCESS
    if comp.startswith(("audit", "kms-audit", "kms-data-access", "alert")):
        return Control.AUDIT
    if comp.startswith("ring"):
        return rule or Control.PROTECTION
    return _SCHEMA0_COMPONENT_CONTROL.get(comp) or rule


def _schema0_check_control(check: str) -> Control | None:
    """The control of a schema 0 post-apply check id (`<area>.<name>`); None for the notes
    about the estate itself (tags, labels, keys not in the inventory), which proved none."""
    area, _, name = check.partition(".")
    if area == "rotation":
        return Control.ROTATION
    if area == "access":
        return Control.ACCESS
    if area != "drift":
        return None
    if name in ("key_policy", "grant_not_declared", "replica_policy"):
        return Control.ACCESS
    if name.startswith(("trail_", "log_group", "log_retention", "audit", "sink")):
        return Control.AUDIT
    if name.startswith(("vault_", "cloudhsm_", "backup")) or name == "replica_missing":
        return Control.BACKUP
    if name in ("labels", "tags", "key_undeclared", "key_not_in_inventory"):
        return None
    return Control.PROTECTION


def _schema0_cloud(item: Mapping[str, Any]) -> Cloud | None:
    """The cloud of a schema 0 finding, from its Terraform resource type or construct path."""
    rtype = str(item.get("resource_type") or "")
    address = str(item.get("address") or "")
    if not rtype and address:
        rtype = address.rsplit(".", 1)[0].rsplit(".", 1)[-1]  # module.x.aws_kms_key.name
    cloud = cloud_of_type(rtype)
    if cloud is None:
        parts = str(item.get("construct_path") or "").split("/")
        if len(parts) > 1 and parts[1] in ("aws", "gcp"):
            cloud = Cloud(parts[1])
    return cloud


def schema0_finding(item: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The reader of schema 0: a finding of a file an older keyplane wrote, with the fields
    of schema 1 filled from the old names (`kind`: check, post-apply or unknown).

    Schema 0 check findings said `status` and `message`; post-apply findings `check` and
    `message`, and were all failures; unknowns held only `resource` and `reason` (a failed
    read). None named a control or a cloud: the control comes from the check id and its
    area (and, for a gate finding on a shared resource, the construct holding it), as the
    report read these files before; this is the only place a control is ever derived. The
    cloud comes from the Terraform resource type or construct path; an unknown names none.
    """
    out = dict(item)
    if kind == "check":
        out["outcome"] = item.get("status")
        out["reason"] = item.get("message")
        out["resource"] = item.get("address") or item.get("construct_path") or ""
        out["control"] = _schema0_rule_control(item)
    elif kind == "post-apply":
        check = str(item.get("check") or "")
        out["rule_id"] = check
        out["outcome"] = Status.FAIL.value
        out["reason"] = item.get("message")
        out["area"] = check.partition(".")[0]
        out["control"] = _schema0_check_control(check)
    else:
        out["rule_id"] = "read.state"
        out["outcome"] = Status.UNKNOWN.value
        out["severity"] = Severity.INFO.value
        out["control"] = None
    out["cloud"] = _schema0_cloud(item)
    return out


# ---- schema 1 --------------------------------------------------------------------------------

_ENUMS: dict[str, type[StrEnum]] = {"outcome": Status, "severity": Severity,
                                     "control": Control, "cloud": Cloud, "tier": Tier}
_OPTIONAL_TEXT = ("environment", "address", "construct_path", "attribute", "source", "key",
                  "region", "waived_by")


def _finding(path: Path, where: str, item: Mapping[str, Any], *,
             default_severity: Severity) -> Finding:
    """`item` (schema 1 names) as a Finding; ReportInputError naming `where` if it is not one."""
    data: dict[str, Any] = {
        "rule_id": str(item["rule_id"]),
        "outcome": str(item["outcome"]).upper(),
        "severity": str(item.get("severity") or default_severity.value).lower(),
        "resource": str(item.get("resource") or ""),
        "reason": str(item.get("reason") or ""),
        "resource_type": str(item.get("resource_type") or ""),
        "area": str(item.get("area") or ""),
        "days_left": _int(item.get("days_left")),
        "expected": item.get("expected"), "actual": item.get("actual"),
    }
    for name in ("control", "cloud", "tier"):
        value = item.get(name)
        data[name] = value.value if isinstance(value, StrEnum) else _opt_str(value)
    for name in _OPTIONAL_TEXT:
        data[name] = _opt_str(item.get(name))
    ack = item.get("acknowledged")
    data["acknowledged"] = ({str(k): str(v) for k, v in ack.items() if v is not None}
                            if isinstance(ack, Mapping) else None)
    for name, enum in _ENUMS.items():
        if data[name] and data[name] not in {m.value for m in enum}:
            raise _shape(path, f"{where}.{name} is not one keyplane writes: expected one of "
                               f"{', '.join(m.value for m in enum)}")
    finding = Finding.from_dict(data)
    finding.gate = bool(item.get("fails_gate"))
    return finding


def read_check(path: Path) -> CheckRun:
    """Read the output of `keyplane check --format json` (schema 1, or 0 through the adapter)."""
    data, raw = _read_json(path, "check json")
    if not isinstance(data, Mapping) or not isinstance(data.get("findings"), list):
        raise _shape(path, "not a `keyplane check --format json` result: expected an object "
                           "with a 'findings' list")
    schema = _schema(data)
    if data.get("kind") not in (None, "check"):
        raise _shape(path, f"not a `keyplane check --format json` result: this is a "
                           f"{_kind(data)} document")
    findings = []
    for i, item in enumerate(data["findings"]):
        if schema == "0":
            if not isinstance(item, Mapping) or not item.get("rule_id") or not item.get("status"):
                raise _shape(path, f"findings[{i}] is not a check finding: expected an object "
                                   "with 'rule_id' and 'status'")
            item = schema0_finding(item, "check")
        elif not isinstance(item, Mapping) or not item.get("rule_id") or not item.get("outcome"):
            raise _shape(path, f"findings[{i}] is not a check finding: expected an object "
                               "with 'rule_id' and 'outcome'")
        findings.append(_finding(path, f"findings[{i}]", item, default_severity=Severity.INFO))
    files = data.get("files")
    return CheckRun(file=describe(path, "check", raw), gate=_opt_str(data.get("gate")),
                    fail_level=_opt_str(data.get("fail_level")),
                    inputs=tuple(str(f) for f in files) if isinstance(files, list) else (),
                    findings=tuple(findings))


def _kind(data: Mapping[str, Any]) -> str:
    kind = data.get("kind")
    return f"'{kind}'" if isinstance(kind, str) and kind.isprintable() and len(kind) < 40 \
        else "another kind of"


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def read_post_apply(path: Path) -> PostApplyRun:
    """Read a JSON report of `keyplane post-apply`, `drift`, `rotation` or `access-review`."""
    data, raw = _read_json(path, "post-apply json")
    return post_apply_run(data, describe(path, "post-apply", raw))


def post_apply_run(data: Any, file: InputFile) -> PostApplyRun:
    """A JSON report of `keyplane post-apply` (or `drift`, `certs`, ...) already parsed, from
    `file` (named in every error): what `read_post_apply` reads, and what `keyplane report`
    makes of the unit reports of a `post-apply --all` run, merged per environment."""
    path = Path(file.path)
    if not isinstance(data, Mapping) or not isinstance(data.get("findings"), list) \
            or not isinstance(data.get("environment"), str):
        raise _shape(path, "not a keyplane post-apply, drift, rotation or access-review json "
                           "report: expected an object with 'environment' and a 'findings' list")
    if data.get("kind") not in (None, "post-apply"):
        raise _shape(path, f"not a keyplane post-apply, drift, rotation or access-review json "
                           f"report: this is a {_kind(data)} document")
    schema = _schema(data)
    command = str(data.get("command") or "post-apply")
    sections = data.get("sections")
    if isinstance(sections, list) and sections:
        secs = tuple(str(s) for s in sections)
    else:
        secs = SECTIONS_BY_COMMAND.get(command, ())
    findings = []
    for i, item in enumerate(data["findings"]):
        if schema == "0":
            if not isinstance(item, Mapping) or not item.get("check"):
                raise _shape(path, f"findings[{i}] is not a post-apply finding: expected an "
                                   "object with 'check'")
            item = schema0_finding(item, "post-apply")
        elif not isinstance(item, Mapping) or not item.get("rule_id") or not item.get("outcome"):
            raise _shape(path, f"findings[{i}] is not a post-apply finding: expected an object "
                               "with 'rule_id' and 'outcome'")
        findings.append(_finding(path, f"findings[{i}]", item, default_severity=Severity.MEDIUM))
    unknowns = []
    for i, item in enumerate(data.get("unknowns") or []):
        if not isinstance(item, Mapping):
            continue
        # An entry of `unknowns` is a finding that could not be judged, whatever it omits.
        item = schema0_finding(item, "unknown") if schema == "0" else dict(item)
        item["rule_id"] = item.get("rule_id") or "read.state"
        item["outcome"] = item.get("outcome") or Status.UNKNOWN.value
        item["reason"] = item.get("reason") or "could not be read"
        unknowns.append(_finding(path, f"unknowns[{i}]", item, default_severity=Severity.INFO))
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
        file=file, command=command,
        environment=str(data["environment"]), started_at=_timestamp(data.get("started_at")),
        outcome=_opt_str(data.get("outcome")), sections=secs,
        stopped=_opt_str(data.get("stopped")), findings=tuple(findings),
        unknowns=tuple(unknowns),
        checked=frozenset(str(c) for c in checked) if isinstance(checked, list) else frozenset(),
        matched={str(k): str(v) for k, v in matched.items()} if isinstance(matched, Mapping)
        else {},
        access=tuple(a for a in access if isinstance(a, Mapping)) if isinstance(access, list)
        else (),
        notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
        certs_at=_opt_str(data.get("at")), timeline=read_timeline(path, data))


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
