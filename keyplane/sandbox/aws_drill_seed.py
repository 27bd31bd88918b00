"""What restore drills need in the local sandbox, created by `keyplane sandbox apply`.

The drill lock table, the evidence bucket (for an s3:// evidence location), the
protected resources of the backup plan with a little data, and for imported keys
(`origin: external`) the key material: generated here, imported through
GetParametersForImport / ImportKeyMaterial, and sealed into an escrow envelope at the
declared location. And the CloudHSM cluster's backup retention, set from the inventory
through ModifyCluster as an operator does after a deploy (the Terraform provider has no
argument for it; the stack carries it as the `keyplane:backup-retention-in-days` tag).
Loopback endpoints only: never a cloud.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from keyplane.cloud.aws.drills import LOCK_TABLE, AwsKmsDrill
from keyplane.cloud.aws.session import AwsClients
from keyplane.drills.escrow import seal
from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud, Origin
from keyplane.model.tags import AWS_TAG_ENV
from keyplane.sandbox.aws_writer import require_loopback

_CURVES = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1,
           "ECC_NIST_P521": ec.SECP521R1, "ECC_SECG_P256K1": ec.SECP256K1}


def _bucket(s3: Any, name: str, region: str) -> None:
    kwargs = {} if region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=name, **kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou",
                                                 "BucketAlreadyExists"):
            raise


def _private_der(spec: str) -> bytes:
    if spec in _CURVES:
        key: Any = ec.generate_private_key(_CURVES[spec]())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(spec.split("_")[1]))
    return bytes(key.private_bytes(serialization.Encoding.DER,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def _cluster_retention(clients: AwsClients, env: Environment) -> list[str]:
    """ModifyCluster on the environment's clusters whose backup retention is not the
    declared one."""
    assert env.aws is not None
    hsm = env.aws.cloudhsm
    if hsm is None or hsm.backup_retention_in_days is None:
        return []
    want = str(hsm.backup_retention_in_days)
    client = clients.client("cloudhsmv2", env.aws.region)
    out = []
    for page in client.get_paginator("describe_clusters").paginate():
        for c in page.get("Clusters", []):
            tags = {t["Key"]: t["Value"] for t in c.get("TagList") or []}
            if tags.get(AWS_TAG_ENV) != env.name or c.get("State") == "DELETED":
                continue
            if str((c.get("BackupRetentionPolicy") or {}).get("Value")) != want:
                client.modify_cluster(ClusterId=c["ClusterId"],
                                      BackupRetentionPolicy={"Type": "DAYS", "Value": want})
                out.append(f"cloudhsm cluster {c['ClusterId']} backup retention {want} d")
    return out


def seed_drills(clients: AwsClients, env: Environment) -> list[str]:
    """Create the drills' prerequisites for `env`; what was created, one line each."""
    require_loopback(clients.config.endpoint_url)
    assert env.aws is not None
    region = env.aws.region
    out: list[str] = []
    ddb = clients.client("dynamodb", region)
    try:
        ddb.create_table(TableName=LOCK_TABLE, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}])
        out.append(f"dynamodb table {LOCK_TABLE} (drill locks)")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    s3 = clients.client("s3", region)
    if env.evidence_location and env.evidence_location.startswith("s3://"):
        _bucket(s3, urlparse(env.evidence_location).netloc, region)
        out.append(f"evidence bucket {urlparse(env.evidence_location).netloc}")
    for res in env.aws.backup.resources if env.aws.backup else ():
        if res.arn.startswith("arn:aws:dynamodb:"):
            table = res.arn.split(":table/", 1)[1]
            try:
                ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk",
                                                        "AttributeType": "S"}])
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceInUseException":
                    raise
            for i in range(5):
                ddb.put_item(TableName=table, Item={"pk": {"S": f"cert-{i:04d}"},
                                                    "subject": {"S": f"CN=service-{i}"},
                                                    "status": {"S": "valid"}})
            out.append(f"dynamodb table {table} (5 items, backed up)")
        elif res.arn.startswith("arn:aws:s3:::"):
            bucket = res.arn.split(":::", 1)[1]
            _bucket(s3, bucket, region)
            for i in range(5):
                s3.put_object(Bucket=bucket, Key=f"inventory/{i:04d}.json",
                              Body=f'{{"serial": {i}, "status": "valid"}}'.encode())
            out.append(f"s3 bucket {bucket} (5 objects, backed up)")
    out += _cluster_retention(clients, env)
    kms = clients.client("kms", region)
    port = AwsKmsDrill(clients, region)
    for key in env.keys_on(Cloud.AWS):
        if key.origin is not Origin.EXTERNAL or key.escrow is None or not key.alias:
            continue
        spec = key.spec or "SYMMETRIC_DEFAULT"
        params = kms.get_parameters_for_import(KeyId=key.alias,
                                               WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                               WrappingKeySpec="RSA_2048")
        wrapping = serialization.load_der_public_key(params["PublicKey"])
        assert isinstance(wrapping, rsa.RSAPublicKey)
        material = os.urandom(32) if spec == "SYMMETRIC_DEFAULT" \
            else _private_der(spec)
        kms.import_key_material(
            KeyId=key.alias, ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrapping.encrypt(material, padding.OAEP(
                mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        wrapping_key = env.key(key.escrow.wrapping_key)
        envelope = seal(material, key.name, port, wrapping_key.alias or wrapping_key.name)
        del material
        loc = urlparse(key.escrow.location)
        _bucket(s3, loc.netloc, region)
        s3.put_object(Bucket=loc.netloc, Key=loc.path.lstrip("/"), Body=envelope)
        out.append(f"imported material of {key.name}, escrow at {key.escrow.location}")
    return out
