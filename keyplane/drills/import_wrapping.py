"""Wrapping key material for import into AWS KMS (GetParametersForImport, ImportKeyMaterial).

AWS KMS takes imported material only encrypted ("wrapped") under the RSA public key that
GetParametersForImport returns, with the wrapping algorithm named in that call:

- RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256: the material itself, RSAES-OAEP with MGF1 of the
  same hash and an empty label. It holds at most (modulus bytes - 2 * hash bytes - 2)
  bytes: 190 under RSA_2048 with SHA-256. So never an RSA private key (PKCS#8 DER:
  ~1,218 bytes for RSA-2048, ~2,374 for RSA-4096), and not ECC_NIST_P521 (241 bytes)
  under RSA_2048; AWS allows these for every kind of material but RSA private keys.
- RSA_AES_KEY_WRAP_SHA_1 / RSA_AES_KEY_WRAP_SHA_256 (PKCS #11 CKM_RSA_AES_KEY_WRAP): a
  fresh 256-bit AES key, RSAES-OAEP-encrypted with that hash, followed by the material
  wrapped under that AES key by AES key wrap with padding (RFC 5649); EncryptedKeyMaterial
  is the two concatenated. AWS allows these for RSA and ECC private keys only.

Wrapping key specs are RSA_2048, RSA_3072 and RSA_4096 (SM2 only in China Regions); AWS
asks for the longest that is practical. `import_wrapping(key_spec)` picks keyplane's
choice: always RSA_4096; RSA_AES_KEY_WRAP_SHA_256 for RSA material, RSAES_OAEP_SHA_256 for
symmetric, HMAC and ECC material (small enough to wrap directly).

Material is bytes in memory only: never logged, never part of an error message (its length
may be).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

# wrapping algorithm -> (hash of RSAES-OAEP, whether the material goes under an AES key)
WRAPPING_ALGORITHMS: dict[str, tuple[type[hashes.HashAlgorithm], bool]] = {
    "RSAES_OAEP_SHA_1": (hashes.SHA1, False),
    "RSAES_OAEP_SHA_256": (hashes.SHA256, False),
    "RSA_AES_KEY_WRAP_SHA_1": (hashes.SHA1, True),
    "RSA_AES_KEY_WRAP_SHA_256": (hashes.SHA256, True),
}
WRAPPING_KEY_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
AES_KEY_BYTES = 32  # AWS: "a 256-bit AES symmetric key"


class WrappingError(ValueError):
    """Material that cannot be wrapped as asked (the message never holds the material)."""


def oaep(algorithm: str) -> padding.OAEP:
    """The RSAES-OAEP padding a wrapping algorithm uses (MGF1 with the same hash, no label)."""
    hash_cls, _ = WRAPPING_ALGORITHMS[algorithm]
    return padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=None)


def oaep_capacity(algorithm: str, wrapping_key_spec: str) -> int:
    """The most bytes RSAES-OAEP of `algorithm` encrypts under a `wrapping_key_spec` key."""
    hash_cls, _ = WRAPPING_ALGORITHMS[algorithm]
    return WRAPPING_KEY_BITS[wrapping_key_spec] // 8 - 2 * hash_cls().digest_size - 2


@dataclass(frozen=True)
class ImportWrapping:
    """A wrapping algorithm and wrapping key spec, as GetParametersForImport takes them."""

    algorithm: str
    wrapping_key_spec: str

    def request(self) -> dict[str, str]:
        """The GetParametersForImport arguments naming this wrapping."""
        return {"WrappingAlgorithm": self.algorithm, "WrappingKeySpec": self.wrapping_key_spec}

    def wrap(self, material: bytes, public_key: bytes) -> bytes:
        """EncryptedKeyMaterial for ImportKeyMaterial: `material` wrapped under the DER
        public key GetParametersForImport returned; WrappingError when it cannot be."""
        if self.algorithm not in WRAPPING_ALGORITHMS:
            raise WrappingError(f"unsupported wrapping algorithm {self.algorithm}")
        bits = WRAPPING_KEY_BITS.get(self.wrapping_key_spec)
        if bits is None:
            raise WrappingError(f"unsupported wrapping key spec {self.wrapping_key_spec}")
        try:
            key = serialization.load_der_public_key(public_key)
        except ValueError:
            raise WrappingError("the wrapping public key is not a DER public key") from None
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size != bits:
            raise WrappingError(f"the wrapping public key is not a {self.wrapping_key_spec} key")
        if not material:
            raise WrappingError("no key material to wrap")
        _, with_aes = WRAPPING_ALGORITHMS[self.algorithm]
        if not with_aes:
            room = oaep_capacity(self.algorithm, self.wrapping_key_spec)
            if len(material) > room:
                raise WrappingError(
                    f"{len(material)} bytes of key material do not fit {self.algorithm} under "
                    f"{self.wrapping_key_spec} (at most {room}); use an RSA_AES_KEY_WRAP algorithm")
            return key.encrypt(material, oaep(self.algorithm))
        aes_key = os.urandom(AES_KEY_BYTES)  # one per import, never kept
        return key.encrypt(aes_key, oaep(self.algorithm)) + aes_key_wrap_with_padding(aes_key, material)


def import_wrapping(key_spec: str) -> ImportWrapping:
    """keyplane's wrapping for importing material of an AWS KMS `key_spec`: RSA_4096, with
    RSA_AES_KEY_WRAP_SHA_256 for RSA private keys and RSAES_OAEP_SHA_256 for symmetric, HMAC
    and ECC material; WrappingError for a key spec keyplane does not import."""
    if key_spec in ("RSA_2048", "RSA_3072", "RSA_4096"):
        return ImportWrapping("RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
    if key_spec == "SYMMETRIC_DEFAULT" or key_spec.startswith(("HMAC_", "ECC_")):
        return ImportWrapping("RSAES_OAEP_SHA_256", "RSA_4096")
    raise WrappingError(f"keyplane does not import key material of key spec {key_spec}")
