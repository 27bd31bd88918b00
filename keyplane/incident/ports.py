"""The ports an incident response acts through; the composition root wires the adapters.

KMS (find, disable, grants) and the audit trail are implemented in `keyplane.cloud`; the
certificate inventory by whatever `keyplane.certs` offers; the inventory change by the
`rotate` command's own functions; the record store beside the drill evidence. Adapters
translate SDK failures into `keyplane.cloudcall` errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from keyplane.drills.ports import KeyTarget
from keyplane.incident.model import CertRef, DeployedKey, Grant, InventoryChange, TrailResult
from keyplane.model.environment import KeyDecl


class IncidentKms(Protocol):
    """One cloud's KMS, read with the run's credentials, written as the break-glass role."""

    cloud: str
    grants_supported: bool  # False on Cloud KMS: use is IAM on the crypto key, not grants

    def targets(self, key: KeyDecl) -> list[KeyTarget]:
        """The deployed keys (AWS: tagged with the key's name) or versions (GCP) of `key`."""

    def alias_target(self, alias: str) -> str | None:
        """The ARN an alias resolves to; None when it does not exist (AWS only)."""

    def related(self, target: KeyTarget) -> list[DeployedKey]:
        """The generation's key and what shares its material: an AWS multi-Region primary's
        replicas; the version itself on GCP. The primary first."""

    def state(self, key: DeployedKey) -> str:
        """The key's (or version's) state now."""

    def disable(self, key: DeployedKey) -> None:
        """DisableKey / UpdateCryptoKeyVersion(state=DISABLED), as the break-glass role."""

    def grants(self, key: DeployedKey) -> list[Grant]:
        """The key's grants (every page); [] where the cloud has none."""

    def revoke(self, grant: Grant) -> bool:
        """RevokeGrant as the break-glass role; False when the grant was already gone."""


class AuditTrail(Protocol):
    """Who called a key: CloudTrail's event history on AWS."""

    name: str  # e.g. "CloudTrail LookupEvents"
    history_days: int  # how far back the trail answers

    def lookup(self, key: DeployedKey, start: dt.datetime, end: dt.datetime, *,
               max_events: int) -> TrailResult:
        """The key's cryptographic calls (`keyplane.incident.model.USE_EVENTS`) between
        `start` and `end`, oldest first; at most `max_events` (then `truncated`)."""


class CertificatesUnavailable(Exception):
    """No certificate inventory can answer, or not completely: the step says so, with how
    to get one, and keeps what was found (`found`) when part of it could be read."""

    def __init__(self, reason: str, found: list[CertRef] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.found = list(found or [])


class BoundCertificates(Protocol):
    """The certificates whose public key is a generation's (what must be revoked)."""

    def for_generation(self, env: str, key: str, generation: int) -> list[CertRef]:
        """Every certificate bound to `key@g<generation>`; CertificatesUnavailable when the
        inventory cannot be read or does not exist."""


class InventoryPort(Protocol):
    """The environment file: the change that ends a generation in the inventory."""

    def change(self, key: str, generation: int, today: dt.date) -> InventoryChange:
        """What would be written (the file is only read)."""

    def apply(self, key: str, generation: int, today: dt.date) -> InventoryChange:
        """Write the change (validated, atomically); `needed` False when it was there."""


class IncidentStore(Protocol):
    """Where incident records go: beside the drill evidence, never overwritten."""

    where: str  # the directory or s3:// prefix, for messages

    def ensure_writable(self) -> None:
        """Raise EvidenceError when a record could not be written now."""

    def put(self, name: str, record: dict[str, Any]) -> str:
        """Write one record under `name`; EvidenceError if it exists. Where it went."""
