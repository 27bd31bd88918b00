"""AWS Backup jobs and restores for the sandbox (moto implements vaults, not jobs).

Served by the AWS front on the same port, in AWS Backup's own REST-JSON shapes,
so boto3 talks to it unchanged. It keeps what matters to a restore drill:

- backup jobs that snapshot a DynamoDB table or an S3 bucket (read through the
  front as the resource's account) into a recovery point of a vault;
- copy jobs (StartCopyJob, DescribeCopyJob, in the account that starts them) that move
  CREATED -> RUNNING -> COMPLETED and put a copy of the recovery point into the
  destination vault, of this or another sandbox account; as in AWS, a destination vault
  that does not exist, or whose access policy does not let the source account
  `backup:CopyIntoBackupVault`, fails the job ("Access Denied trying to call AWS Backup
  service": the source account cannot tell the two apart); the copy keeps the source's
  creation date and tags, and expires after the job's `Lifecycle.DeleteAfterDays`;
- restore jobs that move CREATED/PENDING -> RUNNING -> COMPLETED (or FAILED,
  ABORTED) by the sandbox clock, and on completion create the restored table or
  bucket in the caller's account, under the name given in the restore metadata; as in
  AWS, a restore starts only from a recovery point of the caller's own account;
- recovery points: listed, described, tagged (ListTags, TagResource, UntagResource) and
  deleted (DeleteRecoveryPoint, refused while a vault lock's minimum retention holds);
- faults set through `/_keyplane/backup`: a job that fails, a restore or copy that never
  completes, restored data that is altered or partial;
- PutRestoreValidationResult, kept on the restore job;
- backup selections, restore testing plans and selections, and vault access policies
  (`backup_config_fake`), which moto lacks and Terraform's aws provider creates.

It is a test bed and a playground, not AWS Backup.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

RESTORE_FAULTS = ("fail", "never", "altered", "partial")
BACKUP_FAULTS = ("fail", "never")
COPY_FAULTS = ("fail", "never")
# What AWS reports on a cross-account copy job the destination vault does not accept (no
# such vault, or no access policy letting the source account copy in).
COPY_ACCESS_DENIED = "Access Denied trying to call AWS Backup service"
_VAULT_ARN = re.compile(
    r"^arn:(aws[a-z-]*):backup:([a-z0-9-]+):(\d{12}):backup-vault:([A-Za-z0-9_.-]{2,50})$")


class SandboxClock:
    """Wall time plus an offset that tests (or the control endpoint) move forward."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the sandbox sees them."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the sandbox's time forward (never back)."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        with self._lock:
            self._offset += seconds


