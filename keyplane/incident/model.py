"""What an incident response acts on and finds: keys, grants, audit-trail events, callers.

Plain data, shared by the plan, the runner, the adapters and the record. Identifiers and
times only, never key material: a grant is its id and grantee, an event is who called what
when, never a message, plaintext, ciphertext or access key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class StepId(StrEnum):
    """The steps of the runbook, in the order they are taken."""

    DISABLE = "disable"
    REVOKE_GRANTS = "revoke-grants"
    AUDIT_TRAIL = "audit-trail"
    CERTIFICATES = "certificates"
    ROTATE = "rotate"


STEPS: tuple[StepId, ...] = tuple(StepId)
TITLES: dict[StepId, str] = {
    StepId.DISABLE: "disable the generation now",
    StepId.REVOKE_GRANTS: "revoke its grants",
    StepId.AUDIT_TRAIL: "list who used it in the exposure window",
    StepId.CERTIFICATES: "list the certificates bound to it",
    StepId.ROTATE: "write the rotation into the inventory",
}


class Outcome(StrEnum):
    """How a step ended (`planned` in a dry run)."""

    PLANNED = "planned"
    DONE = "done"
    ALREADY_DONE = "already-done"  # nothing left to do: found done (a resumed or repeated run)
    NOT_APPLICABLE = "not-applicable"  # the cloud has no such thing (Cloud KMS grants)
    NOT_AVAILABLE = "not-available"  # keyplane cannot do it here: a follow-up says how
    FAILED = "failed"  # a call failed; `--execute` again resumes from this step


# outcomes after which a step is not taken again when the incident is resumed
SETTLED = frozenset({Outcome.DONE, Outcome.ALREADY_DONE, Outcome.NOT_APPLICABLE,
                     Outcome.NOT_AVAILABLE})
# key states in which a key (or version) can no longer be used
UNUSABLE_STATES = frozenset({"Disabled", "PendingDeletion", "PendingReplicaDeletion",
                             "DISABLED", "DESTROY_SCHEDULED", "DESTROYED"})

# What a successful call in the window means for the response: signatures to re-make,
# data to re-encrypt under a new key, data that was read, or only a verification.
CONSEQUENCE: dict[str, str] = {
    "Sign": "re-sign", "GenerateMac": "re-sign",
    "Encrypt": "re-encrypt", "ReEncrypt": "re-encrypt", "GenerateDataKey": "re-encrypt",
    "GenerateDataKeyWithoutPlaintext": "re-encrypt", "GenerateDataKeyPair": "re-encrypt",
    "GenerateDataKeyPairWithoutPlaintext": "re-encrypt",
    "Decrypt": "data-read",
    "Verify": "verify-only", "VerifyMac": "verify-only",
}
USE_EVENTS: tuple[str, ...] = tuple(CONSEQUENCE)
# The same for Cloud KMS, in its own method names (Cloud Audit Logs' methodName); it has no
# Verify: signatures are verified offline with the public key.
GCP_CONSEQUENCE: dict[str, str] = {
    "AsymmetricSign": "re-sign", "MacSign": "re-sign",
    "Encrypt": "re-encrypt", "RawEncrypt": "re-encrypt",
    "Decrypt": "data-read", "AsymmetricDecrypt": "data-read", "RawDecrypt": "data-read",
    "MacVerify": "verify-only",
}
GCP_USE_METHODS: tuple[str, ...] = tuple(GCP_CONSEQUENCE)


def use_events(cloud: str) -> tuple[str, ...]:
    """The calls the audit-trail step lists, in the cloud's own names."""
    return GCP_USE_METHODS if cloud == "gcp" else USE_EVENTS


@dataclass(frozen=True, kw_only=True)
class DeployedKey:
    """One key (or key version) the generation is deployed as: the primary, a replica."""

    ref: str  # AWS key ARN; GCP crypto key version name
    region: str | None
    state: str
    role: str  # primary | replica | version

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Grant:
    """A KMS grant on one of the generation's keys."""

    key_ref: str
    grant_id: str
    grantee: str
    operations: tuple[str, ...]
    name: str | None = None
    retiring_principal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = asdict(self)
        out["operations"] = list(self.operations)
        return out


@dataclass(frozen=True, kw_only=True)
class TrailEvent:
    """One call on the key as the audit trail recorded it."""

    event_id: str
    event_name: str
    event_time: dt.datetime
    principal_arn: str  # the caller (an assumed-role session, a user, the root)
    role_arn: str | None  # the IAM role an assumed-role session was issued by
    region: str | None
    key_ref: str
    error_code: str | None = None  # the call was refused (it used nothing)
    source_ip: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the time in RFC 3339, UTC)."""
        out = asdict(self)
        out["event_time"] = iso(self.event_time)
        return out


@dataclass
class TrailResult:
    """What one query of the audit trail returned."""

    events: list[TrailEvent] = field(default_factory=list)
    truncated: bool = False  # more events than the run's --max-events


@dataclass(frozen=True, kw_only=True)
class CertRef:
    """A certificate whose public key is the generation's (what must be revoked)."""

    source: str  # where it was found: an ACM ARN, a file, an issuer's inventory
    subject: str
    serial: str
    not_after: str | None = None
    fingerprint_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class InventoryChange:
    """The change to the environment file that ends the generation (what `keyplane rotate
    --reason compromise` writes, or the early end of a verify-only generation)."""

    path: str
    needed: bool  # False: the inventory already disables the generation
    kind: str  # rotate | retire | none
    lines: tuple[str, ...]
    previous: int | None = None
    new: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = asdict(self)
        out["lines"] = list(self.lines)
        return out


def callers(events: Iterable[TrailEvent]) -> list[dict[str, Any]]:
    """One row per (caller, operation): how often it succeeded and failed, first and last
    time, the Regions, and what its successful calls mean for the response."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: e.event_time):
        row = rows.setdefault((e.principal_arn, e.event_name), {
            "principal_arn": e.principal_arn, "role_arn": e.role_arn,
            "event_name": e.event_name,
            "consequence": CONSEQUENCE.get(e.event_name) or GCP_CONSEQUENCE.get(e.event_name,
                                                                                "other"),
            "count": 0, "failed": 0, "first": None, "last": None, "regions": []})
        if e.error_code:
            row["failed"] += 1
            continue
        row["count"] += 1
        row["first"] = row["first"] or iso(e.event_time)
        row["last"] = iso(e.event_time)
        if e.region and e.region not in row["regions"]:
            row["regions"].append(e.region)
    return sorted(rows.values(), key=lambda r: (-r["count"], r["principal_arn"], r["event_name"]))


def iso(when: dt.datetime) -> str:
    """RFC 3339, UTC, seconds: `2026-11-29T10:00:00Z`."""
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    """The inverse of `iso` (any RFC 3339 time with a zone)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
