"""The AWS adapters of restore drills: KMS crypto, AWS Backup, CloudHSM, the lock, escrow.

They implement `keyplane.drills.ports` with boto3 clients built by the
composition root (retries explicit in `AwsConfig`: throttling is retried by botocore
before it becomes a `Throttled` error). Restores act through a second set of clients in
the drill account; deletions happen only there.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from keyplane.cloud.aws.reader import DENIED_CODES, THROTTLING_CODES
from keyplane.cloud.aws.session import AwsClients
from keyplane.cloudcall import (
    AccessDenied,
    CloudCallError,
    KeyMissingError,
    KeyStateError,
    Throttled,
)
from keyplane.drills.errors import DrillSetupError
from keyplane.drills.ports import (
    Hsm,
    HsmBackup,
    HsmCluster,
    JobStatus,
    KeyTarget,
    LockHolder,
    RecoveryPoint,
)
from keyplane.model.tags import AWS_TAG_GENERATION, AWS_TAG_KEY

KEY_STATE_CODES = frozenset({"DisabledException", "KMSInvalidStateException",
                             "KeyUnavailableException", "CustomKeyStoreInvalidStateException"})
MISSING_CODES = frozenset({"NotFoundException", "ResourceNotFoundException", "NoSuchKey",
                           "NoSuchBucket", "CloudHsmResourceNotFoundException"})
TRANSIENT_CODES = THROTTLING_CODES | {"ServiceUnavailable", "ServiceUnavailableException",
                                      "InternalFailure", "KMSInternalException",
                                      "DependencyTimeoutException"}
LOCK_TABLE = "keyplane-drill-locks"


def translate(exc: Exception, operation: str) -> CloudCallError:
    """The drill ports' error for an SDK exception."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = str(err.get("Message", ""))[:300]
        if code in KEY_STATE_CODES:
            return KeyStateError(operation, code, message)
        if code in MISSING_CODES:
            return KeyMissingError(operation, code, message)
        if code in TRANSIENT_CODES:
            return Throttled(operation, code, message)
        if code in DENIED_CODES:
            return AccessDenied(operation, code, message)
        return CloudCallError(operation, code, message)
    return Throttled(operation, type(exc).__name__, str(exc)[:300])


def _call(operation: str, fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation) from None


def _account(clients: AwsClients) -> str:
    ident = _call("GetCallerIdentity", clients.client("sts").get_caller_identity)
    return str(ident["Account"])


def caller_arn(clients: AwsClients) -> str:
    """The ARN of the identity running the drill (for the evidence)."""
    return str(_call("GetCallerIdentity", clients.client("sts").get_caller_identity)["Arn"])


