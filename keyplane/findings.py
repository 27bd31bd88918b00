"""The one finding every check produces: gate rules, post-apply checks and drills alike.

A finding says which check (`rule_id`) judged which `resource`, for which `control` of
which `environment`, `cloud` and `tier`, with what `status` (the outcome), how bad it is
(`severity`, from the tier packs) and why (`reason`, one sentence, never a secret).
Reporters and the evidence report read these fields; nothing is inferred from strings.

The JSON form is versioned (`SCHEMA_VERSION`); `keyplane/schema/` holds the JSON Schema
of every document keyplane writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from keyplane.model.tiers import Tier

SCHEMA_VERSION = "1"


class Status(StrEnum):
    """The outcome of one check on one resource."""

    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"  # could not be judged (known only after apply, or not readable)
    NOT_APPLICABLE = "NOT_APPLICABLE"
    ERROR = "ERROR"  # the check itself failed: never a pass


class Severity(StrEnum):
    """How bad a failing finding is; `--fail-level` compares against it."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse."""
        return _SEV_RANK[self]


_SEV_RANK = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3,
             Severity.CRITICAL: 4}


class Control(StrEnum):
    """The control of the tier table a check proves (the report's columns)."""

    PROTECTION = "protection"  # where the key lives, its spec, state and deletion guard
    ACCESS = "access"  # who can use or administer it
    AUDIT = "audit"  # that its use is logged and alarmed
    BACKUP = "backup"  # that it (or what it protects) can be restored
    ROTATION = "rotation"  # that it is replaced on schedule


class Cloud(StrEnum):
    """Where the resource lives."""

    AWS = "aws"
    GCP = "gcp"


class RunOutcome(StrEnum):
    """The result of a post-apply run or a drill run; its exit code follows from it."""

    CLEAN = "clean"  # every check passed (or only informational results)
    FINDINGS = "findings"  # at least one open failure
    INCOMPLETE = "incomplete"  # something could not be judged, or the run stopped

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings, 3 incomplete."""
        return {"clean": 0, "findings": 1, "incomplete": 3}[self.value]


def cloud_of_type(resource_type: str) -> Cloud | None:
    """The cloud of a Terraform resource type, by its provider's prefix."""
    if resource_type.startswith("aws_"):
        return Cloud.AWS
    if resource_type.startswith("google_"):
        return Cloud.GCP
    return None


# Not frozen: a frozen dataclass's __init__ costs about three times more, and a large plan
# makes ~10 findings per resource. Nothing mutates a finding after its producer made it.
@dataclass(slots=True, kw_only=True)
class Finding:
    """One check's verdict on one resource."""

    rule_id: str
    status: Status
    severity: Severity
    resource: str  # a Terraform address (gate), an ARN or resource name (post-apply), key@gN
    reason: str
    control: Control | None = None
    cloud: Cloud | None = None
    environment: str | None = None
    tier: Tier | None = None
    # where: the synthesized stack's view of the resource, and the declared key it belongs to
    address: str | None = None
    resource_type: str = ""
    construct_path: str | None = None
    attribute: str | None = None  # dotted attribute path, e.g. `policy.Statement[2]`
    source: str | None = None  # the input file (gate)
    key: str | None = None  # the declared key: `name` or `name@gN`
    owner: str | None = None  # the declared key's owner (team or address)
    region: str | None = None
    # what differs (post-apply, drills)
    expected: Any = None
    actual: Any = None
    days_left: int | None = None
    # how it was decided
    area: str = ""
    gate: bool = False  # the gate: whether this finding fails it
    waived_by: str | None = None  # the gate: the waiver (rule:resource) that applies
    acknowledged: dict[str, str] | None = None  # post-apply: the known-drift entry covering it

    @property
    def is_open(self) -> bool:
        """A failure nobody waived or acknowledged, above INFO."""
        return (self.status is Status.FAIL and self.waived_by is None
                and self.acknowledged is None and self.severity is not Severity.INFO)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of schema 1: the common fields always, the others when set."""
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "control": self.control.value if self.control else None,
            "cloud": self.cloud.value if self.cloud else None,
            "environment": self.environment,
            "tier": self.tier.value if self.tier else None,
            "resource": self.resource,
            "severity": self.severity.value,
            "outcome": self.status.value,
            "reason": self.reason,
        }
        for name in ("address", "construct_path", "attribute", "source", "key", "owner", "region",
                     "expected", "actual", "days_left", "waived_by", "acknowledged"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.resource_type:
            out["resource_type"] = self.resource_type
        if self.area:
            out["area"] = self.area
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Read a finding back from its JSON form (`--resume`, the report).

        Raises ValueError or KeyError on a document that is not a finding of schema 1.
        """
        return cls(
            rule_id=str(data["rule_id"]), status=Status(data["outcome"]),
            severity=Severity(data["severity"]), resource=str(data["resource"]),
            reason=str(data["reason"]),
            control=Control(data["control"]) if data.get("control") else None,
            cloud=Cloud(data["cloud"]) if data.get("cloud") else None,
            environment=data.get("environment"),
            tier=Tier(data["tier"]) if data.get("tier") else None,
            address=data.get("address"), resource_type=data.get("resource_type") or "",
            construct_path=data.get("construct_path"), attribute=data.get("attribute"),
            source=data.get("source"), key=data.get("key"), owner=data.get("owner"),
            region=data.get("region"),
            expected=data.get("expected"), actual=data.get("actual"),
            days_left=data.get("days_left"), area=data.get("area") or "",
            waived_by=data.get("waived_by"), acknowledged=data.get("acknowledged"))
