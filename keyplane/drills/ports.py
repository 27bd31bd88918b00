"""The ports restore drills act through.

Unlike the post-apply ports these may write, but only what a drill needs: sign,
encrypt, start a backup or restore job, create a scratch resource or cluster
tagged with the run id, delete what carries that tag. Adapters translate SDK failures
into the one error tree of cloud calls, `keyplane.cloudcall`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# --- KMS ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class KeyTarget:
    """One generation of a key as deployed: where to call it and what it is."""

    key: str
    generation: int | None
    ref: str  # AWS: key ARN; GCP: crypto key version name
    state: str  # Enabled / Disabled / PendingDeletion (AWS); ENABLED / DISABLED ... (GCP)
    spec: str  # KeySpec (AWS) or algorithm (GCP)
    current: bool
    region: str | None = None
    multi_region_primary: str | None = None  # AWS: the primary's ARN for a multi-Region key
    # AWS: the key's own keyplane:key / keyplane:generation tags, read from the key itself;
    # `tagged` False when the key carries neither (e.g. a key an alias was moved to)
    tagged: bool = True
    tag_key: str | None = None
    tag_generation: int | None = None


class KmsDrillPort(Protocol):
    """Cryptographic operations of one KMS: an AWS Region or Cloud KMS."""

    cloud: str

    def targets(self, key_name: str, alias: str | None, crypto_key: str | None
                ) -> list[KeyTarget]:
        """The deployed generations of a key, current first; [] when none is found."""

    def describe(self, ref: str) -> KeyTarget:
        """One key by ARN, alias or version name; KeyMissingError when it does not exist."""

    def sign(self, ref: str, digest: bytes, algorithm: str) -> bytes:
        """A signature over `digest` (MessageType DIGEST)."""

    def verify(self, ref: str, digest: bytes, signature: bytes, algorithm: str) -> bool | None:
        """Whether the KMS API accepts the signature; None when the API has no verify."""

    def public_key(self, ref: str) -> bytes:
        """The public key, DER SubjectPublicKeyInfo."""

    def encrypt(self, ref: str, plaintext: bytes, context: dict[str, str]) -> bytes:
        """Ciphertext bound to `context` (encryption context / additional data)."""

    def decrypt(self, ref: str, ciphertext: bytes, context: dict[str, str]) -> bytes:
        """Plaintext of `ciphertext` under `context`."""

    def generate_mac(self, ref: str, message: bytes, algorithm: str) -> bytes:
        """An HMAC tag."""

    def verify_mac(self, ref: str, message: bytes, mac: bytes, algorithm: str) -> bool:
        """Whether the KMS accepts the tag."""


# --- AWS Backup ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    """A backup or restore job as the service reports it."""

    job_id: str
    state: str  # CREATED PENDING RUNNING COMPLETED FAILED ABORTED ...
    message: str = ""
    recovery_point_arn: str | None = None
    created_resource_arn: str | None = None
    created_at: float | None = None
    completed_at: float | None = None
    recovery_point_created_at: float | None = None

    @property
    def finished(self) -> bool:
        """Whether the job reached a terminal state."""
        return self.state in ("COMPLETED", "FAILED", "ABORTED", "EXPIRED", "PARTIAL")


@dataclass(frozen=True, kw_only=True)
class RecoveryPoint:
    """A recovery point of a protected resource."""

    arn: str
    resource_arn: str
    resource_type: str
    created_at: float


class BackupDrillPort(Protocol):
    """AWS Backup and the protected resources: source account, and the drill account.

    A recovery point is restored only in the account that holds it: the drill copies it
    from the environment's vault into the drill account's vault (StartCopyJob, started
    in the source account) and restores that copy in the drill account.
    """

    def account_id(self) -> str:
        """The source (environment) account the adapter acts in."""

    def drill_account_id(self) -> str:
        """The account restores land in, as STS reports the drill credentials."""

    def snapshot(self, resource_arn: str, *, drill: bool = False) -> dict[str, str]:
        """SHA-256 (hex) per object or item of a table or bucket."""

    def write_canary(self, resource_arn: str, name: str, body: str) -> str | None:
        """Write one canary object or item into the protected resource; the S3 object's
        version id (None for a table or a bucket without versioning)."""

    def delete_canary(self, resource_arn: str, name: str, version_id: str | None = None) -> None:
        """Delete the canary item or object (that version of it when `version_id` is given,
        so a versioned bucket keeps no noncurrent copy); nothing when it is already gone."""

    def start_backup(self, *, vault: str, resource_arn: str, role_arn: str,
                     tags: dict[str, str]) -> str:
        """Start an on-demand backup job; its id."""

    def backup_job(self, job_id: str) -> JobStatus:
        """DescribeBackupJob."""

    def latest_recovery_point(self, *, vault: str, resource_arn: str) -> RecoveryPoint | None:
        """The newest completed recovery point of the resource in the vault."""

    def drill_vault(self, name: str) -> str | None:
        """The ARN of the vault `name` in the drill account (DescribeBackupVault); None when
        the drill account holds no such vault."""

    def start_copy(self, *, source_vault: str, recovery_point_arn: str,
                   destination_vault_arn: str, role_arn: str, delete_after_days: int) -> str:
        """StartCopyJob (source account) of a recovery point into the drill account's vault,
        the copy expiring after `delete_after_days`; the copy job's id."""

    def copy_job(self, job_id: str) -> JobStatus:
        """DescribeCopyJob (source account): `recovery_point_arn` is the source recovery
        point, `created_resource_arn` the copy in the destination vault."""

    def start_restore(self, *, recovery_point_arn: str, resource_type: str, target_name: str,
                      role_arn: str) -> str:
        """Start a restore in the drill account into a new resource named `target_name`."""

    def restore_job(self, job_id: str) -> JobStatus:
        """DescribeRestoreJob (drill account)."""

    def put_validation(self, job_id: str, status: str, message: str) -> None:
        """PutRestoreValidationResult (drill account)."""

    def tags(self, resource_arn: str) -> dict[str, str] | None:
        """The tags of a restored resource in the drill account; None when it is gone."""

    def tag(self, resource_arn: str, tags: dict[str, str]) -> None:
        """Tag a restored resource in the drill account."""

    def delete(self, resource_arn: str) -> None:
        """Delete a restored resource in the drill account (callers check its tags first)."""

    def recovery_point_tags(self, recovery_point_arn: str) -> dict[str, str] | None:
        """The tags of a recovery point in the drill account; None when it is gone."""

    def tag_recovery_point(self, recovery_point_arn: str, tags: dict[str, str]) -> None:
        """Tag a recovery point in the drill account."""

    def delete_recovery_point(self, *, vault: str, recovery_point_arn: str) -> None:
        """DeleteRecoveryPoint in the drill account (callers check its tags first)."""