class AwsKmsDrill:
    """KMS cryptographic operations in one Region."""

    cloud = "aws"

    def __init__(self, clients: AwsClients, region: str) -> None:
        self._kms = clients.client("kms", region)
        self.region = region

    def _target(self, md: dict[str, Any], key_name: str, generation: int | None, current: bool,
                tags: dict[str, str] | None = None) -> KeyTarget:
        mr = md.get("MultiRegionConfiguration") or {}
        tag_gen = (tags or {}).get(AWS_TAG_GENERATION)
        return KeyTarget(key=key_name, generation=generation, ref=md["Arn"],
                         state=md.get("KeyState", "Unknown"),
                         spec=md.get("KeySpec", "SYMMETRIC_DEFAULT"), current=current,
                         region=self.region,
                         multi_region_primary=(mr.get("PrimaryKey") or {}).get("Arn"),
                         tagged=tags is not None and AWS_TAG_KEY in tags,
                         tag_key=(tags or {}).get(AWS_TAG_KEY),
                         tag_generation=int(tag_gen) if tag_gen and tag_gen.isdigit() else None)

    def _tags(self, key_id: str) -> dict[str, str]:
        return {t["TagKey"]: t["TagValue"] for p in
                self._kms.get_paginator("list_resource_tags").paginate(KeyId=key_id)
                for t in p["Tags"]}

    def describe(self, ref: str) -> KeyTarget:
        """DescribeKey by ARN, id or alias."""
        md = _call("DescribeKey", self._kms.describe_key, KeyId=ref)["KeyMetadata"]
        return self._target(md, ref, None, True)

    def targets(self, key_name: str, alias: str | None, crypto_key: str | None
                ) -> list[KeyTarget]:
        """The key at the alias (current) and the other keys tagged with its name."""
        current_arn = None
        md: dict[str, Any] | None = None
        out: list[KeyTarget] = []
        if alias:
            try:
                md = _call("DescribeKey", self._kms.describe_key, KeyId=alias)["KeyMetadata"]
                current_arn = md["Arn"]
            except KeyMissingError:
                md = None
        found: list[tuple[int | None, dict[str, Any], dict[str, str]]] = []
        for page in self._kms.get_paginator("list_keys").paginate():
            for k in page["Keys"]:
                tags = self._tags(k["KeyId"])
                if tags.get(AWS_TAG_KEY) != key_name:
                    continue
                gen = tags.get(AWS_TAG_GENERATION)
                kmd = _call("DescribeKey", self._kms.describe_key, KeyId=k["KeyId"])["KeyMetadata"]
                if kmd.get("KeyState") == "PendingReplicaDeletion" or (
                        (kmd.get("MultiRegionConfiguration") or {}).get("MultiRegionKeyType")
                        == "REPLICA"):
                    continue
                found.append((int(gen) if gen and gen.isdigit() else None, kmd, tags))
        for gen, kmd, tags in sorted(found, key=lambda g: -(g[0] or 0)):
            is_current = kmd["Arn"] == current_arn if current_arn else gen is None or \
                gen == max((g for g, _, _ in found if g is not None), default=None)
            # pending deletion generations are returned too: the canary decides whether that
            # is a retirement on schedule or a verify-only generation lost inside its overlap
            out.append(self._target(kmd, key_name, gen, is_current, tags))
        if current_arn and not any(t.current for t in out) and md is not None:
            # the alias points at a key that is not tagged as this key: report what it is
            out.insert(0, self._target(md, key_name, None, True, self._tags(md["KeyId"])))
        return sorted(out, key=lambda t: not t.current)

    def sign(self, ref: str, digest: bytes, algorithm: str) -> bytes:
        """Sign (MessageType DIGEST)."""
        return bytes(_call("Sign", self._kms.sign, KeyId=ref, Message=digest,
                           MessageType="DIGEST", SigningAlgorithm=algorithm)["Signature"])

    def verify(self, ref: str, digest: bytes, signature: bytes, algorithm: str) -> bool | None:
        """Verify; False on KMSInvalidSignatureException."""
        try:
            out = self._kms.verify(KeyId=ref, Message=digest, MessageType="DIGEST",
                                   Signature=signature, SigningAlgorithm=algorithm)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "KMSInvalidSignatureException":
                return False
            raise translate(exc, "Verify") from None
        except BotoCoreError as exc:
            raise translate(exc, "Verify") from None
        return bool(out.get("SignatureValid"))

    def public_key(self, ref: str) -> bytes:
        """GetPublicKey (DER)."""
        return bytes(_call("GetPublicKey", self._kms.get_public_key, KeyId=ref)["PublicKey"])

    def encrypt(self, ref: str, plaintext: bytes, context: dict[str, str]) -> bytes:
        """Encrypt with an encryption context."""
        return bytes(_call("Encrypt", self._kms.encrypt, KeyId=ref, Plaintext=plaintext,
                           EncryptionContext=context)["CiphertextBlob"])

    def decrypt(self, ref: str, ciphertext: bytes, context: dict[str, str]) -> bytes:
        """Decrypt with an encryption context (the key named, as AWS recommends)."""
        return bytes(_call("Decrypt", self._kms.decrypt, KeyId=ref, CiphertextBlob=ciphertext,
                           EncryptionContext=context)["Plaintext"])

    def generate_mac(self, ref: str, message: bytes, algorithm: str) -> bytes:
        """GenerateMac."""
        return bytes(_call("GenerateMac", self._kms.generate_mac, KeyId=ref, Message=message,
                           MacAlgorithm=algorithm)["Mac"])

    def verify_mac(self, ref: str, message: bytes, mac: bytes, algorithm: str) -> bool:
        """VerifyMac; False on KMSInvalidMacException."""
        try:
            out = self._kms.verify_mac(KeyId=ref, Message=message, Mac=mac,
                                       MacAlgorithm=algorithm)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "KMSInvalidMacException":
                return False
            raise translate(exc, "VerifyMac") from None
        return bool(out.get("MacValid"))


