"""Drill evidence: one immutable JSON record per drill result, never overwritten.

A record is written atomically (temporary file + rename) under a name that is
unique per run, kind, key and generation, and an existing name is never replaced:
evidence of an earlier run cannot be lost to a later one. `keyplane drill --history`
and `keyplane report` read the records back; neither needs cloud access.

A record is also a finding (`DrillResult.finding()`): check `drill.<kind>`, the control
the drill proves, its cloud, resource and severity. Records of schema 1 carry those
fields and `schema_version`; older records lack them and `finding()` derives them.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from keyplane.documents import DocumentError, loads
from keyplane.errors import KeyplaneError
from keyplane.findings import SCHEMA_VERSION, Cloud, Control, Finding, Severity, Status
from keyplane.model.tiers import Tier
from keyplane.policy.packs import drill_severity

DRILL_KINDS = ("sign-canary", "replica", "cloudhsm", "backup", "escrow")
DRILL_OUTCOMES = ("PASSED", "FAILED", "TIMED_OUT", "INTEGRITY_ALARM", "KEY_STATE",
                  "SKIPPED", "ERROR")

# The control each drill proves (the report's columns): a sign canary shows the key works
# as declared (protection); the others recover something (backup).
DRILL_CONTROL: dict[str, Control] = {
    "sign-canary": Control.PROTECTION,
    "replica": Control.BACKUP,
    "cloudhsm": Control.BACKUP,
    "backup": Control.BACKUP,
    "escrow": Control.BACKUP,
}
# A drill's outcome as a finding's status: a failure is FAIL, a drill that could not finish
# is UNKNOWN (never a pass), a drill with nothing to prove is NOT_APPLICABLE.
DRILL_STATUS: dict[str, Status] = {
    "PASSED": Status.PASS,
    "FAILED": Status.FAIL,
    "INTEGRITY_ALARM": Status.FAIL,
    "KEY_STATE": Status.FAIL,
    "TIMED_OUT": Status.UNKNOWN,
    "ERROR": Status.UNKNOWN,
    "SKIPPED": Status.NOT_APPLICABLE,
}
# Drills of keys of either cloud; the others exist on AWS only.
_AWS_ONLY_KINDS = frozenset({"replica", "cloudhsm", "backup"})
# Where a field of schema 1 must take one of a fixed set of values.
_ENUM_FIELDS: dict[str, tuple[str, ...]] = {
    "control": tuple(c.value for c in Control),
    "cloud": tuple(c.value for c in Cloud),
    "severity": tuple(s.value for s in Severity),
}
_FINDING_FIELDS = ("rule_id", "control", "cloud", "severity", "resource", "schema_version")


class EvidenceError(KeyplaneError):
    """Evidence cannot be written or read; drills do not run without it (fail closed)."""

    code = "KP802"


@dataclass(frozen=True)
class DrillResult:
    """What one drill proved (or failed to), with the times that prove it."""

    run_id: str
    environment: str
    kind: str
    key: str | None
    generation: int | None
    tier: str | None
    started_at: str  # RFC 3339 UTC
    ended_at: str
    outcome: str
    reason: str
    identity: str  # who ran it: caller identity ARN / GCP principal / CI job
    rto_seconds: float | None = None  # time to re-establish the capability
    rpo_seconds: float | None = None  # age of the recovery point restored
    deadline_seconds: float | None = None  # the tier's deadline for this drill
    details: dict[str, Any] = field(default_factory=dict)
    # the finding's fields (schema 1); None in records written before them
    rule_id: str | None = None  # drill.<kind>
    control: str | None = None  # protection (sign-canary) or backup
    cloud: str | None = None  # aws or gcp
    severity: str | None = None  # from the tier packs (keyplane.policy.packs.DRILLS)
    resource: str | None = None  # key@gN, key@region (replica), the resource or cluster
    schema_version: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in DRILL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(DRILL_KINDS)}, got {self.kind!r}")
        if self.outcome not in DRILL_OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(DRILL_OUTCOMES)}, "
                             f"got {self.outcome!r}")
        if self.rule_id is not None and self.rule_id != f"drill.{self.kind}":
            raise ValueError(f"rule_id of a {self.kind} drill must be drill.{self.kind}, got "
                             f"{self.rule_id!r}")
        for name, allowed in _ENUM_FIELDS.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")

    @property
    def passed(self) -> bool:
        """Whether the drill proved the capability."""
        return self.outcome == "PASSED"

    def record_name(self) -> str:
        """The file name of this record: sortable by time, unique per run and target."""
        target = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.key or "-")
        gen = f"g{self.generation}" if self.generation is not None else "g-"
        stamp = re.sub(r"[^0-9TZ]", "", self.started_at)
        return f"{stamp}-{self.run_id}-{self.kind}-{target}-{gen}.json"

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (a record written before schema 1 stays as it was)."""
        out = asdict(self)
        for name in _FINDING_FIELDS:
            if out[name] is None:
                del out[name]
        return out

    def finding(self) -> Finding:
        """The record as a finding of check `drill.<kind>`; fields a record written before
        schema 1 lacks are derived from its kind, key, generation and tier."""
        tier = _tier(self.tier)
        rule_id = self.rule_id or f"drill.{self.kind}"
        key, region = self._key_and_region()
        if self.severity is not None:
            severity = Severity(self.severity)
        else:
            severity = drill_severity(rule_id, tier) if tier is not None else Severity.HIGH
        return Finding(
            rule_id=rule_id, status=DRILL_STATUS[self.outcome], severity=severity,
            resource=self.resource or self._resource(), reason=self.reason,
            control=Control(self.control) if self.control else DRILL_CONTROL[self.kind],
            cloud=Cloud(self.cloud) if self.cloud else self._cloud(),
            environment=self.environment, tier=tier, key=key, region=region, area="drill")

    def with_finding_fields(self) -> DrillResult:
        """This record with its finding's fields and the schema version filled in (what a
        drill writes)."""
        f = self.finding()
        return replace(self, rule_id=f.rule_id, control=f.control.value if f.control else None,
                       cloud=f.cloud.value if f.cloud else None, severity=f.severity.value,
                       resource=f.resource, schema_version=SCHEMA_VERSION)

    def _resource(self) -> str:
        """`key@gN`; a replica's `key@region` as it stands; the resource or cluster drilled."""
        name = self.key or "(environment)"
        if self.generation is None or "@" in name:
            return name
        return f"{name}@g{self.generation}"

    def _key_and_region(self) -> tuple[str | None, str | None]:
        """The declared key (`name` or `name@gN`) and the replica's Region, when the drill
        is of a key."""
        if self.kind not in ("sign-canary", "replica", "escrow") or not self.key:
            return None, None
        name, _, region = self.key.partition("@")
        gen = f"@g{self.generation}" if self.generation is not None else ""
        return f"{name}{gen}", (region or None) if self.kind == "replica" else None

    def _cloud(self) -> Cloud | None:
        """The cloud of a record that does not name it: by its kind, else by the key's ref."""
        if self.kind in _AWS_ONLY_KINDS:
            return Cloud.AWS
        ref = self.details.get("ref")
        if isinstance(ref, str) and ref.startswith("arn:"):
            return Cloud.AWS
        if isinstance(ref, str) and ref.startswith("projects/"):
            return Cloud.GCP
        return None

    @classmethod
    def from_dict(cls, data: Any) -> DrillResult:
        """A record read back; unknown fields (from newer keyplane versions) are ignored.

        ValueError names the first field that is missing or of the wrong type: a record
        is used by the history, the report and the drills' schedule, never half-read.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a record must be a json object, got {_json_type(data)}")
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in _REQUIRED:
            if name not in fields:
                raise ValueError(f"the record has no '{name}'")
        for name, (kinds, what) in _FIELD_TYPES.items():
            value = fields.get(name)
            if value is None and name not in _REQUIRED:
                continue
            if isinstance(value, bool) or not isinstance(value, kinds) or \
                    (isinstance(value, float) and not math.isfinite(value)):
                raise ValueError(f"'{name}' must be {what}, got {_json_type(value)}")
        return cls(**fields)


_REQUIRED = ("run_id", "environment", "kind", "started_at", "ended_at", "outcome", "reason",
             "identity")
# field -> (accepted types, how a message names them); None is accepted for optional fields.
_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    **{name: ((str,), "a string") for name in (*_REQUIRED, "key", "tier", *_FINDING_FIELDS)},
    "generation": ((int,), "an integer"),
    **{name: ((int, float), "a finite number of seconds")
       for name in ("rto_seconds", "rpo_seconds", "deadline_seconds")},
    "details": ((dict,), "an object"),
}


def _tier(value: str | None) -> Tier | None:
    """The tier a record names; None when it names none keyplane knows."""
    try:
        return Tier(value) if value is not None else None
    except ValueError:
        return None


def _json_type(value: Any) -> str:
    """How JSON calls the type of `value`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