# --- CloudHSM ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Hsm:
    """One HSM of a cluster."""

    hsm_id: str
    availability_zone: str
    state: str


@dataclass(frozen=True, kw_only=True)
class HsmCluster:
    """A CloudHSM cluster."""

    cluster_id: str
    state: str
    backup_retention_in_days: int | None
    hsms: tuple[Hsm, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class HsmBackup:
    """A CloudHSM cluster backup."""

    backup_id: str
    cluster_id: str
    state: str
    created_at: float


class CloudHsmDrillPort(Protocol):
    """CloudHSM in the source account (cluster, backups) and the drill account (restore)."""

    def account_id(self) -> str:
        """The source account."""

    def drill_account_id(self) -> str:
        """The account restores land in, as STS reports the drill credentials."""

    def clusters(self) -> list[HsmCluster]:
        """Clusters of the source account."""

    def backups(self) -> list[HsmBackup]:
        """Backups of the source account, newest first."""

    def restore_cluster(self, *, backup_id: str, subnet_ids: list[str],
                        tags: dict[str, str]) -> str:
        """CreateCluster from a backup in the drill account; the cluster id."""

    def cluster(self, cluster_id: str) -> HsmCluster | None:
        """A cluster of the drill account; None when gone."""

    def create_hsm(self, cluster_id: str, availability_zone: str) -> str:
        """Add an HSM (drill account); its id."""

    def delete_hsm(self, cluster_id: str, hsm_id: str) -> None:
        """Remove an HSM (drill account)."""

    def delete_cluster(self, cluster_id: str) -> None:
        """Delete a cluster without HSMs (drill account)."""


# --- escrow and locks ----------------------------------------------------------------------------


class EscrowPort(Protocol):
    """Reads the wrapped escrow copy of an imported key (bytes stay in memory)."""

    def fetch(self, location: str) -> bytes:
        """The object at an s3:// location."""


@dataclass(frozen=True, kw_only=True)
class LockHolder:
    """Who holds a drill lock, and until when (epoch seconds)."""

    owner: str
    expires_at: float


class LockPort(Protocol):
    """A single-flight lock store with conditional writes."""

    def acquire(self, name: str, owner: str, *, now: float, expires_at: float
                ) -> LockHolder | None:
        """Take the lock if free or expired; None on success, else the current holder."""

    def release(self, name: str, owner: str) -> None:
        """Release the lock if `owner` still holds it."""

    def renew(self, name: str, owner: str, *, expires_at: float) -> bool:
        """Move the lease of a lock `owner` holds to `expires_at` (a heartbeat); False when
        the lock is no longer ours."""

    def peek(self, name: str) -> LockHolder | None:
        """The current holder, expired or not; None when nobody holds it."""
