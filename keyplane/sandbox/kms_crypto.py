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
- GetParametersForImport / ImportKeyMaterial, for symmetric and asymmetric keys
  with origin EXTERNAL (moto has neither);
- the `CorruptSignature` fault: a valid Sign answer whose signature has one bit flipped.

It is a test bed and a playground, not AWS KMS.
"""

from __future__ import annotations

import base64
import os
import struct
import threading
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._imports: dict[str, rsa.RSAPrivateKey] = {}  # import token -> wrapping key

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

    def _import_params(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._key(account, region, p.get("KeyId", ""))
        if key.origin != "EXTERNAL":
            raise KmsAnswer("UnsupportedOperationException",
                            f"{key.arn} origin is {key.origin}, not EXTERNAL")
        wrapping = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = f"kp-import-{uuid.uuid4()}"
        with self._lock:
            self._imports[token] = wrapping
        der = wrapping.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"KeyId": key.arn, "ImportToken": base64.b64encode(token.encode()).decode(),
                "PublicKey": base64.b64encode(der).decode(), "ParametersValidTo": 4102444800}

    def _import(self, account: str, region: str, p: dict[str, Any]) -> dict[str, Any]:
        key = self._key(account, region, p.get("KeyId", ""))
        token = base64.b64decode(p.get("ImportToken", "")).decode("utf-8", "replace")
        with self._lock:
            wrapping = self._imports.pop(token, None)
        if wrapping is None:
            raise KmsAnswer("InvalidImportTokenException", "the import token is not valid")
        try:
            material = wrapping.decrypt(
                base64.b64decode(p.get("EncryptedKeyMaterial", "")),
                padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                             label=None))
        except ValueError:
            raise KmsAnswer("IncorrectKeyMaterialException",
                            "the key material cannot be unwrapped") from None
        if key.key_spec == "SYMMETRIC_DEFAULT":
            if len(material) != 32:
                raise KmsAnswer("IncorrectKeyMaterialException", "symmetric material must be "
                                f"32 bytes, got {len(material)}")
            key.key_material = material
        else:
            priv = serialization.load_der_private_key(material, password=None)
            expected = type(key.private_key.private_key)
            if not isinstance(priv, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)) or \
                    not isinstance(priv, tuple(c for c in (rsa.RSAPrivateKey,
                                                           ec.EllipticCurvePrivateKey)
                                               if issubclass(expected, c))):
                raise KmsAnswer("IncorrectKeyMaterialException",
                                f"the material does not fit key spec {key.key_spec}")
            key.private_key.private_key = priv
        key.key_state, key.enabled = "Enabled", True
        return {}
