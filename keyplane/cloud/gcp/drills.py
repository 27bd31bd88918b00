"""The Cloud KMS adapter of restore drills: sign, public key, encrypt/decrypt, MAC.

Cloud KMS has no asymmetric Verify API (verification is done with the public key), so
`verify` answers None and the canary's offline check is the verification. Calls use
the run's Retry (RESOURCE_EXHAUSTED and UNAVAILABLE are retried before they become a
`Throttled` error).
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import kms_v1

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloudcall import (
    AccessDenied,
    CloudCallError,
    KeyMissingError,
    KeyStateError,
    Throttled,
)
from keyplane.drills.crypto import public_der
from keyplane.drills.ports import KeyTarget

_State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState


def translate(exc: Exception, operation: str) -> CloudCallError:
    """The drill ports' error for a google-api-core exception."""
    code = type(exc).__name__
    message = str(getattr(exc, "message", exc))[:300]
    if isinstance(exc, gexc.FailedPrecondition):
        return KeyStateError(operation, "FAILED_PRECONDITION", message)
    if isinstance(exc, gexc.NotFound):
        return KeyMissingError(operation, "NOT_FOUND", message)
    if isinstance(exc, (gexc.ResourceExhausted, gexc.ServiceUnavailable, gexc.DeadlineExceeded,
                        gexc.RetryError, gexc.InternalServerError)):
        return Throttled(operation, code, message)
    if isinstance(exc, (gexc.PermissionDenied, gexc.Unauthenticated)):
        return AccessDenied(operation, "PERMISSION_DENIED", message)
    return CloudCallError(operation, code, message)


def _aad(context: dict[str, str]) -> bytes:
    """Additional authenticated data from an encryption context, canonically."""
    return "".join(f"{k}={v};" for k, v in sorted(context.items())).encode()


class GcpKmsDrill:
    """Cloud KMS operations for drills."""

    cloud = "gcp"

    def __init__(self, client: Any, config: GcpConfig) -> None:
        self._client = client
        self._config = config

    def _call(self, operation: str, method: str, request: dict[str, Any]) -> Any:
        try:
            return getattr(self._client, method)(request=request, retry=self._config.retry(),
                                                 timeout=self._config.call_timeout)
        except gexc.GoogleAPICallError as exc:
            raise translate(exc, operation) from None
        except gexc.RetryError as exc:
            raise translate(exc, operation) from None

    def targets(self, key_name: str, alias: str | None, crypto_key: str | None
                ) -> list[KeyTarget]:
        """The live versions of the crypto key; the primary (or newest enabled) is current."""
        if crypto_key is None:
            return []
        key = self._call("GetCryptoKey", "get_crypto_key", {"name": crypto_key})
        versions = []
        pager = self._call("ListCryptoKeyVersions", "list_crypto_key_versions",
                           {"parent": crypto_key})
        try:
            versions = [v for v in pager if v.state in (_State.ENABLED, _State.DISABLED)]
        except gexc.GoogleAPICallError as exc:
            raise translate(exc, "ListCryptoKeyVersions") from None
        if not versions:
            return []
        enabled = [v for v in versions if v.state == _State.ENABLED]
        current = key.primary.name if key.primary and key.primary.name else (
            enabled[-1].name if enabled else versions[-1].name)
        out = []
        for v in sorted(versions, key=lambda v: int(v.name.rsplit("/", 1)[1]), reverse=True):
            out.append(KeyTarget(key=key_name, generation=int(v.name.rsplit("/", 1)[1]),
                                 ref=v.name, state=v.state.name, spec=v.algorithm.name,
                                 current=v.name == current))
        return sorted(out, key=lambda t: not t.current)

    def describe(self, ref: str) -> KeyTarget:
        """One version by name."""
        v = self._call("GetCryptoKeyVersion", "get_crypto_key_version", {"name": ref})
        return KeyTarget(key=ref.split("/cryptoKeys/")[1].split("/")[0], generation=None,
                         ref=v.name, state=v.state.name, spec=v.algorithm.name, current=True)

    def sign(self, ref: str, digest: bytes, algorithm: str) -> bytes:
        """AsymmetricSign of a digest."""
        field = {32: "sha256", 48: "sha384", 64: "sha512"}[len(digest)]
        out = self._call("AsymmetricSign", "asymmetric_sign",
                         {"name": ref, "digest": {field: digest}})
        return bytes(out.signature)

    def verify(self, ref: str, digest: bytes, signature: bytes, algorithm: str) -> bool | None:
        """None: Cloud KMS verifies asymmetric signatures only with the public key."""
        return None

    def public_key(self, ref: str) -> bytes:
        """GetPublicKey, as DER."""
        out = self._call("GetPublicKey", "get_public_key", {"name": ref})
        return public_der(out.pem.encode())

    def encrypt(self, ref: str, plaintext: bytes, context: dict[str, str]) -> bytes:
        """Encrypt with the context as additional authenticated data (ref: the crypto key)."""
        name = ref.split("/cryptoKeyVersions/")[0]
        out = self._call("Encrypt", "encrypt", {"name": name, "plaintext": plaintext,
                                                "additional_authenticated_data": _aad(context)})
        return bytes(out.ciphertext)

    def decrypt(self, ref: str, ciphertext: bytes, context: dict[str, str]) -> bytes:
        """Decrypt with the same additional authenticated data."""
        name = ref.split("/cryptoKeyVersions/")[0]
        try:
            out = self._client.decrypt(
                request={"name": name, "ciphertext": ciphertext,
                         "additional_authenticated_data": _aad(context)},
                retry=self._config.retry(), timeout=self._config.call_timeout)
        except gexc.InvalidArgument as exc:
            raise CloudCallError("Decrypt", "INVALID_ARGUMENT", str(exc.message)[:300]) from None
        except gexc.GoogleAPICallError as exc:
            raise translate(exc, "Decrypt") from None
        return bytes(out.plaintext)

    def generate_mac(self, ref: str, message: bytes, algorithm: str) -> bytes:
        """MacSign."""
        return bytes(self._call("MacSign", "mac_sign", {"name": ref, "data": message}).mac)

    def verify_mac(self, ref: str, message: bytes, mac: bytes, algorithm: str) -> bool:
        """MacVerify."""
        out = self._call("MacVerify", "mac_verify", {"name": ref, "data": message, "mac": mac})
        return bool(out.success)


def fingerprint(data: bytes) -> str:
    """A short SHA-256 of public data (for logs)."""
    return hashlib.sha256(data).hexdigest()[:16]
