"""Helpers for incident tests against the sandbox: a workload that signs as its key-user role,
the records and journal in the evidence bucket, the run's clock bound to the sandbox's."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import aws, run_cli

ENV = "prod"
KEY = "document-signing"  # production, RSA_3072, multi-Region (replica in us-west-2), g2
USER_ROLE = "keyplane-prod-user-docsign-service"  # its key-user role (trusts the task role)
TASK_ROLE = "docsign-service-task"  # the workload's own role, as the inventory declares it
REPLICA = "us-west-2"
TRUST_ROOT = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::{account}:root"},
    "Action": "sts:AssumeRole"}]}


def trust_root(account: str) -> str:
    """A trust policy naming the account (what a role the test creates trusts)."""
    return json.dumps(TRUST_ROOT).replace("{account}", account)


def session(sb: Sandbox, creds: dict[str, Any], service: str, region: str = "us-east-1") -> Any:
    """A client acting with temporary credentials (an assumed role's)."""
    return boto3.client(service, region_name=region, endpoint_url=sb.aws.url,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"],
                        config=Config(retries={"mode": "standard", "max_attempts": 1}))


def key_user_credentials(sb: Sandbox, account: str, name: str = "job-1") -> dict[str, Any]:
    """The docsign workload's way in, as on AWS: its task role (created here, trusting the
    account) assumes the key-user role keyplane created, whose trust names the task role."""
    iam = aws(sb, account, "iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=TASK_ROLE, AssumeRolePolicyDocument=trust_root(account))
    task = aws(sb, account, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{TASK_ROLE}", RoleSessionName="ecs-task")
    creds: dict[str, Any] = session(sb, task["Credentials"], "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{USER_ROLE}", RoleSessionName=name)["Credentials"]
    return creds


def sign(sb: Sandbox, creds: dict[str, Any], key_id: str, times: int,
         region: str = "us-east-1") -> None:
    """`times` Sign calls with the key, as the credentials' session."""
    kms = session(sb, creds, "kms", region)
    for _ in range(times):
        kms.sign(KeyId=key_id, Message=b"\x07" * 32, MessageType="DIGEST",
                 SigningAlgorithm="RSASSA_PSS_SHA_256")


def incident(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path, key_ref: str,
             *args: str, reason: str = "release signing host exfiltrated") \
        -> tuple[int, str, str]:
    """`keyplane incident prod KEY@gN --reason ...` in-process: (exit code, stdout, stderr)."""
    return run_cli(capsys, "incident", ENV, key_ref, "--reason", reason, "-d", str(envs),
                   "--endpoint-url", sb.aws.url, "--gcp-endpoint", sb.gcp.target,
                   "--max-attempts", "1", "--audit-log", str(audit_path(envs)), *args)


def audit_path(envs: Path) -> Path:
    """Where a test's incident audit events go."""
    return envs.parent / "incident-audit.jsonl"


def audit_events(envs: Path) -> list[dict[str, Any]]:
    """Every audit event of the test's incidents."""
    path = audit_path(envs)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def s3_objects(sb: Sandbox, account: str, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix` of the test's evidence bucket."""
    s3 = aws(sb, account, "s3")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=f"evidence-{account}",
                                                             Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = s3.get_object(Bucket=f"evidence-{account}",
                                          Key=o["Key"])["Body"].read()
    return out


def records(sb: Sandbox, account: str) -> list[dict[str, Any]]:
    """The incident records in the evidence bucket, oldest first."""
    objs = s3_objects(sb, account, "drills/incidents/")
    return [json.loads(body) for _, body in sorted(objs.items())]


def journal(sb: Sandbox, account: str, key_ref: str) -> list[dict[str, Any]]:
    """The journal entries of one generation's incidents, in order."""
    objs = s3_objects(sb, account, f"drills/journal/incident/{key_ref}/")
    return [json.loads(body) for _, body in sorted(objs.items())]


def key_arns(sb: Sandbox, account: str, generation: int) -> tuple[str, str]:
    """(the primary's ARN, the us-west-2 replica's ARN) of document-signing@g<N>."""
    arn = aws(sb, account, "kms").describe_key(
        KeyId=f"alias/{KEY}/g{generation}")["KeyMetadata"]["Arn"]
    replica = aws(sb, account, "kms", REPLICA).describe_key(KeyId=arn.replace(
        "us-east-1", REPLICA))["KeyMetadata"]["Arn"]
    return str(arn), str(replica)


def state(sb: Sandbox, account: str, arn: str) -> str:
    """The key's KeyState."""
    region = arn.split(":")[3]
    return str(aws(sb, account, "kms", region).describe_key(KeyId=arn)["KeyMetadata"]["KeyState"])


def grants(sb: Sandbox, account: str, arn: str) -> list[str]:
    """The grant ids on a key."""
    region = arn.split(":")[3]
    return [g["GrantId"] for g in aws(sb, account, "kms", region).list_grants(KeyId=arn)["Grants"]]


def issue(public_key: bytes, name: str) -> tuple[bytes, str]:
    """(PEM, hex serial) of a certificate for a KMS key's public key (DER SPKI), issued by a
    throwaway CA: the certificate a key's owner would have in the repository."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test issuing ca")]))
            .public_key(serialization.load_der_public_key(public_key))  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .sign(ca, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), format(cert.serial_number, "x")