def _item_name(item: dict[str, Any], keys: list[str]) -> str:
    return "#".join(str(next(iter(item[k].values()))) for k in keys if k in item)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class AwsBackupDrill:
    """AWS Backup jobs and copies in the environment's account; the copy's vault, restores
    and scratch resources in the drill account."""

    def __init__(self, source: AwsClients, drill: AwsClients, region: str) -> None:
        self._src = source
        self._drill = drill
        self.region = region

    def account_id(self) -> str:
        """The environment's account (STS)."""
        return _account(self._src)

    def drill_account_id(self) -> str:
        """The drill account (STS of the drill credentials)."""
        return _account(self._drill)

    def _clients(self, drill: bool) -> AwsClients:
        return self._drill if drill else self._src

    def snapshot(self, resource_arn: str, *, drill: bool = False) -> dict[str, str]:
        """SHA-256 per item (DynamoDB: key attributes name the item) or per object (S3)."""
        c = self._clients(drill)
        out: dict[str, str] = {}
        if resource_arn.startswith("arn:aws:dynamodb:"):
            table = resource_arn.split(":table/", 1)[1]
            ddb = c.client("dynamodb", resource_arn.split(":")[3])
            schema = _call("DescribeTable", ddb.describe_table, TableName=table)["Table"]
            keys = [k["AttributeName"] for k in schema["KeySchema"]]
            try:
                for page in ddb.get_paginator("scan").paginate(TableName=table,
                                                               ConsistentRead=True):
                    for item in page.get("Items", []):
                        out[_item_name(item, keys)] = _digest(item)
            except (ClientError, BotoCoreError) as exc:
                raise translate(exc, "Scan") from None
            return out
        bucket = resource_arn.split(":::", 1)[1]
        s3 = c.client("s3", self.region)
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for o in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                    out[o["Key"]] = hashlib.sha256(body).hexdigest()
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "ListObjectsV2") from None
        return out

    def write_canary(self, resource_arn: str, name: str, body: str) -> str | None:
        """A canary item (pk = name) or object (key = name); the object's version id."""
        if resource_arn.startswith("arn:aws:dynamodb:"):
            table = resource_arn.split(":table/", 1)[1]
            ddb = self._src.client("dynamodb", resource_arn.split(":")[3])
            schema = _call("DescribeTable", ddb.describe_table, TableName=table)["Table"]
            item = {k["AttributeName"]: {"S": name} for k in schema["KeySchema"]}
            item["keyplane_canary"] = {"S": body}
            _call("PutItem", ddb.put_item, TableName=table, Item=item)
            return None
        out = _call("PutObject", self._src.client("s3", self.region).put_object,
                    Bucket=resource_arn.split(":::", 1)[1], Key=name, Body=body.encode())
        version = out.get("VersionId")
        return str(version) if version and version != "null" else None

    def delete_canary(self, resource_arn: str, name: str, version_id: str | None = None) -> None:
        """DeleteItem of the canary (every key attribute = name) or DeleteObject (that
        version: a versioned bucket keeps neither the canary nor a delete marker)."""
        if resource_arn.startswith("arn:aws:dynamodb:"):
            table = resource_arn.split(":table/", 1)[1]
            ddb = self._src.client("dynamodb", resource_arn.split(":")[3])
            schema = _call("DescribeTable", ddb.describe_table, TableName=table)["Table"]
            key = {k["AttributeName"]: {"S": name} for k in schema["KeySchema"]}
            _call("DeleteItem", ddb.delete_item, TableName=table, Key=key)
            return
        s3 = self._src.client("s3", self.region)
        bucket = resource_arn.split(":::", 1)[1]
        if version_id:
            _call("DeleteObject", s3.delete_object, Bucket=bucket, Key=name, VersionId=version_id)
            return
        status = _call("GetBucketVersioning", s3.get_bucket_versioning, Bucket=bucket)
        if status.get("Status") not in ("Enabled", "Suspended"):
            _call("DeleteObject", s3.delete_object, Bucket=bucket, Key=name)
            return
        # version unknown (a run killed mid-write): every version of the run's own key goes,
        # and no delete marker is left behind
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket,
                                                                          Prefix=name):
                for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    if v["Key"] == name:
                        s3.delete_object(Bucket=bucket, Key=name, VersionId=v["VersionId"])
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "DeleteObjectVersion") from None

    def start_backup(self, *, vault: str, resource_arn: str, role_arn: str,
                     tags: dict[str, str]) -> str:
        """StartBackupJob with the run's tags on the recovery point."""
        out = _call("StartBackupJob", self._src.client("backup", self.region).start_backup_job,
                    BackupVaultName=vault, ResourceArn=resource_arn, IamRoleArn=role_arn,
                    RecoveryPointTags=tags)
        return str(out["BackupJobId"])

    @staticmethod
    def _ts(v: Any) -> float | None:
        return v.timestamp() if hasattr(v, "timestamp") else (float(v) if v else None)

    def backup_job(self, job_id: str) -> JobStatus:
        """DescribeBackupJob."""
        d = _call("DescribeBackupJob", self._src.client("backup", self.region).describe_backup_job,
                  BackupJobId=job_id)
        return JobStatus(job_id=job_id, state=d.get("State", "UNKNOWN"),
                         message=d.get("StatusMessage", ""),
                         recovery_point_arn=d.get("RecoveryPointArn"),
                         created_at=self._ts(d.get("CreationDate")),
                         completed_at=self._ts(d.get("CompletionDate")))

    def latest_recovery_point(self, *, vault: str, resource_arn: str) -> RecoveryPoint | None:
        """ListRecoveryPointsByBackupVault, newest COMPLETED."""
        backup = self._src.client("backup", self.region)
        points = []
        try:
            for page in backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
                    BackupVaultName=vault, ByResourceArn=resource_arn):
                points += [p for p in page.get("RecoveryPoints", [])
                           if p.get("Status") == "COMPLETED"]
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "ListRecoveryPointsByBackupVault") from None
        if not points:
            return None
        p = max(points, key=lambda p: self._ts(p.get("CreationDate")) or 0.0)
        return RecoveryPoint(arn=p["RecoveryPointArn"], resource_arn=p["ResourceArn"],
                             resource_type=p.get("ResourceType", ""),
                             created_at=self._ts(p.get("CreationDate")) or 0.0)

    def drill_vault(self, name: str) -> str | None:
        """DescribeBackupVault in the drill account; None when it holds no such vault."""
        try:
            out = _call("DescribeBackupVault",
                        self._drill.client("backup", self.region).describe_backup_vault,
                        BackupVaultName=name)
        except KeyMissingError:
            return None
        return str(out["BackupVaultArn"])

    def start_copy(self, *, source_vault: str, recovery_point_arn: str,
                   destination_vault_arn: str, role_arn: str, delete_after_days: int) -> str:
        """StartCopyJob in the environment's account into the drill account's vault."""
        out = _call("StartCopyJob", self._src.client("backup", self.region).start_copy_job,
                    RecoveryPointArn=recovery_point_arn, SourceBackupVaultName=source_vault,
                    DestinationBackupVaultArn=destination_vault_arn, IamRoleArn=role_arn,
                    Lifecycle={"DeleteAfterDays": delete_after_days})
        return str(out["CopyJobId"])

    def copy_job(self, job_id: str) -> JobStatus:
        """DescribeCopyJob (environment's account)."""
        d = _call("DescribeCopyJob", self._src.client("backup", self.region).describe_copy_job,
                  CopyJobId=job_id)["CopyJob"]
        return JobStatus(job_id=job_id, state=d.get("State", "UNKNOWN"),
                         message=d.get("StatusMessage", ""),
                         recovery_point_arn=d.get("SourceRecoveryPointArn"),
                         created_resource_arn=d.get("DestinationRecoveryPointArn"),
                         created_at=self._ts(d.get("CreationDate")),
                         completed_at=self._ts(d.get("CompletionDate")))

    def start_restore(self, *, recovery_point_arn: str, resource_type: str, target_name: str,
                      role_arn: str) -> str:
        """StartRestoreJob in the drill account into a new table or bucket."""
        metadata = ({"targetTableName": target_name} if resource_type == "DynamoDB"
                    else {"DestinationBucketName": target_name, "NewBucket": "true"})
        out = _call("StartRestoreJob", self._drill.client("backup", self.region).start_restore_job,
                    RecoveryPointArn=recovery_point_arn, Metadata=metadata, IamRoleArn=role_arn,
                    ResourceType=resource_type)
        return str(out["RestoreJobId"])

    def restore_job(self, job_id: str) -> JobStatus:
        """DescribeRestoreJob (drill account)."""
        d = _call("DescribeRestoreJob",
                  self._drill.client("backup", self.region).describe_restore_job,
                  RestoreJobId=job_id)
        return JobStatus(job_id=job_id, state=d.get("Status", "UNKNOWN"),
                         message=d.get("StatusMessage", ""),
                         recovery_point_arn=d.get("RecoveryPointArn"),
                         created_resource_arn=d.get("CreatedResourceArn"),
                         created_at=self._ts(d.get("CreationDate")),
                         completed_at=self._ts(d.get("CompletionDate")),
                         recovery_point_created_at=self._ts(d.get("RecoveryPointCreationDate")))

    def put_validation(self, job_id: str, status: str, message: str) -> None:
        """PutRestoreValidationResult."""
        _call("PutRestoreValidationResult",
              self._drill.client("backup", self.region).put_restore_validation_result,
              RestoreJobId=job_id, ValidationStatus=status, ValidationStatusMessage=message[:300])

    def tags(self, resource_arn: str) -> dict[str, str] | None:
        """Tags of a restored table (ListTagsOfResource) or bucket (GetBucketTagging)."""
        try:
            if resource_arn.startswith("arn:aws:dynamodb:"):
                ddb = self._drill.client("dynamodb", resource_arn.split(":")[3])
                tags = ddb.list_tags_of_resource(ResourceArn=resource_arn).get("Tags", [])
                return {t["Key"]: t["Value"] for t in tags}
            s3 = self._drill.client("s3", self.region)
            try:
                got = s3.get_bucket_tagging(Bucket=resource_arn.split(":::", 1)[1])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "NoSuchTagSet":
                    return {}
                raise
            return {t["Key"]: t["Value"] for t in got.get("TagSet", [])}
        except ClientError as exc:
            err = translate(exc, "ListTags")
            if isinstance(err, KeyMissingError):
                return None
            raise err from None
        except BotoCoreError as exc:
            raise translate(exc, "ListTags") from None

    def tag(self, resource_arn: str, tags: dict[str, str]) -> None:
        """Tag a restored table or bucket."""
        if resource_arn.startswith("arn:aws:dynamodb:"):
            ddb = self._drill.client("dynamodb", resource_arn.split(":")[3])
            _call("TagResource", ddb.tag_resource, ResourceArn=resource_arn,
                  Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])
            return
        s3 = self._drill.client("s3", self.region)
        merged = {**(self.tags(resource_arn) or {}), **tags}
        _call("PutBucketTagging", s3.put_bucket_tagging, Bucket=resource_arn.split(":::", 1)[1],
              Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(merged.items())]})

    def delete(self, resource_arn: str) -> None:
        """Delete a restored table or bucket (with its objects) in the drill account."""
        if resource_arn.startswith("arn:aws:dynamodb:"):
            ddb = self._drill.client("dynamodb", resource_arn.split(":")[3])
            _call("DeleteTable", ddb.delete_table, TableName=resource_arn.split(":table/", 1)[1])
            return
        bucket = resource_arn.split(":::", 1)[1]
        s3 = self._drill.client("s3", self.region)
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
            s3.delete_bucket(Bucket=bucket)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "DeleteBucket") from None


    def recovery_point_tags(self, recovery_point_arn: str) -> dict[str, str] | None:
        """ListTags of a recovery point in the drill account; None when it is gone."""
        backup = self._drill.client("backup", self.region)
        tags: dict[str, str] = {}
        token: dict[str, str] = {}
        try:
            while True:
                page = backup.list_tags(ResourceArn=recovery_point_arn, **token)
                tags.update(page.get("Tags") or {})
                if not page.get("NextToken"):
                    break
                token = {"NextToken": page["NextToken"]}
        except ClientError as exc:
            err = translate(exc, "ListTags")
            if isinstance(err, KeyMissingError):
                return None
            raise err from None
        except BotoCoreError as exc:
            raise translate(exc, "ListTags") from None
        return tags

    def tag_recovery_point(self, recovery_point_arn: str, tags: dict[str, str]) -> None:
        """TagResource on a recovery point in the drill account."""
        _call("TagResource", self._drill.client("backup", self.region).tag_resource,
              ResourceArn=recovery_point_arn, Tags=dict(tags))

    def delete_recovery_point(self, *, vault: str, recovery_point_arn: str) -> None:
        """DeleteRecoveryPoint in the drill account's vault."""
        _call("DeleteRecoveryPoint",
              self._drill.client("backup", self.region).delete_recovery_point,
              BackupVaultName=vault, RecoveryPointArn=recovery_point_arn)