class EvidenceStore(Protocol):
    """Where drill results are kept: a local directory, or an object store through an adapter."""

    def ensure_writable(self) -> None:
        """Raise EvidenceError when a record could not be written now."""

    def put(self, result: DrillResult) -> str:
        """Write one record without ever replacing another; return where it went."""

    def history(self, environment: str | None = None) -> list[DrillResult]:
        """Every record, oldest first."""


def prove_writable(root: Path, what: str) -> None:
    """Create `root` and prove a file can be created in it; EvidenceError ("cannot write
    `what` to `root`") when not."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise EvidenceError(f"cannot write {what} to {root}: {exc.strerror or exc}") from None


def write_once(root: Path, name: str, document: dict[str, Any], *, what: str,
               record: str) -> Path:
    """`document` as `root/name`, written atomically (a fsynced temporary file hard-linked to
    its name) and never over an existing file: EvidenceError ("`record` NAME already exists")
    when the name is taken, ("cannot write `what` to ROOT") when it cannot be written."""
    prove_writable(root, what)
    target = root / name
    fd, tmp = tempfile.mkstemp(prefix=".record-", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        # link() fails when the name exists: an earlier record is never overwritten.
        os.link(tmp, target)
    except FileExistsError:
        raise EvidenceError(f"{record} {name} already exists; keyplane never overwrites "
                            "evidence") from None
    except OSError as exc:
        raise EvidenceError(f"cannot write {what} to {root}: {exc.strerror or exc}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


class LocalEvidenceStore:
    """Evidence as JSON files in a directory (the default `./evidence/<env>`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure_writable(self) -> None:
        """Create the directory and prove a file can be created in it."""
        prove_writable(self.root, "evidence")

    def put(self, result: DrillResult) -> str:
        """Write atomically; refuse (EvidenceError) to replace an existing record."""
        return str(write_once(self.root, result.record_name(), result.to_dict(),
                              what="evidence", record="evidence record"))

    def history(self, environment: str | None = None) -> list[DrillResult]:
        """Every record in the directory, oldest first; unreadable files raise EvidenceError."""
        if not self.root.is_dir():
            return []
        out: list[DrillResult] = []
        for path in sorted(self.root.glob("*.json")):
            try:
                result = DrillResult.from_dict(loads(path.read_text(encoding="utf-8")))
            except DocumentError as exc:  # too deep to walk, or a number too long
                raise EvidenceError(f"unreadable evidence record {path}: {exc.where()}") from None
            except (OSError, ValueError, TypeError) as exc:
                raise EvidenceError(f"unreadable evidence record {path}: {exc}") from None
            if environment is None or result.environment == environment:
                out.append(result)
        return out


def latest_by_target(results: Iterable[DrillResult]) -> dict[tuple[str, str | None], DrillResult]:
    """The newest result per (kind, key)."""
    out: dict[tuple[str, str | None], DrillResult] = {}
    for r in sorted(results, key=lambda r: r.started_at):
        out[(r.kind, r.key)] = r
    return out
