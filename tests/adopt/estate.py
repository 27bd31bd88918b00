"""An account keyplane does not manage yet, made directly with boto3 in the sandbox.

What `keyplane adopt` meets in practice: keys of several specs made by hand or by other
tooling, one multi-Region key with a replica, one with imported material, one in a CloudHSM
custom key store named by its owner (not `keyplane-<env>`), aliases in both Regions, tags
of the owners, and a keyplane role left over from an earlier attempt.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import aws

HOME, REPLICA = "us-east-1", "us-west-2"
SUBNETS = ("subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788")


def environment_yaml(name: str, account: str) -> str:
    """A non-production environment with no keys yet: where the adopted keys go. Its
    `aws.cloudhsm` section is keyplane's own cluster (the custom-key-store key needs one)."""
    return textwrap.dedent(f"""\
        # {name}: the legacy account, being brought under keyplane
        name: {name}
        kind: non-production
        aws:
          account_id: "{account}"
          region: {HOME}
          replica_regions: [{REPLICA}]   # read for the multi-region key's replica
          cloudhsm:
            hsms:
              - availability_zone: us-east-1a
                subnet_id: {SUBNETS[0]}
              - availability_zone: us-east-1b
                subnet_id: {SUBNETS[1]}
            backup_retention_in_days: 365
            key_store_password_ssm_parameter: /keyplane/{name}/cloudhsm/kmsuser-password
            trust_anchor_certificate_ssm_parameter: /keyplane/{name}/cloudhsm/customer-ca-certificate
        principals:
          key_admins:
            aws: [arn:aws:iam::{account}:role/admins]
          backup_operators:
            aws: [arn:aws:iam::{account}:role/backup]
          auditors:
            aws: [arn:aws:iam::{account}:role/audit]
          break_glass:
            aws: [arn:aws:iam::{account}:role/break-glass]
        keys: []   # nothing managed yet
        """)