class AwsCloudHsmDrill:
    """CloudHSM in the environment's account (cluster, backups) and the drill account."""

    def __init__(self, source: AwsClients, drill: AwsClients, region: str) -> None:
        self._src = source.client("cloudhsmv2", region)
        self._drill = drill.client("cloudhsmv2", region)
        self._src_clients = source
        self._drill_clients = drill

    def account_id(self) -> str:
        """The environment's account."""
        return _account(self._src_clients)

    def drill_account_id(self) -> str:
        """The drill account."""
        return _account(self._drill_clients)

    @staticmethod
    def _cluster(c: dict[str, Any]) -> HsmCluster:
        days = (c.get("BackupRetentionPolicy") or {}).get("Value")
        return HsmCluster(
            cluster_id=c["ClusterId"], state=c.get("State", ""),
            backup_retention_in_days=int(days) if str(days or "").isdigit() else None,
            hsms=tuple(Hsm(hsm_id=h["HsmId"], availability_zone=h.get("AvailabilityZone", ""),
                           state=h.get("State", "")) for h in c.get("Hsms") or []),
            tags={t["Key"]: t["Value"] for t in c.get("TagList") or []})

    def clusters(self) -> list[HsmCluster]:
        """DescribeClusters (source)."""
        out = []
        try:
            for page in self._src.get_paginator("describe_clusters").paginate():
                out += [self._cluster(c) for c in page.get("Clusters", [])]
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "DescribeClusters") from None
        return out

    def backups(self) -> list[HsmBackup]:
        """DescribeBackups (source), newest first."""
        out = []
        try:
            for page in self._src.get_paginator("describe_backups").paginate(SortAscending=False):
                for b in page.get("Backups", []):
                    ts = b.get("CreateTimestamp")
                    out.append(HsmBackup(backup_id=b["BackupId"],
                                         cluster_id=b.get("SourceCluster") or b.get("ClusterId", ""),
                                         state=b.get("BackupState", ""),
                                         created_at=ts.timestamp() if hasattr(ts, "timestamp")
                                         else 0.0))
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "DescribeBackups") from None
        return sorted(out, key=lambda b: -b.created_at)

    def restore_cluster(self, *, backup_id: str, subnet_ids: list[str],
                        tags: dict[str, str]) -> str:
        """CreateCluster from a backup (drill account), tagged."""
        out = _call("CreateCluster", self._drill.create_cluster, HsmType="hsm2m.medium",
                    SourceBackupId=backup_id, SubnetIds=subnet_ids,
                    TagList=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])
        return str(out["Cluster"]["ClusterId"])

    def cluster(self, cluster_id: str) -> HsmCluster | None:
        """DescribeClusters filtered by id (drill account)."""
        got = _call("DescribeClusters", self._drill.describe_clusters,
                    Filters={"clusterIds": [cluster_id]}).get("Clusters", [])
        return self._cluster(got[0]) if got else None

    def create_hsm(self, cluster_id: str, availability_zone: str) -> str:
        """CreateHsm (drill account)."""
        out = _call("CreateHsm", self._drill.create_hsm, ClusterId=cluster_id,
                    AvailabilityZone=availability_zone)
        return str(out["Hsm"]["HsmId"])

    def delete_hsm(self, cluster_id: str, hsm_id: str) -> None:
        """DeleteHsm (drill account)."""
        _call("DeleteHsm", self._drill.delete_hsm, ClusterId=cluster_id, HsmId=hsm_id)

    def delete_cluster(self, cluster_id: str) -> None:
        """DeleteCluster (drill account)."""
        _call("DeleteCluster", self._drill.delete_cluster, ClusterId=cluster_id)


