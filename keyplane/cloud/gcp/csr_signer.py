"""The Cloud KMS adapter of certificate requests: GetPublicKey and AsymmetricSign.

The private key never leaves Cloud KMS: keyplane sends the digest of the request it
encoded and receives the signature. Each answer must name the version asked for (Cloud
KMS's own integrity advice); the finished request is then verified offline with the
public key before anything is written. Calls use the run's Retry (RESOURCE_EXHAUSTED and
UNAVAILABLE are retried before they become a `Throttled` error).
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions as gexc

from keyplane.certs.csr import PublicKeyInfo
from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloud.gcp.drills import GcpKmsDrill, translate
from keyplane.cloudcall import CloudCallError
from keyplane.drills.crypto import public_der
from keyplane.drills.ports import KeyTarget

_DIGEST_FIELD = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}


def _call(client: Any, config: GcpConfig, operation: str, method: str,
          request: dict[str, Any]) -> Any:
    try:
        return getattr(client, method)(request=request, retry=config.retry(),
                                       timeout=config.call_timeout)
    except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
        raise translate(exc, operation) from None


def _same_version(operation: str, asked: str, answered: str) -> None:
    if answered and answered != asked:
        raise CloudCallError(operation, "WRONG_VERSION",
                             f"asked for {asked}, the answer is for {answered}")


class GcpKmsSigner:
    """Signs digests with one crypto key version."""

    def __init__(self, client: Any, config: GcpConfig, version: str) -> None:
        self._client = client
        self._config = config
        self.version = version

    def sign(self, digest: bytes, algorithm: str) -> bytes:
        """AsymmetricSign of a digest; `algorithm` is the version's own (e.g.
        EC_SIGN_P384_SHA384): it names which digest field carries the hash."""
        field = _DIGEST_FIELD[algorithm.rsplit("_", 1)[-1]]
        out = _call(self._client, self._config, "AsymmetricSign", "asymmetric_sign",
                    {"name": self.version, "digest": {field: digest}})
        _same_version("AsymmetricSign", self.version, str(out.name))
        return bytes(out.signature)


class GcpCsrKms:
    """The Cloud KMS calls of one certificate request."""

    cloud = "gcp"

    def __init__(self, client: Any, config: GcpConfig) -> None:
        self._client = client
        self._config = config
        self._drill = GcpKmsDrill(client, config)

    def targets(self, key_name: str, crypto_key: str) -> list[KeyTarget]:
        """The live versions of the crypto key, found as the sign canary finds them."""
        try:
            return self._drill.targets(key_name, None, crypto_key)
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise translate(exc, "ListCryptoKeyVersions") from None

    def public_key(self, version: str) -> PublicKeyInfo:
        """GetPublicKey (PEM, re-encoded as DER) and the crypto key's purpose (GetCryptoKey)."""
        out = _call(self._client, self._config, "GetPublicKey", "get_public_key",
                    {"name": version})
        _same_version("GetPublicKey", version, str(out.name))
        key = _call(self._client, self._config, "GetCryptoKey", "get_crypto_key",
                    {"name": version.split("/cryptoKeyVersions/")[0]})
        return PublicKeyInfo(der=public_der(out.pem.encode()), spec=out.algorithm.name,
                             usage=key.purpose.name, algorithms=(out.algorithm.name,))

    def signer(self, version: str) -> GcpKmsSigner:
        """The signer of the crypto key version `version`."""
        return GcpKmsSigner(self._client, self._config, version)
