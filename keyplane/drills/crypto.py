"""Choosing signing algorithms from key specs, and verifying offline with `cryptography`.

The offline check is independent of the KMS: the public key comes from GetPublicKey,
the math from `cryptography`. A signature the API accepts but the math rejects (or the
reverse) is an integrity alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

_HASH = {"SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512,
         "SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}


@dataclass(frozen=True)
class SigningAlgorithm:
    """A signing algorithm as the cloud names it, and what it means."""

    name: str  # e.g. ECDSA_SHA_384, RSASSA_PSS_SHA_256, RSA_SIGN_PKCS1_3072_SHA256
    scheme: str  # ECDSA | PSS | PKCS1
    hash_name: str  # SHA256 | SHA384 | SHA512

    def hash(self) -> hashes.HashAlgorithm:
        """The hash of the digest."""
        return _HASH[self.hash_name]()

    @property
    def digest_size(self) -> int:
        """Bytes of the digest the algorithm signs."""
        return self.hash().digest_size


# AWS KeySpec -> the algorithms the canary signs with (RSA: both paddings).
AWS_SIGNING: dict[str, tuple[SigningAlgorithm, ...]] = {
    "ECC_NIST_P256": (SigningAlgorithm("ECDSA_SHA_256", "ECDSA", "SHA256"),),
    "ECC_SECG_P256K1": (SigningAlgorithm("ECDSA_SHA_256", "ECDSA", "SHA256"),),
    "ECC_NIST_P384": (SigningAlgorithm("ECDSA_SHA_384", "ECDSA", "SHA384"),),
    "ECC_NIST_P521": (SigningAlgorithm("ECDSA_SHA_512", "ECDSA", "SHA512"),),
    **{f"RSA_{b}": (SigningAlgorithm("RSASSA_PSS_SHA_256", "PSS", "SHA256"),
                    SigningAlgorithm("RSASSA_PKCS1_V1_5_SHA_256", "PKCS1", "SHA256"))
       for b in (2048, 3072, 4096)},
}

AWS_MAC = {"HMAC_224": "HMAC_SHA_224", "HMAC_256": "HMAC_SHA_256", "HMAC_384": "HMAC_SHA_384",
           "HMAC_512": "HMAC_SHA_512"}


def signing_algorithms(cloud: str, spec: str) -> tuple[SigningAlgorithm, ...]:
    """The algorithms a canary signs with for `spec`; () when keyplane cannot verify offline."""
    if cloud == "aws":
        return AWS_SIGNING.get(spec, ())
    if spec.startswith("EC_SIGN_"):
        return (SigningAlgorithm(spec, "ECDSA", spec.rsplit("_", 1)[-1]),)
    if spec.startswith("RSA_SIGN_PSS_"):
        return (SigningAlgorithm(spec, "PSS", spec.rsplit("_", 1)[-1]),)
    if spec.startswith("RSA_SIGN_PKCS1_"):
        return (SigningAlgorithm(spec, "PKCS1", spec.rsplit("_", 1)[-1]),)
    return ()


def load_public_key(data: bytes) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A public key from DER SubjectPublicKeyInfo or PEM."""
    key = (serialization.load_pem_public_key(data) if data.lstrip().startswith(b"-----")
           else serialization.load_der_public_key(data))
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise ValueError(f"unsupported public key type {type(key).__name__}")
    return key


def public_der(data: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key given as DER or PEM (for comparing)."""
    return load_public_key(data).public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_offline(public_key: bytes, alg: SigningAlgorithm, digest: bytes,
                   signature: bytes) -> bool:
    """Whether `signature` over `digest` verifies with the public key (PSS salt = digest length,
    as both clouds sign)."""
    key = load_public_key(public_key)
    prehashed = utils.Prehashed(alg.hash())
    try:
        if alg.scheme == "ECDSA":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return False
            key.verify(signature, digest, ec.ECDSA(prehashed))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(alg.hash()), salt_length=padding.PSS.DIGEST_LENGTH)
                if alg.scheme == "PSS" else padding.PKCS1v15())
            key.verify(signature, digest, pad, prehashed)
    except InvalidSignature:
        return False
    return True


def sign_locally(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
                 alg: SigningAlgorithm, digest: bytes) -> bytes:
    """Sign `digest` with an in-memory private key (escrow drill)."""
    prehashed = utils.Prehashed(alg.hash())
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(digest, ec.ECDSA(prehashed))
    pad: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(alg.hash()), salt_length=padding.PSS.DIGEST_LENGTH)
        if alg.scheme == "PSS" else padding.PKCS1v15())
    return private_key.sign(digest, pad, prehashed)
