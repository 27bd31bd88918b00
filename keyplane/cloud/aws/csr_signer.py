"""The AWS KMS adapter of certificate requests: where aliases point, GetPublicKey, Sign.

The private key never leaves KMS: keyplane sends the digest of the request it encoded
(`MessageType=DIGEST`) and receives the signature. Failures become the one error tree
of cloud calls (`keyplane.cloudcall`); throttling is retried by botocore first, with the
run's explicit retry mode and attempts (`AwsConfig`).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keyplane.certs.csr import PublicKeyInfo
from keyplane.cloud.aws.drills import AwsKmsDrill, translate
from keyplane.cloud.aws.session import AwsClients
from keyplane.cloudcall import KeyMissingError
from keyplane.drills.ports import KeyTarget


def _call(operation: str, fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation) from None


class AwsKmsSigner:
    """Signs digests with one KMS key (by ARN, never by alias)."""

    def __init__(self, kms: Any, key_arn: str) -> None:
        self._kms = kms
        self.key_arn = key_arn

    def sign(self, digest: bytes, algorithm: str) -> bytes:
        """KMS Sign of a digest with `algorithm` (e.g. ECDSA_SHA_384, RSASSA_PSS_SHA_256)."""
        out = _call("Sign", self._kms.sign, KeyId=self.key_arn, Message=digest,
                    MessageType="DIGEST", SigningAlgorithm=algorithm)
        return bytes(out["Signature"])


class AwsCsrKms:
    """The KMS calls of one certificate request, in the environment's home Region."""

    cloud = "aws"

    def __init__(self, clients: AwsClients, region: str) -> None:
        self._kms = clients.client("kms", region)
        self._drill = AwsKmsDrill(clients, region)
        self.region = region

    def targets(self, key_name: str, alias: str | None) -> list[KeyTarget]:
        """The keys tagged as `key_name` and the key its alias points to, found as the sign
        canary finds them (one way to find a generation, not two)."""
        try:
            return self._drill.targets(key_name, alias, None)
        except (ClientError, BotoCoreError) as exc:  # the listing's paginators
            raise translate(exc, "ListKeys") from None

    def alias_target(self, alias: str) -> str | None:
        """The ARN of the key `alias` points to (DescribeKey); None when the alias is missing."""
        try:
            md = _call("DescribeKey", self._kms.describe_key, KeyId=alias)["KeyMetadata"]
        except KeyMissingError:
            return None
        return str(md["Arn"])

    def public_key(self, key_arn: str) -> PublicKeyInfo:
        """GetPublicKey: the DER SubjectPublicKeyInfo, spec, usage and signing algorithms."""
        out = _call("GetPublicKey", self._kms.get_public_key, KeyId=key_arn)
        return PublicKeyInfo(der=bytes(out["PublicKey"]),
                             spec=str(out.get("KeySpec") or out.get("CustomerMasterKeySpec", "")),
                             usage=str(out.get("KeyUsage", "")),
                             algorithms=tuple(out.get("SigningAlgorithms") or ()))

    def signer(self, key_arn: str) -> AwsKmsSigner:
        """The signer of the key `key_arn`."""
        return AwsKmsSigner(self._kms, key_arn)