@dataclass(frozen=True)
class Legacy:
    """The ids of what was made."""

    rsa: str  # RSA_3072 SIGN_VERIFY, alias alias/legacy-release, tag team=release
    ecc: str  # ECC_NIST_P256 SIGN_VERIFY, no alias, tag sensitivity=ci
    data: str  # SYMMETRIC_DEFAULT, rotation off, alias alias/app-data, tag cost-center=42
    shared: str  # multi-Region primary + replica in us-west-2, alias alias/shared-data in both
    imported: str  # EXTERNAL with imported material, alias alias/legacy-import
    hsm: str  # in the custom key store `legacy-hsm`, alias alias/legacy-hsm
    store: str  # the custom key store's id

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key id."""
        return (self.rsa, self.ecc, self.data, self.shared, self.imported, self.hsm)


def _tags(**tags: str) -> list[dict[str, str]]:
    return [{"TagKey": k.replace("_", "-"), "TagValue": v} for k, v in tags.items()]


def _import_material(kms: Any, key_id: str) -> None:
    """Imported symmetric material, wrapped as AWS requires (RSAES_OAEP_SHA_256), never
    expiring (its ValidTo would otherwise be part of the key's configuration)."""
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_3072")
    public = serialization.load_der_public_key(params["PublicKey"])
    blob = public.encrypt(os.urandom(32), padding.OAEP(  # type: ignore[union-attr]
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=blob,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")


def make_legacy_account(sb: Sandbox, account: str, env: str) -> Legacy:
    """Create the unmanaged keys (and the leftover keyplane role) with boto3."""
    kms = aws(sb, account, "kms", HOME)
    west = aws(sb, account, "kms", REPLICA)

    def key(**kw: Any) -> str:
        return str(kms.create_key(**kw)["KeyMetadata"]["KeyId"])

    rsa = key(KeySpec="RSA_3072", KeyUsage="SIGN_VERIFY", Description="release signing (2019)",
              Tags=_tags(team="release"))
    kms.create_alias(AliasName="alias/legacy-release", TargetKeyId=rsa)
    ecc = key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Tags=_tags(sensitivity="ci"))
    data = key(Description="application data", Tags=_tags(cost_center="42"))
    kms.create_alias(AliasName="alias/app-data", TargetKeyId=data)
    kms.create_alias(AliasName="alias/app-data-old", TargetKeyId=data)  # left alone
    shared = key(MultiRegion=True, Description="shared data")
    kms.replicate_key(KeyId=shared, ReplicaRegion=REPLICA)
    kms.create_alias(AliasName="alias/shared-data", TargetKeyId=shared)
    west.create_alias(AliasName="alias/shared-data", TargetKeyId=shared)
    imported = key(Origin="EXTERNAL", Description="imported from the old hsm")
    _import_material(kms, imported)
    kms.create_alias(AliasName="alias/legacy-import", TargetKeyId=imported)

    cluster = aws(sb, account, "cloudhsmv2", HOME).create_cluster(
        HsmType="hsm2m.medium", SubnetIds=list(SUBNETS))["Cluster"]["ClusterId"]
    store = kms.create_custom_key_store(CustomKeyStoreName="legacy-hsm", CloudHsmClusterId=cluster,
                                        KeyStorePassword="legacy-kmsuser-pw",
                                        TrustAnchorCertificate="legacy anchor")["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store)
    kms.describe_custom_key_stores(CustomKeyStoreId=store)  # connects at the next read
    hsm = key(CustomKeyStoreId=store, Origin="AWS_CLOUDHSM", Description="legacy hsm key")
    kms.create_alias(AliasName="alias/legacy-hsm", TargetKeyId=hsm)

    iam = aws(sb, account, "iam", HOME)
    iam.create_role(RoleName=f"keyplane-{env}-key-admin", AssumeRolePolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
        f'"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}'))
    iam.put_role_policy(RoleName=f"keyplane-{env}-key-admin", PolicyName="keyplane",
                        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
                                       '"Action":"kms:DescribeKey","Resource":"*"}]}')
    return Legacy(rsa=rsa, ecc=ecc, data=data, shared=shared, imported=imported, hsm=hsm,
                  store=store)


def write_environment(directory: Path, name: str, account: str) -> Path:
    """environments/<name>.yaml, with no keys."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(environment_yaml(name, account), encoding="utf-8")
    return path


def connect_keyplane_store(sb: Sandbox, env: Any) -> str:
    """What a deploy does before `<env>-aws` when the environment has CloudHSM-backed keys:
    keyplane's own cluster (here made directly, tagged as `<env>-aws-hsm` tags it; the sandbox
    activates a cluster made through the SDK at once) and `keyplane keystore connect`, which
    creates and connects the store `keyplane-<env>` the stack looks up. Its id."""
    from keyplane.cloud.aws.keystore import KeyStoreConnector, KeyStoreSpec
    from keyplane.desired.aws import plan_environment

    plan = plan_environment(env).cloudhsm
    assert plan is not None
    c = plan.connect
    account = env.aws.account_id
    aws(sb, account, "cloudhsmv2", HOME).create_cluster(
        HsmType="hsm2m.medium", SubnetIds=list(SUBNETS),
        TagList=[{"Key": k, "Value": v} for k, v in c.cluster_tags.items()])
    ssm = aws(sb, account, "ssm", HOME)
    ssm.put_parameter(Name=c.password_parameter, Type="SecureString", Value=os.urandom(9).hex())
    ssm.put_parameter(Name=c.trust_anchor_parameter, Type="SecureString", Value="anchor pem")
    outcome = KeyStoreConnector(
        lambda service: aws(sb, account, service, HOME),
        KeyStoreSpec(name=c.name, cluster_tags=c.cluster_tags, password_parameter=c.password_parameter,
                     trust_anchor_parameter=c.trust_anchor_parameter),
        sleep=lambda _: None).connect(poll_seconds=0.0, timeout_seconds=60.0)
    assert outcome.state == "CONNECTED", outcome
    return str(outcome.store_id)
