"""The sandbox's KMS import (GetParametersForImport / ImportKeyMaterial) behaves as AWS KMS.

Accepted: RSAES_OAEP_SHA_1/256 for symmetric, HMAC and ECC material; RSA_AES_KEY_WRAP_SHA_1/256
for RSA and ECC material; under RSA_2048, RSA_3072 or RSA_4096 wrapping keys, except
RSAES_OAEP with RSA_2048 for ECC_NIST_P521. Refused as AWS documents it: values outside the
API's enums (ValidationException), combinations KMS will not use (UnsupportedOperationException),
material that does not unwrap (InvalidCiphertextException), material that unwraps but does
not fit the key spec (IncorrectKeyMaterialException), a token of another key
(InvalidImportTokenException) or older than 24 hours (ExpiredImportTokenException).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from keyplane.drills.import_wrapping import ImportWrapping
from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import aws, start_sandbox

pytestmark = pytest.mark.integration
ACCT = "733333333333"
ALGORITHMS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1",
              "RSA_AES_KEY_WRAP_SHA_256")
WRAPPING_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")
_CURVES = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1,
           "ECC_NIST_P521": ec.SECP521R1, "ECC_SECG_P256K1": ec.SECP256K1}
_USAGE = {"SYMMETRIC_DEFAULT": "ENCRYPT_DECRYPT"}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture
def kms(sb: Sandbox) -> Any:
    return aws(sb, ACCT, "kms")


def _key(kms: Any, spec: str, origin: str = "EXTERNAL") -> dict[str, Any]:
    usage = _USAGE.get(spec, "GENERATE_VERIFY_MAC" if spec.startswith("HMAC_") else "SIGN_VERIFY")
    return dict(kms.create_key(KeySpec=spec, KeyUsage=usage, Origin=origin)["KeyMetadata"])


@functools.cache
def _private(spec: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """One private key per spec for the whole module (RSA generation is the slow part)."""
    if spec in _CURVES:
        return ec.generate_private_key(_CURVES[spec]())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(spec.split("_")[1]))


def _material(spec: str) -> bytes:
    if spec == "SYMMETRIC_DEFAULT":
        return os.urandom(32)
    if spec.startswith("HMAC_"):
        return os.urandom(int(spec.split("_")[1]) // 8)
    return _private(spec).private_bytes(serialization.Encoding.DER,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err.get("Message", "")


def _params(kms: Any, key_id: str, algorithm: str, spec: str) -> dict[str, Any]:
    return dict(kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm,
                                              WrappingKeySpec=spec))


def _import(kms: Any, key_id: str, params: dict[str, Any], blob: bytes) -> None:
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=blob,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")


def _assert_in_use(kms: Any, key: dict[str, Any], spec: str, material: bytes) -> None:
    """The key now works with `material`: its public key, or a MAC computed here."""
    if spec.startswith("HMAC_"):
        digest = {"HMAC_224": hashlib.sha224, "HMAC_256": hashlib.sha256,
                  "HMAC_384": hashlib.sha384, "HMAC_512": hashlib.sha512}[spec]
        mac = kms.generate_mac(KeyId=key["KeyId"], Message=b"canary",
                               MacAlgorithm=f"HMAC_SHA_{spec.split('_')[1]}")["Mac"]
        assert mac == hmac.new(material, b"canary", digest).digest()
    elif spec == "SYMMETRIC_DEFAULT":
        from moto.kms.models import kms_backends  # the material itself is readable only in moto

        assert kms_backends[ACCT]["us-east-1"].keys[key["KeyId"]].key_material == material
    else:
        public = _private(spec).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert kms.get_public_key(KeyId=key["KeyId"])["PublicKey"] == public
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


# what each kind of material may be wrapped with, as AWS documents it
KINDS = {
    "rsa": (("RSA_2048", "RSA_3072", "RSA_4096"), ALGORITHMS[2:]),
    "ecc": (tuple(_CURVES), ALGORITHMS),
    "symmetric": (("SYMMETRIC_DEFAULT",), ALGORITHMS[:2]),
    "hmac": (("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"), ALGORITHMS[:2]),
}


def _refused_by_aws(spec: str, algorithm: str, wrapping_spec: str) -> bool:
    return spec == "ECC_NIST_P521" and wrapping_spec == "RSA_2048" and algorithm.startswith("RSAES_")


def _accepted() -> list[tuple[str, str, str]]:
    """Every accepted (wrapping algorithm, wrapping key spec) for each kind of material, the
    key specs of the kind taking turns (a full cross product costs a minute of RSA keygen)."""
    out = []
    for specs, algorithms in KINDS.values():
        turn = 0
        for algorithm in algorithms:
            for wrapping_spec in WRAPPING_SPECS:
                while _refused_by_aws(specs[turn % len(specs)], algorithm, wrapping_spec):
                    turn += 1
                out.append((specs[turn % len(specs)], algorithm, wrapping_spec))
                turn += 1
            if len(specs) % len(WRAPPING_SPECS) == 0:
                turn += 1  # else each key spec would meet only the wrapping key spec it met
    return out


ACCEPTED = _accepted()


def test_the_accepted_cases_cover_every_pairing_and_every_key_spec() -> None:
    kind = {spec: k for k, (specs, _) in KINDS.items() for spec in specs}
    assert len(ACCEPTED) == len(set(ACCEPTED)) == 6 + 12 + 6 + 6
    assert {(kind[s], a, w) for s, a, w in ACCEPTED} == {
        (k, a, w) for k, (_, algs) in KINDS.items() for a in algs for w in WRAPPING_SPECS}
    assert {s for s, _, _ in ACCEPTED} == set(kind)
    assert not [c for c in ACCEPTED if _refused_by_aws(*c)]


@pytest.mark.parametrize(("spec", "algorithm", "wrapping_spec"), ACCEPTED)
def test_import_round_trips_for_every_accepted_combination(
        kms: Any, spec: str, algorithm: str, wrapping_spec: str) -> None:
    key = _key(kms, spec)
    params = _params(kms, key["Arn"], algorithm, wrapping_spec)
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == int(wrapping_spec.split("_")[1])
    assert params["KeyId"] == key["Arn"]
    material = _material(spec)
    _import(kms, key["Arn"], params, ImportWrapping(algorithm, wrapping_spec).wrap(
        material, params["PublicKey"]))
    _assert_in_use(kms, key, spec, material)


def test_rsa_aes_key_wrap_sha_1_built_by_hand_as_aws_documents_it(kms: Any) -> None:
    """OAEP (SHA-1, MGF1 SHA-1) of a fresh 256-bit AES key, then RFC 5649 of the PKCS #8 key."""
    key = _key(kms, "RSA_3072")
    params = _params(kms, key["KeyId"], "RSA_AES_KEY_WRAP_SHA_1", "RSA_4096")
    public = serialization.load_der_public_key(params["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey)
    aes_key = os.urandom(32)
    material = _material("RSA_3072")
    blob = public.encrypt(aes_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                                algorithm=hashes.SHA1(), label=None)) \
        + aes_key_wrap_with_padding(aes_key, material)
    _import(kms, key["KeyId"], params, blob)
    _assert_in_use(kms, key, "RSA_3072", material)


# --- refused at GetParametersForImport -----------------------------------------------------------


@pytest.mark.parametrize(("spec", "algorithm", "wrapping_spec", "message"), [
    ("RSA_2048", "RSAES_OAEP_SHA_256", "RSA_4096",
     "an RSA private key (RSA_2048) must be wrapped with an RSA_AES_KEY_WRAP algorithm"),
    ("RSA_4096", "RSAES_OAEP_SHA_1", "RSA_2048",
     "an RSA private key (RSA_4096) must be wrapped with an RSA_AES_KEY_WRAP algorithm"),
    ("SYMMETRIC_DEFAULT", "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096",
     "RSA_AES_KEY_WRAP_SHA_256 wraps only RSA and ECC key material, not SYMMETRIC_DEFAULT"),
    ("HMAC_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_3072",
     "RSA_AES_KEY_WRAP_SHA_1 wraps only RSA and ECC key material, not HMAC_256"),
    ("ECC_NIST_P521", "RSAES_OAEP_SHA_256", "RSA_2048",
     "RSAES_OAEP_SHA_256 with an RSA_2048 wrapping key cannot wrap ECC_NIST_P521 key material"),
    ("ECC_NIST_P521", "RSAES_OAEP_SHA_1", "RSA_2048",
     "RSAES_OAEP_SHA_1 with an RSA_2048 wrapping key cannot wrap ECC_NIST_P521 key material"),
    ("SYMMETRIC_DEFAULT", "RSAES_PKCS1_V1_5", "RSA_2048",
     "RSAES_PKCS1_V1_5 is no longer supported (since October 10, 2023)"),
    ("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256", "SM2",
     "SM2 wrapping is supported only in China Regions"),
    ("ECC_NIST_P256", "SM2PKE", "RSA_2048", "SM2 wrapping is supported only in China Regions"),
])
def test_fails_get_parameters_for_combinations_kms_does_not_use(
        kms: Any, spec: str, algorithm: str, wrapping_spec: str, message: str) -> None:
    key = _key(kms, spec)
    with pytest.raises(ClientError) as refused:
        _params(kms, key["KeyId"], algorithm, wrapping_spec)
    assert _code(refused) == ("UnsupportedOperationException", f"{message} ({key['Arn']})")


@pytest.mark.parametrize(("algorithm", "wrapping_spec", "member", "value"), [
    ("RSAES_OAEP_SHA_512", "RSA_2048", "wrappingAlgorithm", "RSAES_OAEP_SHA_512"),
    ("RSAES_OAEP_SHA_256", "RSA_1024", "wrappingKeySpec", "RSA_1024"),
])
def test_fails_get_parameters_for_values_outside_the_api_enums(
        kms: Any, algorithm: str, wrapping_spec: str, member: str, value: str) -> None:
    key = _key(kms, "SYMMETRIC_DEFAULT")
    with pytest.raises(ClientError) as invalid:
        _params(kms, key["KeyId"], algorithm, wrapping_spec)
    code, message = _code(invalid)
    assert code == "ValidationException"
    assert message.startswith(f"1 validation error detected: Value '{value}' at '{member}' "
                              "failed to satisfy constraint: Member must satisfy enum value set")


def test_fails_get_parameters_for_a_key_not_external_or_pending_deletion(kms: Any) -> None:
    own = _key(kms, "SYMMETRIC_DEFAULT", origin="AWS_KMS")
    with pytest.raises(ClientError) as not_external:
        _params(kms, own["KeyId"], "RSAES_OAEP_SHA_256", "RSA_2048")
    assert _code(not_external) == ("UnsupportedOperationException",
                                   f"{own['Arn']} origin is AWS_KMS, not EXTERNAL")
    pending = _key(kms, "SYMMETRIC_DEFAULT")
    kms.schedule_key_deletion(KeyId=pending["KeyId"], PendingWindowInDays=7)
    with pytest.raises(ClientError) as deleting:
        _params(kms, pending["KeyId"], "RSAES_OAEP_SHA_256", "RSA_2048")
    assert _code(deleting) == ("KMSInvalidStateException", f"{pending['Arn']} is pendingdeletion.")


# --- refused at ImportKeyMaterial ---------------------------------------------------------------


def test_fails_material_wrapped_otherwise_than_the_token_says_and_the_token_stays_usable(
        kms: Any) -> None:
    key = _key(kms, "RSA_2048")
    params = _params(kms, key["KeyId"], "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    material = _material("RSA_2048")
    other = _params(kms, _key(kms, "RSA_2048")["KeyId"], "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    good = ImportWrapping("RSA_AES_KEY_WRAP_SHA_256", "RSA_3072").wrap(material,
                                                                       params["PublicKey"])
    wrong = {
        "SHA-1 where the token says SHA-256":
            ImportWrapping("RSA_AES_KEY_WRAP_SHA_1", "RSA_3072").wrap(material, params["PublicKey"]),
        "another wrapping key": ImportWrapping("RSA_AES_KEY_WRAP_SHA_256", "RSA_3072").wrap(
            material, other["PublicKey"]),
        "a flipped bit in the AES-wrapped part": good[:-1] + bytes([good[-1] ^ 1]),
        "the AES-wrapped part cut short": good[:-8],
        "only the wrapped AES key": good[:384],
        "a 128-bit AES key": _rsa_aes_with(params["PublicKey"], os.urandom(16), material),
    }
    for what, blob in wrong.items():
        with pytest.raises(ClientError) as bad:
            _import(kms, key["KeyId"], params, blob)
        assert _code(bad) == ("InvalidCiphertextException",
                              "the key material cannot be decrypted with the wrapping key and "
                              "RSA_AES_KEY_WRAP_SHA_256"), what
    _import(kms, key["KeyId"], params, good)  # failures did not use up the token
    _assert_in_use(kms, key, "RSA_2048", material)


def _rsa_aes_with(public_der: bytes, aes_key: bytes, material: bytes) -> bytes:
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    return public.encrypt(aes_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                algorithm=hashes.SHA256(), label=None)) \
        + aes_key_wrap_with_padding(aes_key, material)


def test_fails_rsaes_oaep_material_of_the_other_hash(kms: Any) -> None:
    key = _key(kms, "ECC_NIST_P256")
    params = _params(kms, key["KeyId"], "RSAES_OAEP_SHA_256", "RSA_2048")
    blob = ImportWrapping("RSAES_OAEP_SHA_1", "RSA_2048").wrap(_material("ECC_NIST_P256"),
                                                               params["PublicKey"])
    with pytest.raises(ClientError) as bad:
        _import(kms, key["KeyId"], params, blob)
    assert _code(bad)[0] == "InvalidCiphertextException"


@pytest.mark.parametrize(("spec", "material_spec", "message"), [
    ("RSA_3072", "RSA_2048", "the key material is not an RSA_3072 private key"),
    ("RSA_2048", "ECC_NIST_P256", "the key material is not an RSA_2048 private key"),
    ("ECC_NIST_P384", "ECC_NIST_P256", "the key material is not an ECC_NIST_P384 private key"),
    ("ECC_NIST_P256", "ECC_SECG_P256K1", "the key material is not an ECC_NIST_P256 private key"),
    ("SYMMETRIC_DEFAULT", "HMAC_512", "symmetric key material must be 32 bytes, got 64"),
    ("HMAC_384", "HMAC_256", "HMAC_384 key material must be 48 to 128 bytes, got 32"),
    ("ECC_NIST_P256", "SYMMETRIC_DEFAULT",
     "the key material is not a DER PKCS #8 private key for ECC_NIST_P256"),
])
def test_fails_material_that_unwraps_but_does_not_fit_the_key_spec(
        kms: Any, spec: str, material_spec: str, message: str) -> None:
    key = _key(kms, spec)
    algorithm = "RSA_AES_KEY_WRAP_SHA_256" if spec.startswith(("RSA_", "ECC_")) \
        else "RSAES_OAEP_SHA_256"
    params = _params(kms, key["KeyId"], algorithm, "RSA_2048")
    with pytest.raises(ClientError) as bad:
        _import(kms, key["KeyId"], params, ImportWrapping(algorithm, "RSA_2048").wrap(
            _material(material_spec), params["PublicKey"]))
    assert _code(bad) == ("IncorrectKeyMaterialException", f"{message} ({key['Arn']})")


def test_fails_a_token_of_another_key_or_no_token(kms: Any) -> None:
    key, other = _key(kms, "SYMMETRIC_DEFAULT"), _key(kms, "SYMMETRIC_DEFAULT")
    params = _params(kms, other["KeyId"], "RSAES_OAEP_SHA_256", "RSA_2048")
    blob = ImportWrapping("RSAES_OAEP_SHA_256", "RSA_2048").wrap(os.urandom(32),
                                                                 params["PublicKey"])
    for token in (params["ImportToken"], base64.b64encode(b"made-up"), b"\xff\xfe"):
        with pytest.raises(ClientError) as bad:
            _import(kms, key["KeyId"], {"ImportToken": token}, blob)
        assert _code(bad) == ("InvalidImportTokenException",
                              f"the import token is not valid for {key['Arn']}")


def test_fails_a_token_older_than_24_hours_of_the_sandbox_clock(sb: Sandbox, kms: Any) -> None:
    key = _key(kms, "SYMMETRIC_DEFAULT")
    params = _params(kms, key["KeyId"], "RSAES_OAEP_SHA_256", "RSA_2048")
    assert params["ParametersValidTo"].timestamp() == pytest.approx(
        sb.front.clock.now() + 24 * 3600, abs=60)
    blob = ImportWrapping("RSAES_OAEP_SHA_256", "RSA_2048").wrap(os.urandom(32),
                                                                 params["PublicKey"])
    sb.front.clock.advance(24 * 3600 + 1)
    _params(kms, _key(kms, "SYMMETRIC_DEFAULT")["KeyId"], "RSAES_OAEP_SHA_256", "RSA_2048")
    with pytest.raises(ClientError) as expired:
        _import(kms, key["KeyId"], params, blob)
    assert _code(expired) == ("ExpiredImportTokenException",
                              "the import token expired; call GetParametersForImport again")
