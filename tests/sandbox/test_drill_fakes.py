"""The sandbox's drill fakes over HTTP and gRPC, through boto3 and google-cloud-kms."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from google.api_core import exceptions as gexc

from keyplane.audit.evidence import DrillResult, EvidenceError
from keyplane.cloud.aws.evidence import S3EvidenceStore
from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import aws, gcp, start_sandbox

pytestmark = pytest.mark.integration
ACCT, DRILL = "711111111111", "722222222222"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def reset(sb: Sandbox) -> Iterator[None]:
    sb.front.backup.configure({"backup_seconds": 10, "restore_seconds": 100,
                               "backup_fault": None, "restore_fault": None})
    yield
    sb.front.rules = []


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err.get("Message", "")


def test_kms_signs_digests_and_refuses_disabled_and_pending_keys(sb: Sandbox) -> None:
    kms = aws(sb, ACCT, "kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    digest = hashlib.sha256(b"canary").digest()
    sig = kms.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST",
                   SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert kms.verify(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", Signature=sig,
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
    with pytest.raises(ClientError) as bad:
        kms.verify(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST",
                   Signature=sig[:-1] + bytes([sig[-1] ^ 1]), SigningAlgorithm="ECDSA_SHA_256")
    assert _code(bad) == ("KMSInvalidSignatureException", "signature is not valid")
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError) as disabled:
        kms.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST",
                 SigningAlgorithm="ECDSA_SHA_256")
    assert _code(disabled) == ("DisabledException", f"{key['Arn']} is disabled.")
    kms.enable_key(KeyId=key["KeyId"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as pending:
        kms.get_public_key(KeyId=key["KeyId"])
    assert _code(pending) == ("KMSInvalidStateException", f"{key['Arn']} is pendingdeletion.")


def test_corrupt_signature_fault_flips_a_bit_of_a_valid_answer(sb: Sandbox) -> None:
    kms = aws(sb, ACCT, "kms")
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    digest = hashlib.sha256(b"x").digest()
    sb.front.rules = [FaultRule(error="CorruptSignature", service="kms", operation="Sign")]
    sig = kms.sign(KeyId=key, Message=digest, MessageType="DIGEST",
                   SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    with pytest.raises(ClientError) as bad:
        kms.verify(KeyId=key, Message=digest, MessageType="DIGEST", Signature=sig,
                   SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert _code(bad)[0] == "KMSInvalidSignatureException"


def _table(sb: Sandbox, account: str, name: str, items: int) -> str:
    ddb = aws(sb, account, "dynamodb")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for i in range(items):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "v": {"S": "data"}})
    return f"arn:aws:dynamodb:us-east-1:{account}:table/{name}"


def _recovery_point(sb: Sandbox, arn: str) -> str:
    backup = aws(sb, ACCT, "backup")
    job = backup.start_backup_job(BackupVaultName="v", ResourceArn=arn,
                                  IamRoleArn=f"arn:aws:iam::{ACCT}:role/b")["BackupJobId"]
    states = [backup.describe_backup_job(BackupJobId=job)["State"]]
    sb.front.clock.advance(10)
    done = backup.describe_backup_job(BackupJobId=job)
    states.append(done["State"])
    assert states == ["CREATED", "COMPLETED"]
    return str(done["RecoveryPointArn"])


def test_backup_restore_moves_through_states_by_the_sandbox_clock(sb: Sandbox) -> None:
    arn = _table(sb, ACCT, "states-src", 3)
    rp = _recovery_point(sb, arn)
    # another account may not restore this account's recovery point (it must copy it first)
    with pytest.raises(ClientError) as foreign:
        aws(sb, DRILL, "backup").start_restore_job(
            RecoveryPointArn=rp, Metadata={"targetTableName": "states-dst"},
            IamRoleArn=f"arn:aws:iam::{DRILL}:role/r")
    assert _code(foreign)[0] == "AccessDeniedException"
    home = aws(sb, ACCT, "backup")
    job = home.start_restore_job(RecoveryPointArn=rp, Metadata={"targetTableName": "states-dst"},
                                 IamRoleArn=f"arn:aws:iam::{ACCT}:role/r")["RestoreJobId"]
    seen = []
    for step in (0, 40, 70):
        sb.front.clock.advance(step)
        seen.append(home.describe_restore_job(RestoreJobId=job)["Status"])
    assert seen == ["PENDING", "RUNNING", "COMPLETED"]
    assert aws(sb, ACCT, "dynamodb").scan(TableName="states-dst")["Count"] == 3
    with pytest.raises(ClientError) as other:
        aws(sb, DRILL, "backup").describe_restore_job(RestoreJobId=job)
    assert _code(other) == ("ResourceNotFoundException", f"restore job {job} not found")
    home.put_restore_validation_result(RestoreJobId=job, ValidationStatus="SUCCESSFUL")
    assert home.describe_restore_job(RestoreJobId=job)["ValidationStatus"] == "SUCCESSFUL"


@pytest.mark.parametrize(("fault", "state", "count"), [
    ("fail", "FAILED", None), ("never", "RUNNING", None), ("partial", "COMPLETED", 3),
    ("altered", "COMPLETED", 4)])
def test_restore_faults(sb: Sandbox, fault: str, state: str, count: int | None) -> None:
    arn = _table(sb, ACCT, f"src-{fault}", 4)
    rp = _recovery_point(sb, arn)
    sb.front.backup.configure({"restore_fault": fault})
    home = aws(sb, ACCT, "backup")
    job = home.start_restore_job(RecoveryPointArn=rp, Metadata={"targetTableName": f"dst-{fault}"},
                                 IamRoleArn=f"arn:aws:iam::{ACCT}:role/r")["RestoreJobId"]
    sb.front.clock.advance(10_000)
    assert home.describe_restore_job(RestoreJobId=job)["Status"] == state
    if count is not None:
        items = aws(sb, ACCT, "dynamodb").scan(TableName=f"dst-{fault}")["Items"]
        assert len(items) == count
        if fault == "altered":
            assert any("(altered by the sandbox)" in i["v"]["S"] for i in items)


def test_fails_stop_backup_job_aborts_and_unknown_fault_is_refused(sb: Sandbox) -> None:
    backup = aws(sb, ACCT, "backup")
    sb.front.backup.configure({"backup_fault": "never"})
    job = backup.start_backup_job(BackupVaultName="v", IamRoleArn="arn:aws:iam::1:role/b",
                                  ResourceArn=_table(sb, ACCT, "abort-src", 1))["BackupJobId"]
    backup.stop_backup_job(BackupJobId=job)
    assert backup.describe_backup_job(BackupJobId=job)["State"] == "ABORTED"
    with pytest.raises(ValueError) as info:
        sb.front.backup.configure({"restore_fault": "slow"})
    assert str(info.value) == ("restore_fault must be one of fail, never, altered, partial, "
                               "got slow")


def test_fails_cloudhsm_hsm_needs_an_active_cluster_and_a_cluster_without_hsms(
        sb: Sandbox) -> None:
    hsm = aws(sb, ACCT, "cloudhsmv2")
    src = hsm.create_cluster(HsmType="hsm2m.medium", SubnetIds=["subnet-1", "subnet-2"])
    backup = hsm.describe_backups(Filters={"clusterIds": [src["Cluster"]["ClusterId"]]})
    bid = backup["Backups"][0]["BackupId"]
    drill = aws(sb, DRILL, "cloudhsmv2")
    cid = drill.create_cluster(HsmType="hsm2m.medium", SubnetIds=["subnet-3", "subnet-4"],
                               SourceBackupId=bid)["Cluster"]["ClusterId"]
    with pytest.raises(ClientError) as early:
        drill.create_hsm(ClusterId=cid, AvailabilityZone="us-east-1a")
    assert _code(early) == ("CloudHsmInvalidRequestException",
                            f"cluster {cid} is CREATE_IN_PROGRESS; hsms can be added to an "
                            "active or uninitialized cluster")
    sb.front.clock.advance(sb.front.cloudhsm.cluster_seconds)
    drill.create_hsm(ClusterId=cid, AvailabilityZone="us-east-1a")
    with pytest.raises(ClientError) as busy:
        drill.delete_cluster(ClusterId=cid)
    assert _code(busy) == ("CloudHsmInvalidRequestException",
                           f"cluster {cid} still has 1 hsm(s); delete them first")


def test_gcp_fake_signs_encrypts_macs_and_refuses_disabled_versions(sb: Sandbox) -> None:
    from google.cloud import kms_v1

    client = gcp(sb)
    parent = "projects/p-drill/locations/us-east1"
    ring = client.create_key_ring(request={"parent": parent, "key_ring_id": "r"}).name

    def key(kid: str, purpose: str, alg: str) -> Any:
        return client.create_crypto_key(request={"parent": ring, "crypto_key_id": kid,
                                                 "crypto_key": {"purpose": purpose,
                                                                "version_template": {
                                                                    "algorithm": alg}}})
    key("sig", "ASYMMETRIC_SIGN", "EC_SIGN_P256_SHA256")
    ver = f"{ring}/cryptoKeys/sig/cryptoKeyVersions/1"
    sig = client.asymmetric_sign(request={"name": ver,
                                          "digest": {"sha256": hashlib.sha256(b"x").digest()}})
    assert len(sig.signature) > 60
    assert client.get_public_key(request={"name": ver}).pem.startswith("-----BEGIN PUBLIC KEY")
    enc = key("enc", "ENCRYPT_DECRYPT", "GOOGLE_SYMMETRIC_ENCRYPTION").name
    ct = client.encrypt(request={"name": enc, "plaintext": b"hi",
                                 "additional_authenticated_data": b"ctx"}).ciphertext
    assert client.decrypt(request={"name": enc, "ciphertext": ct,
                                   "additional_authenticated_data": b"ctx"}).plaintext == b"hi"
    with pytest.raises(gexc.InvalidArgument):
        client.decrypt(request={"name": enc, "ciphertext": ct,
                                "additional_authenticated_data": b"other"})
    key("mac", "MAC", "HMAC_SHA256")
    mver = f"{ring}/cryptoKeys/mac/cryptoKeyVersions/1"
    mac = client.mac_sign(request={"name": mver, "data": b"m"}).mac
    assert client.mac_verify(request={"name": mver, "data": b"m", "mac": mac}).success
    client.update_crypto_key_version(request={
        "crypto_key_version": {"name": ver, "state": kms_v1.CryptoKeyVersion.
                               CryptoKeyVersionState.DISABLED},
        "update_mask": {"paths": ["state"]}})
    with pytest.raises(gexc.FailedPrecondition) as info:
        client.asymmetric_sign(request={"name": ver, "digest": {"sha256": os.urandom(32)}})
    assert info.value.message == f"{ver} is not enabled, current state is: DISABLED."


def _result(run: str) -> DrillResult:
    return DrillResult(run_id=run, environment="prod", kind="backup", key="db", generation=None,
                       tier="production", started_at="2026-11-28T10:00:00.000Z",
                       ended_at="2026-11-28T10:05:00.000Z", outcome="PASSED", reason="ok",
                       identity="me", rto_seconds=300.0)


def test_s3_evidence_never_overwrites_and_reads_back(sb: Sandbox) -> None:
    s3 = aws(sb, ACCT, "s3")
    s3.create_bucket(Bucket="drill-evidence-test")
    store = S3EvidenceStore(s3, "s3://drill-evidence-test/drills")
    store.ensure_writable()
    where = store.put(_result("r1"))
    assert where == f"s3://drill-evidence-test/drills/{_result('r1').record_name()}"
    with pytest.raises(EvidenceError) as info:
        store.put(_result("r1"))  # moto honours IfNoneMatch="*"
    assert (info.value.code, info.value.message) == (
        "KP802", f"evidence record {_result('r1').record_name()} already exists; keyplane "
                 "never overwrites evidence")
    store.put(_result("r2"))
    assert [r.run_id for r in store.history("prod")] == ["r1", "r2"]