class BackupApiError(Exception):
    """An AWS Backup error answer: code, message, HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class RecoveryPoint:
    """A snapshot of one resource, kept in memory."""

    arn: str
    vault: str
    account: str
    region: str
    resource_arn: str
    resource_type: str  # DynamoDB | S3
    created: float
    data: dict[str, Any]  # DynamoDB: {"schema": ..., "items": [...]}; S3: {"objects": {k: bytes}}
    tags: dict[str, str] = field(default_factory=dict)
    source_vault_arn: str | None = None  # a copy: the vault it was copied from
    delete_at: float | None = None  # Lifecycle.DeleteAfterDays, as a sandbox time


@dataclass
class BackupJob:
    """One backup job and where it is."""

    id: str
    account: str
    region: str
    vault: str
    resource_arn: str
    created: float
    seconds: float
    fault: str | None
    tags: dict[str, str]
    state: str = "CREATED"
    recovery_point_arn: str | None = None
    message: str = ""


@dataclass
class CopyJob:
    """One copy job (kept in the account that started it) and where it is."""

    id: str
    account: str
    region: str
    source_vault: str
    recovery_point_arn: str
    destination_vault_arn: str
    role_arn: str
    created: float
    seconds: float
    fault: str | None
    delete_after_days: int | None
    state: str = "CREATED"
    destination_recovery_point_arn: str | None = None
    completed: float | None = None
    message: str = ""


@dataclass
class RestoreJob:
    """One restore job and where it is."""

    id: str
    account: str
    region: str
    recovery_point_arn: str
    metadata: dict[str, str]
    created: float
    seconds: float
    fault: str | None
    resource_type: str = ""
    recovery_point_created: float = 0.0
    state: str = "PENDING"
    created_resource_arn: str | None = None
    completed: float | None = None
    message: str = ""
    validation_status: str | None = None
    validation_message: str | None = None


def resource_type_of(arn: str) -> str:
    """`DynamoDB` or `S3` from a resource ARN; BackupApiError for anything else."""
    if arn.startswith("arn:aws:dynamodb:") and ":table/" in arn:
        return "DynamoDB"
    if arn.startswith("arn:aws:s3:::"):
        return "S3"
    raise BackupApiError("InvalidParameterValueException",
                         f"resource type of {arn} is not supported by the sandbox "
                         "(dynamodb tables and s3 buckets)")


class BackupFake:
    """AWS Backup's job and restore operations over the sandbox's S3 and DynamoDB."""

    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.endpoint_url: str | None = None  # the front's URL, to read and write resources
        self.backup_seconds = 2.0  # sandbox seconds a backup job takes
        self.restore_seconds = 3.0
        self.copy_seconds = 2.0
        self.backup_fault: str | None = None
        self.restore_fault: str | None = None
        self.copy_fault: str | None = None
        self._lock = threading.RLock()
        self.recovery_points: dict[str, RecoveryPoint] = {}
        self.backup_jobs: dict[str, BackupJob] = {}
        self.copy_jobs: dict[str, CopyJob] = {}
        self.restore_jobs: dict[str, RestoreJob] = {}
        # imported here: backup_config_fake builds on this module's errors and clock
        from keyplane.sandbox.backup_config_fake import BackupConfigFake

        self.config = BackupConfigFake(clock, plan_exists=self._plan_exists,
                                       vault_exists=self._vault_exists)

    # --- control ------------------------------------------------------------------------------

    def configure(self, data: dict[str, Any]) -> dict[str, Any]:
        """Set delays and faults: backup_seconds, restore_seconds, copy_seconds, backup_fault,
        restore_fault, copy_fault."""
        allowed = {"backup_seconds", "restore_seconds", "copy_seconds", "backup_fault",
                   "restore_fault", "copy_fault"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown backup settings: {', '.join(unknown)}")
        for name, faults in (("restore_fault", RESTORE_FAULTS), ("backup_fault", BACKUP_FAULTS),
                             ("copy_fault", COPY_FAULTS)):
            if data.get(name) not in (None, *faults):
                raise ValueError(f"{name} must be one of {', '.join(faults)}, "
                                 f"got {data[name]}")
        with self._lock:
            for k, v in data.items():
                setattr(self, k, float(v) if k.endswith("seconds") else v)
            return self.settings()

    def settings(self) -> dict[str, Any]:
        """The current delays and faults."""
        return {"backup_seconds": self.backup_seconds, "restore_seconds": self.restore_seconds,
                "copy_seconds": self.copy_seconds, "backup_fault": self.backup_fault,
                "restore_fault": self.restore_fault, "copy_fault": self.copy_fault}

    # --- resources, read and written through the front as their account -------------------------

    def _client(self, service: str, account: str, region: str) -> Any:
        import boto3
        from botocore.config import Config

        from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key

        return boto3.client(service, region_name=region, endpoint_url=self.endpoint_url,
                            aws_access_key_id=sandbox_access_key(account),
                            aws_secret_access_key=SANDBOX_SECRET,
                            config=Config(retries={"mode": "standard", "max_attempts": 2}))

    def _plan_exists(self, account: str, region: str, plan_id: str) -> bool:
        """Whether moto holds backup plan `plan_id` (True without an endpoint to ask)."""
        if self.endpoint_url is None:
            return True
        from botocore.exceptions import ClientError

        try:
            self._client("backup", account, region).get_backup_plan(BackupPlanId=plan_id)
        except ClientError:
            return False
        return True

    def _vault(self, account: str, region: str, name: str) -> dict[str, Any] | None:
        """moto's DescribeBackupVault of `name` in (account, Region); None when it does not
        exist ({} without an endpoint to ask)."""
        if self.endpoint_url is None:
            return {}
        from botocore.exceptions import ClientError

        try:
            out: dict[str, Any] = self._client("backup", account, region).describe_backup_vault(
                BackupVaultName=name)
        except ClientError:
            return None
        return out

    def _vault_exists(self, account: str, region: str, name: str) -> bool:
        return self._vault(account, region, name) is not None

    def _snapshot(self, arn: str, account: str, region: str) -> dict[str, Any]:
        if resource_type_of(arn) == "DynamoDB":
            table = arn.split(":table/", 1)[1]
            ddb = self._client("dynamodb", account, arn.split(":")[3] or region)
            desc = ddb.describe_table(TableName=table)["Table"]
            items: list[dict[str, Any]] = []
            for page in ddb.get_paginator("scan").paginate(TableName=table):
                items += page.get("Items", [])
            return {"schema": {"KeySchema": desc["KeySchema"],
                               "AttributeDefinitions": desc["AttributeDefinitions"]},
                    "items": items}
        bucket = arn.split(":::", 1)[1]
        s3 = self._client("s3", account, region)
        objects: dict[str, bytes] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                objects[o["Key"]] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        return {"objects": objects}

    def _materialize(self, job: RestoreJob, rp: RecoveryPoint) -> str:
        """Create the restored resource in the job's account; its ARN."""
        fault = job.fault
        if rp.resource_type == "DynamoDB":
            name = job.metadata.get("targetTableName") or f"restored-{job.id[:8]}"
            ddb = self._client("dynamodb", job.account, job.region)
            ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **rp.data["schema"])
            items = [dict(i) for i in rp.data["items"]]
            items = self._damage_items(items, fault)
            for item in items:
                ddb.put_item(TableName=name, Item=item)
            return f"arn:aws:dynamodb:{job.region}:{job.account}:table/{name}"
        name = job.metadata.get("DestinationBucketName") or f"restored-{job.id[:8]}"
        s3 = self._client("s3", job.account, job.region)
        kwargs = {} if job.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": job.region}}
        s3.create_bucket(Bucket=name, **kwargs)
        objects = dict(rp.data["objects"])
        if objects and fault == "partial":
            objects.pop(sorted(objects)[-1])
        elif objects and fault == "altered":
            k = sorted(objects)[0]
            objects[k] = objects[k] + b" (altered by the sandbox)"
        for k, body in objects.items():
            s3.put_object(Bucket=name, Key=k, Body=body)
        return f"arn:aws:s3:::{name}"

    @staticmethod
    def _damage_items(items: list[dict[str, Any]], fault: str | None) -> list[dict[str, Any]]:
        if not items:
            return items
        if fault == "partial":
            return items[:-1]
        if fault == "altered":
            first = dict(items[0])
            for attr, value in first.items():
                if "S" in value and attr not in ("pk", "sk", "id"):
                    first[attr] = {"S": value["S"] + " (altered by the sandbox)"}
                    break
            else:
                first["keyplane_sandbox_altered"] = {"S": "yes"}
            return [first, *items[1:]]
        return items

    # --- state machines ---------------------------------------------------------------------

    def _advance_backup(self, job: BackupJob) -> None:
        if job.state in ("COMPLETED", "FAILED", "ABORTED"):
            return
        elapsed = self.clock.now() - job.created
        if elapsed < job.seconds * 0.2:
            return
        if job.fault == "never" or elapsed < job.seconds:
            job.state = "RUNNING" if elapsed >= job.seconds * 0.4 else "PENDING"
            return
        if job.fault == "fail":
            job.state, job.message = "FAILED", "backup failed (injected by the keyplane sandbox)"
            return
        data = self._snapshot(job.resource_arn, job.account, job.region)
        arn = f"arn:aws:backup:{job.region}:{job.account}:recovery-point:{uuid.uuid4()}"
        self.recovery_points[arn] = RecoveryPoint(
            arn=arn, vault=job.vault, account=job.account, region=job.region,
            resource_arn=job.resource_arn, resource_type=resource_type_of(job.resource_arn),
            created=job.created, data=data, tags=dict(job.tags))
        job.state, job.recovery_point_arn = "COMPLETED", arn

    def _advance_copy(self, job: CopyJob) -> None:
        if job.state in ("COMPLETED", "FAILED"):
            return
        elapsed = self.clock.now() - job.created
        if job.fault == "never" or elapsed < job.seconds:
            job.state = "RUNNING" if elapsed >= job.seconds * 0.3 else "CREATED"
            return
        job.completed = self.clock.now()
        if job.fault == "fail":
            job.state, job.message = "FAILED", "copy failed (injected by the keyplane sandbox)"
            return
        src = self.recovery_points.get(job.recovery_point_arn)
        if src is None:
            job.state = "FAILED"
            job.message = f"Recovery point {job.recovery_point_arn} was deleted during the copy"
            return
        m = _VAULT_ARN.match(job.destination_vault_arn)
        assert m is not None  # checked by StartCopyJob
        _, region, dest_account, vault = m.groups()
        exists = self._vault(dest_account, region, vault) is not None
        allowed = dest_account == job.account or self.config.allows_copy_into(
            dest_account, region, vault, job.account)
        if not exists or not allowed:
            job.state, job.message = "FAILED", COPY_ACCESS_DENIED
            return
        arn = f"arn:aws:backup:{region}:{dest_account}:recovery-point:{uuid.uuid4()}"
        self.recovery_points[arn] = RecoveryPoint(
            arn=arn, vault=vault, account=dest_account, region=region,
            resource_arn=src.resource_arn, resource_type=src.resource_type,
            created=src.created,  # a copy keeps its source's creation date
            data=copy.deepcopy(src.data), tags=dict(src.tags),
            source_vault_arn=f"arn:aws:backup:{src.region}:{src.account}:backup-vault:"
                             f"{src.vault}",
            delete_at=(self.clock.now() + job.delete_after_days * 86400
                       if job.delete_after_days else None))
        job.state, job.destination_recovery_point_arn = "COMPLETED", arn

    def _expire(self) -> None:
        """Drop recovery points whose lifecycle has run out."""
        now = self.clock.now()
        for arn in [a for a, p in self.recovery_points.items()
                    if p.delete_at is not None and p.delete_at <= now]:
            del self.recovery_points[arn]

    def _recovery_point(self, account: str, arn: str, vault: str | None = None
                        ) -> RecoveryPoint:
        """A recovery point of the caller's account (in `vault`); ResourceNotFoundException."""
        self._expire()
        rp = self.recovery_points.get(arn)
        if rp is None or rp.account != account or (vault is not None and rp.vault != vault):
            where = f" in backup vault {vault}" if vault else ""
            raise BackupApiError("ResourceNotFoundException",
                                 f"recovery point {arn} not found{where}", 404)
        return rp

    def _advance_restore(self, job: RestoreJob) -> None:
        if job.state in ("COMPLETED", "FAILED", "ABORTED"):
            return
        elapsed = self.clock.now() - job.created
        if job.fault == "never" or elapsed < job.seconds:
            job.state = "RUNNING" if elapsed >= job.seconds * 0.3 else "PENDING"
            return
        if job.fault == "fail":
            job.state, job.message = "FAILED", "restore failed (injected by the keyplane sandbox)"
            job.completed = self.clock.now()
            return
        rp = self.recovery_points.get(job.recovery_point_arn)
        if rp is None:
            job.state, job.completed = "FAILED", self.clock.now()
            job.message = f"Recovery point {job.recovery_point_arn} was deleted during the restore"
            return
        job.created_resource_arn = self._materialize(job, rp)
        job.state, job.completed = "COMPLETED", self.clock.now()

    # --- the API ------------------------------------------------------------------------------

    def start_backup_job(self, account: str, region: str, body: dict[str, Any]
                         ) -> dict[str, Any]:
        """PUT /backup-jobs."""
        for name in ("BackupVaultName", "ResourceArn", "IamRoleArn"):
            if not body.get(name):
                raise BackupApiError("MissingParameterValueException", f"{name} is required")
        resource_type_of(body["ResourceArn"])
        with self._lock:
            job = BackupJob(id=str(uuid.uuid4()).upper(), account=account, region=region,
                            vault=body["BackupVaultName"], resource_arn=body["ResourceArn"],
                            created=self.clock.now(), seconds=self.backup_seconds,
                            fault=self.backup_fault,
                            tags=dict(body.get("RecoveryPointTags") or {}))
            self.backup_jobs[job.id] = job
            self._advance_backup(job)
        return {"BackupJobId": job.id, "CreationDate": job.created}

    def describe_backup_job(self, account: str, job_id: str) -> dict[str, Any]:
        """GET /backup-jobs/{id}."""
        with self._lock:
            job = self.backup_jobs.get(job_id)
            if job is None or job.account != account:
                raise BackupApiError("ResourceNotFoundException", f"backup job {job_id} not found",
                                     404)
            self._advance_backup(job)
            out: dict[str, Any] = {
                "BackupJobId": job.id, "AccountId": job.account, "State": job.state,
                "BackupVaultName": job.vault, "ResourceArn": job.resource_arn,
                "CreationDate": job.created, "StatusMessage": job.message,
                "ResourceType": resource_type_of(job.resource_arn)}
            if job.recovery_point_arn:
                out["RecoveryPointArn"] = job.recovery_point_arn
                done = self.recovery_points.get(job.recovery_point_arn)
                out["CompletionDate"] = done.created if done is not None else job.created
            return out

    def stop_backup_job(self, account: str, job_id: str) -> dict[str, Any]:
        """POST /backup-jobs/{id}: ABORTED unless already finished."""
        with self._lock:
            job = self.backup_jobs.get(job_id)
            if job is None or job.account != account:
                raise BackupApiError("ResourceNotFoundException", f"backup job {job_id} not found",
                                     404)
            if job.state in ("COMPLETED", "FAILED"):
                raise BackupApiError("InvalidRequestException",
                                     f"backup job {job_id} is already {job.state}")
            job.state = "ABORTED"
        return {}

    def list_recovery_points(self, account: str, vault: str, resource_arn: str | None
                             ) -> dict[str, Any]:
        """GET /backup-vaults/{name}/recovery-points/."""
        with self._lock:
            for job in self.backup_jobs.values():
                self._advance_backup(job)
            for cjob in self.copy_jobs.values():
                self._advance_copy(cjob)
            self._expire()
            points = sorted((p for p in self.recovery_points.values()
                             if p.account == account and p.vault == vault
                             and (resource_arn is None or p.resource_arn == resource_arn)),
                            key=lambda p: -p.created)
            return {"RecoveryPoints": [{
                "RecoveryPointArn": p.arn, "BackupVaultName": p.vault,
                "ResourceArn": p.resource_arn, "ResourceType": p.resource_type,
                "CreationDate": p.created, "CompletionDate": p.created,
                "Status": "COMPLETED",
                **({"SourceBackupVaultArn": p.source_vault_arn} if p.source_vault_arn else {})}
                for p in points]}

    def _recovery_point_out(self, p: RecoveryPoint) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RecoveryPointArn": p.arn, "BackupVaultName": p.vault,
            "BackupVaultArn": f"arn:aws:backup:{p.region}:{p.account}:backup-vault:{p.vault}",
            "ResourceArn": p.resource_arn, "ResourceType": p.resource_type,
            "CreationDate": p.created, "CompletionDate": p.created, "Status": "COMPLETED",
            "IsEncrypted": True, "StorageClass": "WARM"}
        if p.source_vault_arn:
            out["SourceBackupVaultArn"] = p.source_vault_arn
        if p.delete_at is not None:
            out["CalculatedLifecycle"] = {"DeleteAt": p.delete_at}
        return out

    def describe_recovery_point(self, account: str, vault: str, arn: str) -> dict[str, Any]:
        """GET /backup-vaults/{name}/recovery-points/{arn}."""
        with self._lock:
            return self._recovery_point_out(self._recovery_point(account, arn, vault))

    def delete_recovery_point(self, account: str, region: str, vault: str, arn: str
                              ) -> dict[str, Any]:
        """DELETE /backup-vaults/{name}/recovery-points/{arn}; refused while the vault's lock
        keeps it (its minimum retention) or a restore job still reads it."""
        with self._lock:
            rp = self._recovery_point(account, arn, vault)
            desc = self._vault(account, region, vault) or {}
            days = desc.get("MinRetentionDays")
            if desc.get("Locked") and days and self.clock.now() - rp.created < days * 86400:
                raise BackupApiError("InvalidRequestException",
                                     f"recovery point {arn} is protected by the vault lock of "
                                     f"{vault} until it is {days} days old")
            for job in self.restore_jobs.values():
                self._advance_restore(job)
                if job.recovery_point_arn == arn and job.state in ("PENDING", "RUNNING"):
                    raise BackupApiError("InvalidRequestException",
                                         f"recovery point {arn} is in use by restore job "
                                         f"{job.id}")
            del self.recovery_points[arn]
        return {}

    def recovery_point_tags(self, method: str, verb: str, account: str, arn: str,
                            body: dict[str, Any]) -> dict[str, Any] | None:
        """ListTags / TagResource / UntagResource of a recovery point of the caller's account;
        None for any other ARN (moto's)."""
        if ":recovery-point:" not in arn:
            return None
        with self._lock:
            rp = self._recovery_point(account, arn)
            if verb == "tags" and method == "GET":
                return {"Tags": dict(rp.tags)}
            if verb == "tags" and method == "POST":
                rp.tags.update(body.get("Tags") or {})
                return {}
            if verb == "untag" and method == "POST":
                for key in body.get("TagKeyList") or []:
                    rp.tags.pop(key, None)
                return {}
        return None

    def start_copy_job(self, account: str, region: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT /copy-jobs: copy a recovery point of the caller's vault into another vault."""
        for name in ("RecoveryPointArn", "SourceBackupVaultName", "DestinationBackupVaultArn",
                     "IamRoleArn"):
            if not body.get(name):
                raise BackupApiError("MissingParameterValueException", f"{name} is required")
        dest = str(body["DestinationBackupVaultArn"])
        m = _VAULT_ARN.match(dest)
        if m is None:
            raise BackupApiError("InvalidParameterValueException",
                                 f"Invalid destination backup vault arn: {dest}")
        if m.group(2) != region:
            raise BackupApiError("InvalidParameterValueException",
                                 f"copies to another Region are not supported by the keyplane "
                                 f"sandbox: {dest}")
        days = (body.get("Lifecycle") or {}).get("DeleteAfterDays")
        if days is not None and (not isinstance(days, int) or days < 1):
            raise BackupApiError("InvalidParameterValueException",
                                 f"Lifecycle.DeleteAfterDays must be at least 1, got {days}")
        with self._lock:
            rp = self._recovery_point(account, str(body["RecoveryPointArn"]),
                                      str(body["SourceBackupVaultName"]))
            job = CopyJob(id=str(uuid.uuid4()).upper(), account=account, region=region,
                          source_vault=rp.vault, recovery_point_arn=rp.arn,
                          destination_vault_arn=dest, role_arn=str(body["IamRoleArn"]),
                          created=self.clock.now(), seconds=self.copy_seconds,
                          fault=self.copy_fault, delete_after_days=days)
            self.copy_jobs[job.id] = job
        return {"CopyJobId": job.id, "CreationDate": job.created, "IsParent": False}

    def describe_copy_job(self, account: str, job_id: str) -> dict[str, Any]:
        """GET /copy-jobs/{id} (the account that started the job)."""
        with self._lock:
            job = self.copy_jobs.get(job_id)
            if job is None or job.account != account:
                raise BackupApiError("ResourceNotFoundException",
                                     f"copy job {job_id} not found", 404)
            self._advance_copy(job)
            src = self.recovery_points.get(job.recovery_point_arn)
            out: dict[str, Any] = {
                "AccountId": job.account, "CopyJobId": job.id,
                "SourceBackupVaultArn": f"arn:aws:backup:{job.region}:{job.account}:"
                                        f"backup-vault:{job.source_vault}",
                "SourceRecoveryPointArn": job.recovery_point_arn,
                "DestinationBackupVaultArn": job.destination_vault_arn,
                "CreationDate": job.created, "State": job.state,
                "StatusMessage": job.message, "IamRoleArn": job.role_arn, "IsParent": False}
            if src is not None:
                out.update(ResourceArn=src.resource_arn, ResourceType=src.resource_type)
            if job.delete_after_days:
                out["DestinationRecoveryPointLifecycle"] = {
                    "DeleteAfterDays": job.delete_after_days}
            if job.completed is not None:
                out["CompletionDate"] = job.completed
            if job.destination_recovery_point_arn:
                out["DestinationRecoveryPointArn"] = job.destination_recovery_point_arn
            return {"CopyJob": out}

    def start_restore_job(self, account: str, region: str, body: dict[str, Any]
                          ) -> dict[str, Any]:
        """PUT /restore-jobs: from a recovery point of the caller's own account (as in AWS:
        another account's recovery point is copied into a vault of this account first)."""
        arn = body.get("RecoveryPointArn", "")
        with self._lock:
            self._expire()
            rp = self.recovery_points.get(arn)
            if rp is None:
                raise BackupApiError("ResourceNotFoundException",
                                     f"recovery point {arn} not found", 404)
            if rp.account != account:
                raise BackupApiError("AccessDeniedException",
                                     f"recovery point {arn} belongs to account {rp.account}; "
                                     f"account {account} restores only its own recovery "
                                     "points (copy it into a vault of this account first)",
                                     403)
            if not body.get("IamRoleArn"):
                raise BackupApiError("MissingParameterValueException", "IamRoleArn is required")
            job = RestoreJob(id=str(uuid.uuid4()).upper(), account=account, region=region,
                             recovery_point_arn=arn, metadata=dict(body.get("Metadata") or {}),
                             created=self.clock.now(), seconds=self.restore_seconds,
                             fault=self.restore_fault, resource_type=rp.resource_type,
                             recovery_point_created=rp.created)
            self.restore_jobs[job.id] = job
        return {"RestoreJobId": job.id}

    def describe_restore_job(self, account: str, job_id: str) -> dict[str, Any]:
        """GET /restore-jobs/{id}."""
        with self._lock:
            job = self.restore_jobs.get(job_id)
            if job is None or job.account != account:
                raise BackupApiError("ResourceNotFoundException",
                                     f"restore job {job_id} not found", 404)
            self._advance_restore(job)
            out: dict[str, Any] = {
                "RestoreJobId": job.id, "AccountId": job.account, "Status": job.state,
                "StatusMessage": job.message, "RecoveryPointArn": job.recovery_point_arn,
                "CreationDate": job.created, "ResourceType": job.resource_type,
                "RecoveryPointCreationDate": job.recovery_point_created,
                "PercentDone": "100.00%" if job.state == "COMPLETED" else "0.00%"}
            if job.completed is not None:
                out["CompletionDate"] = job.completed
            if job.created_resource_arn:
                out["CreatedResourceArn"] = job.created_resource_arn
            if job.validation_status:
                out["ValidationStatus"] = job.validation_status
                out["ValidationStatusMessage"] = job.validation_message or ""
            return out

    def put_restore_validation_result(self, account: str, job_id: str, body: dict[str, Any]
                                      ) -> dict[str, Any]:
        """PUT /restore-jobs/{id}/validations."""
        status = body.get("ValidationStatus")
        if status not in ("FAILED", "SUCCESSFUL", "TIMED_OUT", "VALIDATING"):
            raise BackupApiError("InvalidParameterValueException",
                                 f"ValidationStatus must be one of FAILED, SUCCESSFUL, TIMED_OUT, "
                                 f"VALIDATING, got {status}")
        with self._lock:
            job = self.restore_jobs.get(job_id)
            if job is None or job.account != account:
                raise BackupApiError("ResourceNotFoundException",
                                     f"restore job {job_id} not found", 404)
            if job.state != "COMPLETED":
                raise BackupApiError("InvalidRequestException",
                                     f"restore job {job_id} is {job.state}, not COMPLETED")
            job.validation_status = status
            job.validation_message = body.get("ValidationStatusMessage", "")
        return {}

    def handle(self, method: str, path: str, query: dict[str, str], account: str, region: str,
               body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """Route one REST call: (HTTP status, body); None when moto answers it."""
        parts = [p for p in path.split("/") if p]
        got = self.config.handle(method, parts, query, account, region, body)
        if got is not None:
            return got
        out = self._jobs(method, parts, query, account, region, body)
        return None if out is None else (200, out)

    def _jobs(self, method: str, parts: list[str], query: dict[str, str], account: str,
              region: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if parts[:1] == ["backup-jobs"]:
            if method == "PUT" and len(parts) == 1:
                return self.start_backup_job(account, region, body)
            if method == "GET" and len(parts) == 2:
                return self.describe_backup_job(account, parts[1])
            if method == "POST" and len(parts) == 2:
                return self.stop_backup_job(account, parts[1])
        if parts[:1] == ["restore-jobs"]:
            if method == "PUT" and len(parts) == 1:
                return self.start_restore_job(account, region, body)
            if method == "GET" and len(parts) == 2:
                return self.describe_restore_job(account, parts[1])
            if method == "PUT" and len(parts) == 3 and parts[2] == "validations":
                return self.put_restore_validation_result(account, parts[1], body)
        if parts[:1] == ["copy-jobs"]:
            if method == "PUT" and len(parts) == 1:
                return self.start_copy_job(account, region, body)
            if method == "GET" and len(parts) == 2:
                return self.describe_copy_job(account, parts[1])
        if len(parts) >= 3 and parts[0] == "backup-vaults" and parts[2] == "recovery-points":
            if method == "GET" and len(parts) == 3:
                return self.list_recovery_points(account, parts[1], query.get("resourceArn"))
            if method == "GET" and len(parts) == 4:
                return self.describe_recovery_point(account, parts[1], parts[3])
            if method == "DELETE" and len(parts) == 4:
                return self.delete_recovery_point(account, region, parts[1], parts[3])
        if parts[:1] in (["tags"], ["untag"]) and len(parts) == 2:
            return self.recovery_point_tags(method, parts[0], account, parts[1], body)
        return None

    @staticmethod
    def moto_path(method: str, path: str) -> str:
        """The path as moto reads it: moto takes ListTags' ARN from the segment before a
        trailing slash (botocore's `/tags/{arn}/`); AWS SDKs for Go send `/tags/{arn}`."""
        if method == "GET" and path.startswith("/tags/") and not path.endswith("/"):
            return path + "/"
        return path