class DynamoDbLock:
    """Drill locks as items of a DynamoDB table, taken with a conditional put."""

    def __init__(self, clients: AwsClients, region: str, table: str = LOCK_TABLE) -> None:
        self._ddb = clients.client("dynamodb", region)
        self.table = table

    def acquire(self, name: str, owner: str, *, now: float, expires_at: float
                ) -> LockHolder | None:
        """Put the lock item unless another owner holds an unexpired one."""
        try:
            self._ddb.put_item(
                TableName=self.table,
                Item={"lock": {"S": name}, "owner": {"S": owner},
                      "expires_at": {"N": repr(expires_at)}},
                ConditionExpression="attribute_not_exists(#l) OR expires_at < :now",
                ExpressionAttributeNames={"#l": "lock"},
                ExpressionAttributeValues={":now": {"N": repr(now)}})
            return None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "ResourceNotFoundException":
                raise DrillSetupError(f"lock table {self.table} does not exist; create it "
                                      "(partition key `lock`, string) or run `keyplane sandbox "
                                      "apply` in the sandbox") from None
            if code != "ConditionalCheckFailedException":
                raise translate(exc, "PutItem") from None
        got = _call("GetItem", self._ddb.get_item, TableName=self.table,
                    Key={"lock": {"S": name}}, ConsistentRead=True).get("Item") or {}
        return LockHolder(owner=got.get("owner", {}).get("S", "unknown"),
                          expires_at=float(got.get("expires_at", {}).get("N", expires_at)))

    def release(self, name: str, owner: str) -> None:
        """Delete the lock item if `owner` still holds it."""
        try:
            self._ddb.delete_item(TableName=self.table, Key={"lock": {"S": name}},
                                  ConditionExpression="#o = :me",
                                  ExpressionAttributeNames={"#o": "owner"},
                                  ExpressionAttributeValues={":me": {"S": owner}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate(exc, "DeleteItem") from None

    def renew(self, name: str, owner: str, *, expires_at: float) -> bool:
        """Move the lease of our lock item (conditional on still owning it)."""
        try:
            self._ddb.update_item(TableName=self.table, Key={"lock": {"S": name}},
                                  UpdateExpression="SET expires_at = :until",
                                  ConditionExpression="#o = :me",
                                  ExpressionAttributeNames={"#o": "owner"},
                                  ExpressionAttributeValues={":me": {"S": owner},
                                                             ":until": {"N": repr(expires_at)}})
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise translate(exc, "UpdateItem") from None

    def peek(self, name: str) -> LockHolder | None:
        """The lock item's holder, if there is one."""
        try:
            got = self._ddb.get_item(TableName=self.table, Key={"lock": {"S": name}},
                                     ConsistentRead=True).get("Item")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None  # acquire says what to do about a missing table
            raise translate(exc, "GetItem") from None
        if not got:
            return None
        return LockHolder(owner=got.get("owner", {}).get("S", "unknown"),
                          expires_at=float(got.get("expires_at", {}).get("N", "0")))


class S3Escrow:
    """Fetches escrow envelopes from S3 into memory."""

    def __init__(self, clients: AwsClients, region: str) -> None:
        self._s3 = clients.client("s3", region)

    def fetch(self, location: str) -> bytes:
        """GetObject of an s3:// URI."""
        u = urlparse(location)
        if u.scheme != "s3":
            raise CloudCallError("GetObject", "UnsupportedLocation",
                                 f"escrow location must be s3://, got {location}")
        body = _call("GetObject", self._s3.get_object, Bucket=u.netloc,
                     Key=u.path.lstrip("/"))["Body"]
        return bytes(body.read())
