"""What restore drills need in the local sandbox, created by `keyplane sandbox apply`.

The drill lock table, the evidence bucket (for an s3:// evidence location), the
protected resources of the backup plan with a little data, the drill account's part
(`<env>-aws-drill`: the vault restore drills copy into, its key, its access policy and
the restore role, created in the drill account from the same plan the stack renders;
the Terraform apply of the sandbox covers the environment's own stack only), and for
imported keys (`origin: external`) the key material: generated here, imported through
GetParametersForImport / ImportKeyMaterial (wrapped as `keyplane.drills.import_wrapping`
picks: RSA private keys by RSA_AES_KEY_WRAP_SHA_256, the rest by RSAES_OAEP_SHA_256, both
under an RSA_4096 wrapping key), and sealed into an escrow envelope at the declared location.
And the CloudHSM cluster's backup retention, set from the inventory through ModifyCluster
as an operator does after a deploy (the Terraform provider has no argument for it; the
stack carries it as the `keyplane:backup-retention-in-days` tag).
Loopback endpoints only: never a cloud.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keyplane.cloud.aws.drills import LOCK_TABLE, AwsKmsDrill
from keyplane.cloud.aws.session import AwsClients, AwsConfig
from keyplane.drills.escrow import seal
from keyplane.drills.import_wrapping import import_wrapping
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


def _material(spec: str) -> bytes:
    """Fresh key material for a key of `spec`, as ImportKeyMaterial takes it (memory only)."""
    if spec == "SYMMETRIC_DEFAULT":
        return os.urandom(32)
    if spec.startswith("HMAC_"):
        return os.urandom(int(spec.split("_")[1]) // 8)  # the digest length
    return _private_der(spec)


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


def _drill_clients(clients: AwsClients, account: str) -> AwsClients:
    """Clients acting as `account` on the same sandbox endpoint."""
    from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key

    c = clients.config
    return AwsClients(AwsConfig(region=c.region, endpoint_url=c.endpoint_url,
                                access_key_id=sandbox_access_key(account),
                                secret_access_key=SANDBOX_SECRET))


def _drill_account(clients: AwsClients, env: Environment) -> list[str]:
    """The drill account's part of `env` (`plan_drill_account`): restore role, vault key and
    alias, vault and its access policy; created or brought up to date, one line each."""
    from keyplane.desired import policy as pol
    from keyplane.desired.aws import plan_drill_account, resolve

    plan = plan_drill_account(env)
    if plan is None:
        return []
    drill = _drill_clients(clients, plan.account_id)
    out: list[str] = []
    iam = drill.client("iam", plan.region)
    role = plan.restore_role
    try:
        iam.create_role(RoleName=role.name, Description=role.description,
                        AssumeRolePolicyDocument=pol.to_json(role.trust_policy),
                        MaxSessionDuration=role.max_session_duration,
                        Tags=[{"Key": k, "Value": v} for k, v in sorted(role.tags.items())])
        out.append(f"drill account {plan.account_id}: role {role.name}")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    for attachment in role.managed_policies:
        iam.attach_role_policy(RoleName=role.name, PolicyArn=attachment.policy_arn)
    kms = drill.client("kms", plan.region)
    alias = plan.key.aliases[0].name
    try:
        key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NotFoundException":
            raise
        key_id = kms.create_key(Description=plan.key.description,
                                Policy=pol.to_json(plan.key.policy),
                                Tags=[{"TagKey": k, "TagValue": v}
                                      for k, v in sorted(plan.key.tags.items())]
                                )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        out.append(f"drill account {plan.account_id}: kms key {alias}")
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=pol.to_json(plan.key.policy))
    key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    backup = drill.client("backup", plan.region)
    vault = plan.vault
    try:
        backup.describe_backup_vault(BackupVaultName=vault.name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        backup.create_backup_vault(BackupVaultName=vault.name, EncryptionKeyArn=key_arn,
                                   BackupVaultTags=dict(vault.tags))
        out.append(f"drill account {plan.account_id}: backup vault {vault.name}")
    known = {(plan.vault.path, "name"): vault.name, (plan.key.path, "arn"): key_arn}
    document = resolve(plan.vault_policy.document, lambda path, attr: known[(path, attr)])
    backup.put_backup_vault_access_policy(BackupVaultName=vault.name,
                                          Policy=pol.to_json(document))
    out.append(f"drill account {plan.account_id}: vault {vault.name} accepts copies from "
               f"{plan.source_account_id}")
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
    out += _drill_account(clients, env)
    out += _cluster_retention(clients, env)
    kms = clients.client("kms", region)
    port = AwsKmsDrill(clients, region)
    for key in env.keys_on(Cloud.AWS):
        if key.origin is not Origin.EXTERNAL or key.escrow is None or not key.alias:
            continue
        spec = key.spec or "SYMMETRIC_DEFAULT"
        key_arn = kms.describe_key(KeyId=key.alias)["KeyMetadata"]["Arn"]  # not an alias: AWS
        wrapping = import_wrapping(spec)  # RSA material: RSA_AES_KEY_WRAP_SHA_256 under RSA_4096
        params = kms.get_parameters_for_import(KeyId=key_arn, **wrapping.request())
        material = _material(spec)
        kms.import_key_material(
            KeyId=key_arn, ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrapping.wrap(material, params["PublicKey"]),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        wrapping_key = env.key(key.escrow.wrapping_key)
        envelope = seal(material, key.name, port, wrapping_key.alias or wrapping_key.name)
        del material
        loc = urlparse(key.escrow.location)
        _bucket(s3, loc.netloc, region)
        s3.put_object(Bucket=loc.netloc, Key=loc.path.lstrip("/"), Body=envelope)
        out.append(f"imported material of {key.name}, escrow at {key.escrow.location}")
    return out
