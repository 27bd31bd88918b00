"""KMS cryptographic operations the sandbox answers itself, where moto is laxer than AWS.

moto (in the same process as the front) keeps the key material; this module uses
it to behave as AWS KMS does where keyplane's drills depend on it:

- key state: Sign, Verify, Encrypt, Decrypt, GenerateMac, VerifyMac, GetPublicKey and
  GenerateDataKey on a Disabled key raise DisabledException, on a key pending
  deletion or import KMSInvalidStateException (moto answers them);
- Sign/Verify honour `MessageType=DIGEST` (moto hashes the digest again) and use
  the PSS salt length AWS uses (the digest length);
- multi-Region keys: a ciphertext made in one Region decrypts with the replica in
  another (moto truncates the `mrk-` key id in its ciphertext);
- GetParametersForImport / ImportKeyMaterial, for symmetric, HMAC and asymmetric keys
  with origin EXTERNAL (moto has neither): the four wrapping algorithms (RSAES_OAEP_SHA_1/256,
  RSA_AES_KEY_WRAP_SHA_1/256) under RSA_2048/3072/4096 wrapping keys, refusing what AWS
  refuses with its error codes; import tokens valid 24 hours of the sandbox's clock;
- the `CorruptSignature` fault: a valid Sign answer whose signature has one bit flipped.

It is a test bed and a playground, not AWS KMS.
"""

from __future__ import annotations

import base64
import os
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

