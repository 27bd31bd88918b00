"""Helpers for the certificate-inventory tests: real X.509 certificates made with
`cryptography`, signed by a local CA, for the public keys the sandbox's KMSs hold; and
edited copies of the csr tests' applied estate (`tests.certs.support`).

`keyplane certs` reads the inventory and the clouds, never the synthesized stacks, so a
test may change dates, owners and `certificates` in its copy of the inventory freely while
the keys in the sandbox stay those the stacks created (tags and generations unchanged).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keyplane.audit.evidence import DrillResult, LocalEvidenceStore
from keyplane.certs.identity import fingerprint
from keyplane.drills.crypto import load_public_key
from keyplane.sandbox.server import Sandbox
from tests.certs.support import Applied
from tests.sandbox.helpers import aws, gcp

LAB_REGION = "eu-west-1"
SHOP_REGION = "us-east-1"


def utc(day: str) -> dt.datetime:
    """Midnight UTC of an ISO date."""
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


class LocalCa:
    """A CA whose key lives in memory: the test's stand-in for whatever signs certificates."""

    def __init__(self, name: str = "keyplane test ca") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = self.issue(self.key.public_key(), name, now - dt.timedelta(days=1),
                               now + dt.timedelta(days=3650), is_ca=True, self_signed=True)

    def issue(self, public_key: Any, subject: str, not_before: dt.datetime,
              not_after: dt.datetime, *, is_ca: bool = False, self_signed: bool = False
              ) -> x509.Certificate:
        """A certificate for `public_key` (a cryptography key or DER SubjectPublicKeyInfo)."""
        if isinstance(public_key, bytes):
            public_key = load_public_key(public_key)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(self.name if not self_signed else x509.Name(
                       [x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None),
                                  critical=True))
        return builder.sign(self.key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    """PEM of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def foreign_key() -> ec.EllipticCurvePrivateKey:
    """A key no KMS holds: what a certificate made on a laptop binds."""
    return ec.generate_private_key(ec.SECP256R1())


def kms_key(sb: Sandbox, account: str, region: str, name: str, generation: int) -> str:
    """The ARN of the KMS key tagged as `name@g<generation>`."""
    kms = aws(sb, account, "kms", region)
    for page in kms.get_paginator("list_keys").paginate():
        for k in page["Keys"]:
            tags = {t["TagKey"]: t["TagValue"]
                    for t in kms.list_resource_tags(KeyId=k["KeyId"])["Tags"]}
            if tags.get("keyplane:key") == name and tags.get("keyplane:generation") == \
                    str(generation):
                return str(kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["Arn"])
    raise AssertionError(f"no key tagged {name}@g{generation} in {account} {region}")


def kms_public_key(sb: Sandbox, account: str, region: str, name: str, generation: int) -> bytes:
    """GetPublicKey of `name@gN`; a disabled key is enabled for the call and disabled again
    (as if its public key had been read while it was in use)."""
    kms = aws(sb, account, "kms", region)
    key_id = kms_key(sb, account, region, name, generation).rsplit("/", 1)[1]
    state = kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
    if state == "Disabled":
        kms.enable_key(KeyId=key_id)
    try:
        return bytes(kms.get_public_key(KeyId=key_id)["PublicKey"])
    finally:
        if state == "Disabled":
            kms.disable_key(KeyId=key_id)


def gcp_public_key(sb: Sandbox, project: str, name: str, version: int = 1) -> bytes:
    """GetPublicKey of version `version` of the lab's crypto key `name` (DER)."""
    client = gcp(sb)
    out = client.get_public_key(request={
        "name": f"projects/{project}/locations/europe-west1/keyRings/keyplane-lab/cryptoKeys/"
                f"{name}/cryptoKeyVersions/{version}"})
    return load_public_key(out.pem.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def record_canary(evidence: Path, env: str, key: str, generation: int, public_key: bytes,
                  when: str = "2025-05-02T03:00:00Z") -> None:
    """A passing sign canary record of `key@gN` with its public key's fingerprint, as
    `keyplane drill` writes it."""
    LocalEvidenceStore(evidence).put(DrillResult(
        run_id=f"r-{key}-{generation}", environment=env, kind="sign-canary", key=key,
        generation=generation, tier="non-production", started_at=when, ended_at=when,
        outcome="PASSED", reason="signed and verified", identity="arn:aws:iam::1:role/ci",
        details={"public_key_sha256": fingerprint(public_key)}))


def edit_env(applied: Applied, tmp: Path, env: str,
             edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the applied estate's environments directory with `env.yaml` edited (as
    data), inside `tmp/repo` (a directory with `.git`: the repository certificate paths must
    stay in). Returns the environments directory."""
    repo = tmp / "repo"
    (repo / ".git").mkdir(parents=True, exist_ok=True)
    envs = repo / "environments"
    if envs.exists():
        shutil.rmtree(envs)
    shutil.copytree(applied.envs, envs)
    path = envs / f"{env}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["evidence_location"] = str(tmp / "evidence" / env)
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return envs


def key_of(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The key `name` of an environment document."""
    return next(k for k in data["keys"] if k["name"] == name)