_HASHES = {"SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}
_MRK_MAGIC = b"KPMRK1"
_KEY_STATE_OPS = frozenset({"Sign", "Verify", "Encrypt", "Decrypt", "GenerateMac", "VerifyMac",
                            "GetPublicKey", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                            "ReEncrypt"})


class KmsAnswer(Exception):
    """An error answer of the sandbox's KMS: AWS error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _backend(account: str, region: str) -> Any:
    from moto.kms.models import kms_backends

    return kms_backends[account][region]


def _hash_of(algorithm: str) -> hashes.HashAlgorithm:
    for suffix, cls in _HASHES.items():
        if algorithm.endswith(suffix):
            return cls()
    raise KmsAnswer("ValidationException", f"unsupported signing algorithm {algorithm}")


class KmsCrypto:
    """The operations above, over moto's keys in the caller's account and Region."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock  # the sandbox's time: import tokens expire after 24 hours of it
        self._imports: dict[str, _ImportParams] = {}  # import token -> what it stands for

    def _key(self, account: str, region: str, key_id: str) -> Any:
        backend = _backend(account, region)
        try:
            return backend.keys[backend.any_id_to_key_id(key_id)]
        except Exception:
            raise KmsAnswer("NotFoundException", f"key '{key_id}' does not exist") from None

    @staticmethod
    def _check_state(key: Any) -> None:
        state = key.key_state
        if state == "Disabled":
            raise KmsAnswer("DisabledException", f"{key.arn} is disabled.")
        if state != "Enabled":
            raise KmsAnswer("KMSInvalidStateException", f"{key.arn} is {state.lower()}.")

    def handle(self, operation: str, account: str, region: str, p: dict[str, Any],
               corrupt: bool = False) -> dict[str, Any] | None:
        """Answer `operation`, or None to let moto answer it."""
        if operation == "GetParametersForImport":
            return self._import_params(account, region, p)
        if operation == "ImportKeyMaterial":
            return self._import(account, region, p)
        if operation not in _KEY_STATE_OPS:
            return None
        if operation == "Decrypt" and not p.get("KeyId"):
            blob = base64.b64decode(p.get("CiphertextBlob", ""))
            if blob.startswith(_MRK_MAGIC):
                return self._mrk_decrypt(account, region, p, blob)
            key_id = blob[:36].decode("ascii", "replace")
        else:
            key_id = p.get("KeyId", "")
        try:
            key = self._key(account, region, key_id)
        except KmsAnswer:
            return None  # moto says NotFound / InvalidCiphertext in its own words
        self._check_state(key)
        if operation in ("Sign", "Verify") and key.key_spec.startswith(("RSA_", "ECC_")):
            return self._sign_verify(operation, key, p, corrupt)
        if key.multi_region and operation == "Encrypt":
            return self._mrk_encrypt(key, p)
        if key.multi_region and operation == "Decrypt":
            return self._mrk_decrypt(account, region, p,
                                     base64.b64decode(p.get("CiphertextBlob", "")))
        return None

    # --- Sign / Verify --------------------------------------------------------------------------

    def _sign_verify(self, operation: str, key: Any, p: dict[str, Any], corrupt: bool
                     ) -> dict[str, Any]:
        algorithm = p.get("SigningAlgorithm", "")
        if algorithm not in (key.signing_algorithms or ()):
            raise KmsAnswer("KMSInvalidSigningAlgorithmException",
                            f"{algorithm} is not valid for {key.arn}")
        message = base64.b64decode(p.get("Message", ""))
        h = _hash_of(algorithm)
        if p.get("MessageType", "RAW") == "DIGEST":
            if len(message) != h.digest_size:
                raise KmsAnswer("ValidationException",
                                f"digest length {len(message)} does not match {algorithm}")
            chosen: Any = utils.Prehashed(h)
        else:
            chosen = h
        priv = key.private_key.private_key
        if isinstance(priv, rsa.RSAPrivateKey):
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(_hash_of(algorithm)),
                            salt_length=padding.PSS.DIGEST_LENGTH)
                if "PSS" in algorithm else padding.PKCS1v15())
        if operation == "Sign":
            if isinstance(priv, rsa.RSAPrivateKey):
                sig = priv.sign(message, pad, chosen)
            else:
                sig = priv.sign(message, ec.ECDSA(chosen))
            if corrupt:
                sig = sig[:-1] + bytes([sig[-1] ^ 0x01])
            return {"KeyId": key.arn, "Signature": base64.b64encode(sig).decode(),
                    "SigningAlgorithm": algorithm}
        signature = base64.b64decode(p.get("Signature", ""))
        try:
            if isinstance(priv, rsa.RSAPrivateKey):
                priv.public_key().verify(signature, message, pad, chosen)
            else:
                priv.public_key().verify(signature, message, ec.ECDSA(chosen))
        except InvalidSignature:
            raise KmsAnswer("KMSInvalidSignatureException", "signature is not valid") from None
        return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm}

    # --- multi-Region encrypt / decrypt ------------------------------------------------------------

    @staticmethod
    def _aad(context: dict[str, str] | None) -> bytes:
        return b"".join(f"{k}={v};".encode() for k, v in sorted((context or {}).items()))

    def _mrk_encrypt(self, key: Any, p: dict[str, Any]) -> dict[str, Any]:
        plaintext = base64.b64decode(p.get("Plaintext", ""))
        nonce = os.urandom(12)
        ct = AESGCM(key.key_material).encrypt(nonce, plaintext, self._aad(p.get("EncryptionContext")))
        kid = key.id.encode()
        blob = _MRK_MAGIC + struct.pack(">H", len(kid)) + kid + nonce + ct
        return {"CiphertextBlob": base64.b64encode(blob).decode(), "KeyId": key.arn,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    def _mrk_decrypt(self, account: str, region: str, p: dict[str, Any], blob: bytes
                     ) -> dict[str, Any]:
        if not blob.startswith(_MRK_MAGIC):
            raise KmsAnswer("InvalidCiphertextException", "")
        (n,) = struct.unpack(">H", blob[6:8])
        kid = blob[8:8 + n].decode()
        key = self._key(account, region, kid)  # the replica in this Region has the same id
        self._check_state(key)
        if p.get("KeyId") and self._key(account, region, p["KeyId"]).id != key.id:
            raise KmsAnswer("IncorrectKeyException", "the ciphertext was not made with this key")
        rest = blob[8 + n:]
        try:
            plaintext = AESGCM(key.key_material).decrypt(
                rest[:12], rest[12:], self._aad(p.get("EncryptionContext")))
        except Exception:
            raise KmsAnswer("InvalidCiphertextException", "") from None
        return {"Plaintext": base64.b64encode(plaintext).decode(), "KeyId": key.arn,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}

    # --- import -------------------------------------------------------------------------------
    #
    # GetParametersForImport answers a fresh RSA wrapping key of the asked spec and a token
    # bound to the key, the wrapping algorithm and 24 hours; ImportKeyMaterial unwraps with
    # them (RSAES-OAEP, or for RSA_AES_KEY_WRAP: OAEP of a 256-bit AES key || RFC 5649 AES key
    # wrap with padding of the material) and checks the material against the key spec. Values
    # outside the API's enums answer ValidationException; values KMS has but will not use for
    # this key (RSAES_OAEP for an RSA private key, RSA_AES for symmetric or HMAC material,
    # RSA_2048 with RSAES_OAEP for ECC_NIST_P521, the deprecated RSAES_PKCS1_V1_5, SM2 outside
    # China Regions) UnsupportedOperationException; material that does not unwrap
    # InvalidCiphertextException; material that unwraps but does not fit the key spec
    # IncorrectKeyMaterialException.

    def _import_params(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        algorithm, spec = p.get("WrappingAlgorithm"), p.get("WrappingKeySpec")
        _enum("wrappingAlgorithm", algorithm, _WRAPPING_ALGORITHM_VALUES)
        _enum("wrappingKeySpec", spec, _WRAPPING_KEY_SPEC_VALUES)
        assert algorithm is not None and spec is not None
        key = self._key(account, region, p.get("KeyId", ""))
        if key.origin != "EXTERNAL":
            raise KmsAnswer("UnsupportedOperationException",
                            f"{key.arn} origin is {key.origin}, not EXTERNAL")
        if key.key_state in ("PendingDeletion", "PendingReplicaDeletion"):
            raise KmsAnswer("KMSInvalidStateException", f"{key.arn} is {key.key_state.lower()}.")
        refused = _refusal(key.key_spec, algorithm, spec, region)
        if refused:
            raise KmsAnswer("UnsupportedOperationException", f"{refused} ({key.arn})")
        wrapping = rsa.generate_private_key(public_exponent=65537, key_size=_WRAPPING_KEY_BITS[spec])
        token = f"kp-import-{uuid.uuid4()}"
        valid_to = self._clock() + IMPORT_TOKEN_SECONDS
        with self._lock:
            now = self._clock()
            # forget tokens a day after they expired (until then they answer "expired")
            for old in [t for t, imp in self._imports.items()
                        if imp.valid_to + IMPORT_TOKEN_SECONDS < now]:
                del self._imports[old]
            self._imports[token] = _ImportParams(key.id, algorithm, wrapping, valid_to)
        der = wrapping.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"KeyId": key.arn, "ImportToken": base64.b64encode(token.encode()).decode(),
                "PublicKey": base64.b64encode(der).decode(), "ParametersValidTo": valid_to}

    def _import(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._key(account, region, p.get("KeyId", ""))
        if key.key_state in ("PendingDeletion", "PendingReplicaDeletion"):
            raise KmsAnswer("KMSInvalidStateException", f"{key.arn} is {key.key_state.lower()}.")
        try:
            token = base64.b64decode(p.get("ImportToken", ""), validate=True).decode("ascii")
        except ValueError:
            token = ""
        with self._lock:
            params = self._imports.get(token)
        if params is None or params.key_id != key.id:
            raise KmsAnswer("InvalidImportTokenException",
                            f"the import token is not valid for {key.arn}")
        if self._clock() > params.valid_to:
            raise KmsAnswer("ExpiredImportTokenException",
                            "the import token expired; call GetParametersForImport again")
        try:
            blob = base64.b64decode(p.get("EncryptedKeyMaterial", ""), validate=True)
        except ValueError:
            blob = b""
        material = _unwrap(params, blob)
        if material is None:
            raise KmsAnswer("InvalidCiphertextException",
                            f"the key material cannot be decrypted with the wrapping key and "
                            f"{params.algorithm}")
        wrong = _material_mismatch(key.key_spec, material)
        if wrong:
            raise KmsAnswer("IncorrectKeyMaterialException", f"{wrong} ({key.arn})")
        if key.key_spec == "SYMMETRIC_DEFAULT" or key.key_spec.startswith("HMAC_"):
            key.key_material = material
        else:
            key.private_key.private_key = serialization.load_der_private_key(material, password=None)
        del material
        key.key_state, key.enabled = "Enabled", True
        return {}


# --- import: AWS's rules --------------------------------------------------------------------------

IMPORT_TOKEN_SECONDS = 24 * 3600  # "Each wrapping public key and import token set is valid for 24 hours"
_WRAPPING_ALGORITHM_VALUES = frozenset({"RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256",
                                        "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256",
                                        "SM2PKE"})
_WRAPPING_KEY_SPEC_VALUES = frozenset({"RSA_2048", "RSA_3072", "RSA_4096", "SM2"})
_WRAPPING_KEY_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_WRAPPING_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_SHA_1": hashes.SHA1, "RSA_AES_KEY_WRAP_SHA_256": hashes.SHA256}
_HMAC_MATERIAL_BYTES = {"HMAC_224": (28, 64), "HMAC_256": (32, 64), "HMAC_384": (48, 128),
                        "HMAC_512": (64, 128)}
_RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_CURVE_NAMES = {"ECC_NIST_P256": "secp256r1", "ECC_NIST_P384": "secp384r1",
                "ECC_NIST_P521": "secp521r1", "ECC_SECG_P256K1": "secp256k1"}


@dataclass(frozen=True)
class _ImportParams:
    """What an import token stands for: the key, the wrapping algorithm, the wrapping key."""

    key_id: str
    algorithm: str
    wrapping: rsa.RSAPrivateKey
    valid_to: float


def _enum(member: str, value: Any, allowed: frozenset[str]) -> None:
    """ValidationException, in AWS's words, for a value outside an API enum."""
    if value is None:
        raise KmsAnswer("ValidationException", f"1 validation error detected: Value null at "
                        f"'{member}' failed to satisfy constraint: Member must not be null")
    if value not in allowed:
        raise KmsAnswer("ValidationException", f"1 validation error detected: Value '{value}' at "
                        f"'{member}' failed to satisfy constraint: Member must satisfy enum value "
                        f"set: [{', '.join(sorted(allowed))}]")


def _refusal(key_spec: str, algorithm: str, wrapping_spec: str, region: str) -> str | None:
    """Why KMS will not import material of `key_spec` wrapped so, or None when it will."""
    if algorithm == "RSAES_PKCS1_V1_5":
        return "RSAES_PKCS1_V1_5 is no longer supported (since October 10, 2023)"
    if algorithm == "SM2PKE" or wrapping_spec == "SM2" or key_spec == "SM2":
        if not region.startswith("cn-"):
            return "SM2 wrapping is supported only in China Regions"
        return "SM2 wrapping is not emulated by the sandbox"
    if key_spec not in ("SYMMETRIC_DEFAULT", *_HMAC_MATERIAL_BYTES, *_RSA_BITS, *_CURVE_NAMES):
        return f"key material cannot be imported into a {key_spec} key"
    if algorithm.startswith("RSA_AES_KEY_WRAP_"):
        if not key_spec.startswith(("RSA_", "ECC_")):
            return f"{algorithm} wraps only RSA and ECC key material, not {key_spec}"
        return None
    if key_spec.startswith("RSA_"):
        return f"an RSA private key ({key_spec}) must be wrapped with an RSA_AES_KEY_WRAP algorithm"
    if key_spec == "ECC_NIST_P521" and wrapping_spec == "RSA_2048":
        return f"{algorithm} with an RSA_2048 wrapping key cannot wrap ECC_NIST_P521 key material"
    return None


def _oaep(algorithm: str) -> padding.OAEP:
    h = _WRAPPING_HASH[algorithm]
    return padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)


def _unwrap(params: _ImportParams, blob: bytes) -> bytes | None:
    """The material in EncryptedKeyMaterial, or None when it does not unwrap."""
    size = params.wrapping.key_size // 8
    try:
        if not params.algorithm.startswith("RSA_AES_KEY_WRAP_"):
            return params.wrapping.decrypt(blob, _oaep(params.algorithm))
        if len(blob) <= size:
            return None
        aes_key = params.wrapping.decrypt(blob[:size], _oaep(params.algorithm))
        if len(aes_key) != 32:  # AWS: a 256-bit AES key
            return None
        return aes_key_unwrap_with_padding(aes_key, blob[size:])
    except (ValueError, InvalidUnwrap):
        return None


def _material_mismatch(key_spec: str, material: bytes) -> str | None:
    """Why unwrapped material does not fit `key_spec`, or None when it does."""
    if key_spec == "SYMMETRIC_DEFAULT":
        return None if len(material) == 32 else \
            f"symmetric key material must be 32 bytes, got {len(material)}"
    if key_spec in _HMAC_MATERIAL_BYTES:
        low, high = _HMAC_MATERIAL_BYTES[key_spec]
        return None if low <= len(material) <= high else \
            f"{key_spec} key material must be {low} to {high} bytes, got {len(material)}"
    try:
        priv = serialization.load_der_private_key(material, password=None)
    except (ValueError, TypeError):
        return f"the key material is not a DER PKCS #8 private key for {key_spec}"
    if key_spec in _RSA_BITS:
        if not isinstance(priv, rsa.RSAPrivateKey) or priv.key_size != _RSA_BITS[key_spec]:
            return f"the key material is not an {key_spec} private key"
        return None
    if not isinstance(priv, ec.EllipticCurvePrivateKey) or \
            priv.curve.name != _CURVE_NAMES.get(key_spec):
        return f"the key material is not an {key_spec} private key"
    return None
