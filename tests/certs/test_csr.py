"""Certificate requests without a cloud: the DER encoder, the algorithm identifiers, subject
and SAN parsing, the identity rules, and requests signed by in-memory keys checked by
`cryptography` and by `openssl req -verify`.

The signer here is an in-memory key behind the same `CsrSigner` port the KMS adapters
implement; the sandbox tests (test_csr_sandbox.py) sign through AWS KMS and Cloud KMS.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from keyplane.audit.evidence import DrillResult
from keyplane.certs import csr, identity
from keyplane.certs.errors import (
    AlgorithmError,
    DeployedKeyError,
    GenerationRefusedError,
    IdentityMismatchError,
    KeyCannotSignError,
    KeyRefError,
    NotPinnedError,
    SanError,
    SubjectError,
)
from keyplane.drills.canary import _short as canary_fingerprint
from keyplane.drills.crypto import SigningAlgorithm, sign_locally
from keyplane.drills.ports import KeyTarget
from keyplane.model.environment import Generation, KeyDecl
from keyplane.model.specs import Cloud, KeyUsage
from keyplane.model.tiers import Tier

OPENSSL = shutil.which("openssl")


def spki(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


class LocalSigner:
    """The CsrSigner port over an in-memory key; records what it was asked to sign."""

    def __init__(self, key: Any, algorithms: tuple[SigningAlgorithm, ...]) -> None:
        self.key = key
        self.by_name = {a.name: a for a in algorithms}
        self.calls: list[tuple[bytes, str]] = []

    def sign(self, digest: bytes, algorithm: str) -> bytes:
        self.calls.append((digest, algorithm))
        return sign_locally(self.key, self.by_name[algorithm], digest)


def openssl_verify(tmp_path: Path, pem: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "req.pem"
    path.write_text(pem, encoding="utf-8")
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, "req", "-verify", "-noout", "-in", str(path)],
                          capture_output=True, text=True, check=False)


# --- DER ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "octets"), [
    (0, "00"), (127, "7f"), (128, "8180"), (255, "81ff"), (256, "820100"), (65535, "82ffff"),
    (65536, "83010000")])
def test_der_length_short_and_long_forms(n: int, octets: str) -> None:
    assert csr.der_length(n).hex() == octets


@pytest.mark.parametrize(("value", "der"), [
    (0, "020100"), (1, "020101"), (127, "02017f"), (128, "02020080"), (255, "020200ff"),
    (256, "02020100"), (32, "020120")])
def test_integer_is_minimal_and_never_negative(value: int, der: str) -> None:
    assert csr.integer(value).hex() == der


def test_fails_negative_integer_and_length() -> None:
    with pytest.raises(ValueError, match="only non-negative integers are encoded, got -1"):
        csr.integer(-1)
    with pytest.raises(ValueError, match="a length cannot be negative, got -2"):
        csr.der_length(-2)


@pytest.mark.parametrize(("dotted", "der"), [
    ("1.2.840.113549.1.1.11", "06092a864886f70d01010b"),  # sha256WithRSAEncryption
    ("2.5.29.17", "0603551d11"),  # subjectAltName
    ("1.2.840.10045.4.3.4", "06082a8648ce3d040304"),  # ecdsa-with-SHA512
    ("2.16.840.1.101.3.4.2.1", "0609608648016503040201"),  # sha256
    ("2.999.3", "0603883703"),  # an arc above 127 in the first octet (RFC 8.19.4 example)
])
def test_oid_encodes_arcs_in_base_128(dotted: str, der: str) -> None:
    assert csr.oid(dotted).hex() == der


@pytest.mark.parametrize("bad", ["1", "3.1", "1.40", "1.2.x", ""])
def test_fails_invalid_oid(bad: str) -> None:
    with pytest.raises(ValueError, match="object identifier"):
        csr.oid(bad)


def test_set_of_orders_by_encoding_and_long_lengths_use_the_long_form() -> None:
    a, b, c = csr.integer(2), csr.integer(1), csr.octet_string(b"")
    assert csr.set_of(a, b, c).hex() == "3108" + "020101" + "020102" + "0400"
    # shorter encodings compare as if padded with zeros at the end
    assert csr.set_of(b"\x02\x02\x01\x00", b"\x02\x01").hex() == "3106" + "0201" + "02020100"
    big = csr.octet_string(b"\x01" * 300)
    assert big[:4].hex() == "0482012c" and len(big) == 304
    assert csr.boolean(True).hex() == "0101ff" and csr.boolean(False).hex() == "010100"
    assert csr.bit_string(b"\xab").hex() == "030200ab" and csr.null().hex() == "0500"
    assert csr.explicit(2, csr.integer(32)).hex() == "a203020120"
    assert csr.implicit_set_of(0, []).hex() == "a000"


# --- algorithm identifiers, against what cryptography writes ------------------------------------

def _cryptography_csr(key: Any, hash_name: str, scheme: str) -> bytes:
    h = {"SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(), "SHA512": hashes.SHA512()}[
        hash_name]
    pad = padding.PSS(padding.MGF1(h), padding.PSS.DIGEST_LENGTH) if scheme == "PSS" else None
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name.from_rfc4514_string("CN=x"))
    signed = builder.sign(key, h, rsa_padding=pad) if pad else builder.sign(key, h)
    return signed.public_bytes(serialization.Encoding.DER)


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("alg", csr.AWS_CSR_ALGORITHMS["RSA_2048"]
                         + csr.AWS_CSR_ALGORITHMS["ECC_NIST_P384"]
                         + csr.AWS_CSR_ALGORITHMS["ECC_NIST_P521"], ids=lambda a: a.name)
def test_algorithm_identifier_is_the_one_cryptography_writes(alg: SigningAlgorithm) -> None:
    key = RSA_KEY if alg.scheme != "ECDSA" else ec.generate_private_key(
        ec.SECP384R1() if alg.hash_name == "SHA384" else ec.SECP521R1())
    assert csr.algorithm_identifier(alg) in _cryptography_csr(key, alg.hash_name, alg.scheme)


def test_pss_parameters_name_the_hash_mgf1_and_a_digest_long_salt() -> None:
    alg = next(a for a in csr.AWS_CSR_ALGORITHMS["RSA_3072"] if a.name == "RSASSA_PSS_SHA_384")
    ident = csr.algorithm_identifier(alg)
    sha384 = csr.sequence(csr.oid("2.16.840.1.101.3.4.2.2"), csr.null())
    assert ident == csr.sequence(csr.oid("1.2.840.113549.1.1.10"), csr.sequence(
        csr.explicit(0, sha384), csr.explicit(1, csr.sequence(csr.oid("1.2.840.113549.1.1.8"),
                                                              sha384)),
        csr.explicit(2, csr.integer(48))))


def test_algorithms_by_spec_and_defaults() -> None:
    assert [a.name for a in csr.algorithms_for(Cloud.AWS, "RSA_4096")] == [
        "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
        "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]
    assert csr.choose_algorithm(Cloud.AWS, "ECC_NIST_P521", None).name == "ECDSA_SHA_512"
    assert csr.choose_algorithm(Cloud.AWS, "RSA_2048", "rsassa_pss_sha_256").scheme == "PSS"
    gcp = csr.choose_algorithm(Cloud.GCP, "RSA_SIGN_PKCS1_4096_SHA512", None)
    assert (gcp.name, gcp.scheme, gcp.hash_name) == ("RSA_SIGN_PKCS1_4096_SHA512", "PKCS1",
                                                     "SHA512")
    ec_gcp = csr.choose_algorithm(Cloud.GCP, "EC_SIGN_SECP256K1_SHA256", None)
    assert (ec_gcp.scheme, ec_gcp.hash_name) == ("ECDSA", "SHA256")


def test_fails_an_algorithm_the_spec_does_not_sign_with() -> None:
    with pytest.raises(AlgorithmError) as err:
        csr.choose_algorithm(Cloud.AWS, "ECC_NIST_P384", "ECDSA_SHA_256")
    assert (err.value.code, err.value.message) == (
        "KP905", "--algorithm ECDSA_SHA_256 is not a signing algorithm of ECC_NIST_P384; "
                 "allowed: ECDSA_SHA_384")
    with pytest.raises(AlgorithmError) as err:
        csr.choose_algorithm(Cloud.GCP, "RSA_SIGN_PSS_2048_SHA256", "RSASSA_PSS_SHA_256")
    assert err.value.message.endswith("; allowed: RSA_SIGN_PSS_2048_SHA256")


def test_fails_a_spec_without_request_support() -> None:
    with pytest.raises(KeyCannotSignError) as err:
        csr.choose_algorithm(Cloud.AWS, "ML_DSA_65", None)
    assert err.value.code == "KP903"
    assert err.value.message == (
        "spec ML_DSA_65 has no certificate-request support in keyplane; supported aws signing "
        "specs: RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, "
        "ECC_SECG_P256K1")


def test_public_key_must_be_of_the_declared_spec() -> None:
    csr.check_public_key(Cloud.AWS, "RSA_2048", spki(RSA_KEY))
    csr.check_public_key(Cloud.GCP, "EC_SIGN_P256_SHA256",
                         spki(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(DeployedKeyError) as err:
        csr.check_public_key(Cloud.AWS, "RSA_3072", spki(RSA_KEY))
    assert err.value.message == ("the deployed key's public key is rsa-2048, the declared spec "
                                 "RSA_3072 is rsa-3072")
    with pytest.raises(DeployedKeyError) as err:
        csr.check_public_key(Cloud.AWS, "ECC_NIST_P384",
                             spki(ec.generate_private_key(ec.SECP256R1())))
    assert err.value.message == ("the deployed key's public key is secp256r1, the declared spec "
                                 "ECC_NIST_P384 is ec on secp384r1")
    with pytest.raises(DeployedKeyError, match="cannot be read"):
        csr.check_public_key(Cloud.AWS, "RSA_2048", b"\x30\x03\x02\x01\x00")


# --- subject and SANs --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "rfc4514"), [
    ("CN=signer.example.com,O=Example", "CN=signer.example.com,O=Example"),
    ("cn=signer.example.com, o=Example,c=DE", "CN=signer.example.com,O=Example,C=DE"),
    ("CN=a+OU=b,O=Example\\, Inc.", "CN=a+OU=b,O=Example\\, Inc."),
    ("2.5.4.5=0042,CN=x", "2.5.4.5=0042,CN=x"),
    ("UID=signer,DC=example,DC=com", "UID=signer,DC=example,DC=com"),
])
def test_subject_parses_rfc4514(text: str, rfc4514: str) -> None:
    name = csr.parse_subject(text)
    assert name.rfc4514_string() == rfc4514
    # most specific first as written, so the DER's first RDN is the last one written
    assert name.rdns[-1].rfc4514_string() == rfc4514.split(",")[0]


@pytest.mark.parametrize(("text", "message"), [
    ("FOO=bar", "subject 'FOO=bar': unknown attribute type 'FOO'; allowed: CN, L, ST, O, OU, "
                "C, STREET, DC, UID or a dotted object identifier"),
    ("CN", "subject 'CN': 'CN' is not TYPE=value (e.g. CN=signer.example.com,O=Example)"),
    ("CN=a,,O=b", "subject 'CN=a,,O=b': '' is not TYPE=value (e.g. "
                  "CN=signer.example.com,O=Example)"),
    ("CN=", "subject 'CN=': attribute CN has an empty value"),
    ("C=USA,CN=x", "subject 'C=USA,CN=x': Attribute's length must be >= 2 and <= 2, but it was 3 "
                   "(RFC 4514, e.g. CN=signer.example.com,O=Example)"),
    ("CN=" + "a" * 65, f"subject 'CN={'a' * 65}': Attribute's length must be >= 1 and <= 64, "
                       "but it was 65 (RFC 4514, e.g. CN=signer.example.com,O=Example)"),
])
def test_fails_bad_subject(text: str, message: str) -> None:
    with pytest.raises(SubjectError) as err:
        csr.parse_subject(text)
    assert (err.value.code, err.value.message) == ("KP900", message)


def test_sans_of_every_type() -> None:
    names = csr.parse_sans(["DNS:signer.example.com", "dns:*.svc.example.com", "IP:10.0.0.7",
                            "IP:2001:db8::1", "URI:spiffe://example.org/ns/prod/sa/signer",
                            "email:pki@example.com"])
    assert [type(n).__name__ for n in names] == [
        "DNSName", "DNSName", "IPAddress", "IPAddress", "UniformResourceIdentifier", "RFC822Name"]
    assert [str(n.value) for n in names] == [
        "signer.example.com", "*.svc.example.com", "10.0.0.7", "2001:db8::1",
        "spiffe://example.org/ns/prod/sa/signer", "pki@example.com"]


@pytest.mark.parametrize(("value", "message"), [
    ("FTP:host", "--san 'FTP:host': the type must be one of DNS:, IP:, URI:, email: (e.g. "
                 "DNS:signer.example.com)"),
    ("signer.example.com", "--san 'signer.example.com': the type must be one of DNS:, IP:, "
                           "URI:, email: (e.g. DNS:signer.example.com)"),
    ("DNS:", "--san 'DNS:': the DNS value is empty"),
    ("DNS:-bad.example.com", "--san 'DNS:-bad.example.com': '-bad.example.com' has the label "
                             "'-bad'; labels are 1-63 letters, digits or '-', not starting or "
                             "ending with '-' (a wildcard only as the whole first label)"),
    ("DNS:a..example.com", "--san 'DNS:a..example.com': 'a..example.com' has the label ''; "
                           "labels are 1-63 letters, digits or '-', not starting or ending with "
                           "'-' (a wildcard only as the whole first label)"),
    ("DNS:bücher.example", "--san 'DNS:bücher.example': 'bücher.example' is not ascii: give the "
                           "IDNA A-label form (xn--...)"),
    ("DNS:*.com", "--san 'DNS:*.com': '*.com' puts a wildcard on a top-level name"),
    ("DNS:a.*.example.com", "--san 'DNS:a.*.example.com': 'a.*.example.com' has the label '*'; "
                            "labels are 1-63 letters, digits or '-', not starting or ending with "
                            "'-' (a wildcard only as the whole first label)"),
    ("IP:300.1.1.1", "--san 'IP:300.1.1.1': '300.1.1.1' is not an IPv4 or IPv6 address"),
    ("URI:not a uri", "--san 'URI:not a uri': 'not a uri' is not an absolute ascii URI with a "
                      "scheme (e.g. URI:spiffe://example.org/signer)"),
    ("email:nobody", "--san 'email:nobody': 'nobody' has no local@domain"),
    ("email:a b@example.com", "--san 'email:a b@example.com': 'a b@example.com' has a local "
                              "part that is not ascii without spaces"),
])
def test_fails_bad_san(value: str, message: str) -> None:
    with pytest.raises(SanError) as err:
        csr.parse_sans([value])
    assert (err.value.code, err.value.message) == ("KP901", message)


def test_fails_a_repeated_san() -> None:
    with pytest.raises(SanError) as err:
        csr.parse_sans(["DNS:a.example.com", "IP:10.0.0.1", "DNS:A.example.com"])
    assert err.value.message == ("--san 'DNS:A.example.com' names the same DNS as --san "
                                 "'DNS:a.example.com'")


# --- requests signed through the port ----------------------------------------------------------

def test_request_is_byte_identical_to_cryptographys_for_deterministic_pkcs1(
        tmp_path: Path) -> None:
    name = csr.parse_subject("CN=signer.example.com,O=Example")
    sans = csr.parse_sans(["DNS:signer.example.com", "IP:10.0.0.1"])
    alg = csr.AWS_CSR_ALGORITHMS["RSA_2048"][0]
    signer = LocalSigner(RSA_KEY, (alg,))
    mine = csr.build_request(subject=name, sans=sans, public_key=spki(RSA_KEY), algorithm=alg,
                             signer=signer)
    theirs = x509.CertificateSigningRequestBuilder().subject_name(name).add_extension(
        x509.SubjectAlternativeName(sans), critical=False).sign(RSA_KEY, hashes.SHA256())
    assert mine.der == theirs.public_bytes(serialization.Encoding.DER)
    assert mine.pem == theirs.public_bytes(serialization.Encoding.PEM).decode()
    # the port is asked once, for the SHA-256 of the CertificationRequestInfo
    assert signer.calls == [(csr.digest_of(theirs.tbs_certrequest_bytes, alg), alg.name)]


CASES = [("RSA_2048", RSA_KEY), ("RSA_3072", rsa.generate_private_key(65537, 3072)),
         ("ECC_NIST_P256", ec.generate_private_key(ec.SECP256R1())),
         ("ECC_NIST_P384", ec.generate_private_key(ec.SECP384R1())),
         ("ECC_NIST_P521", ec.generate_private_key(ec.SECP521R1())),
         ("ECC_SECG_P256K1", ec.generate_private_key(ec.SECP256K1()))]


@pytest.mark.parametrize(("spec", "key", "alg"), [
    (spec, key, alg) for spec, key in CASES for alg in csr.AWS_CSR_ALGORITHMS[spec]],
    ids=lambda v: v if isinstance(v, str) else getattr(v, "name", ""))
def test_every_algorithm_verifies_with_cryptography_and_openssl(
        spec: str, key: Any, alg: SigningAlgorithm, tmp_path: Path) -> None:
    request = csr.build_request(
        subject=csr.parse_subject("CN=signer.example.com,O=Example"),
        sans=csr.parse_sans(["DNS:signer.example.com", "URI:spiffe://example.org/signer"]),
        public_key=spki(key), algorithm=alg, signer=LocalSigner(key, (alg,)))
    loaded = x509.load_pem_x509_csr(request.pem.encode())
    assert loaded.is_signature_valid
    assert loaded.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo) \
        == spki(key)
    assert loaded.subject.rfc4514_string() == "CN=signer.example.com,O=Example"
    san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert not san.critical
    assert san.value.get_values_for_type(x509.DNSName) == ["signer.example.com"]
    expected_oid = {"PKCS1": csr.OID_RSA_PKCS1, "ECDSA": csr.OID_ECDSA}.get(alg.scheme, {})
    assert loaded.signature_algorithm_oid.dotted_string == expected_oid.get(
        alg.hash_name, csr.OID_RSASSA_PSS)
    if OPENSSL is None:
        pytest.skip("openssl is not on PATH: the cryptography check above ran, openssl's did not")
    proc = openssl_verify(tmp_path, request.pem)
    assert proc.returncode == 0, proc.stderr
    assert "verify OK" in proc.stdout + proc.stderr


def test_empty_subject_makes_the_san_critical_and_needs_a_san() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    alg = csr.AWS_CSR_ALGORITHMS["ECC_NIST_P256"][0]
    request = csr.build_request(subject=csr.parse_subject(""), sans=csr.parse_sans(
        ["DNS:signer.example.com"]), public_key=spki(key), algorithm=alg,
        signer=LocalSigner(key, (alg,)))
    loaded = x509.load_der_x509_csr(request.der)
    assert len(loaded.subject) == 0 and loaded.is_signature_valid
    assert loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    with pytest.raises(SubjectError, match="an empty subject needs at least one --san"):
        csr.build_request(subject=csr.parse_subject(""), sans=[], public_key=spki(key),
                          algorithm=alg, signer=LocalSigner(key, (alg,)))


def test_fails_closed_on_a_signature_of_another_key_or_a_corrupted_one() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    alg = csr.AWS_CSR_ALGORITHMS["ECC_NIST_P384"][0]
    other = LocalSigner(ec.generate_private_key(ec.SECP384R1()), (alg,))
    with pytest.raises(IdentityMismatchError) as err:
        csr.build_request(subject=csr.parse_subject("CN=x"), sans=[], public_key=spki(key),
                          algorithm=alg, signer=other)
    assert (err.value.code, err.value.exit_code) == ("KP908", 1)
    assert err.value.message == ("the signature the kms returned does not verify with the "
                                 "generation's public key; nothing was written")

    class Flipped(LocalSigner):
        def sign(self, digest: bytes, algorithm: str) -> bytes:
            sig = super().sign(digest, algorithm)
            return sig[:-1] + bytes([sig[-1] ^ 1])

    with pytest.raises(IdentityMismatchError, match="does not verify"):
        csr.build_request(subject=csr.parse_subject("CN=x"), sans=[], public_key=spki(RSA_KEY),
                          algorithm=csr.AWS_CSR_ALGORITHMS["RSA_2048"][3],
                          signer=Flipped(RSA_KEY, csr.AWS_CSR_ALGORITHMS["RSA_2048"]))


# --- identity: which key signs -----------------------------------------------------------------

def _key(**over: Any) -> KeyDecl:
    data: dict[str, Any] = {
        "name": "code-signing", "tier": Tier.PRODUCTION, "cloud": Cloud.AWS,
        "usage": KeyUsage.SIGN, "spec": "ECC_NIST_P384", "alias": "alias/code-signing",
        "generation": 4, "generations": (
            Generation(generation=4, created_on=dt.date(2026, 6, 1)),
            Generation(generation=3, created_on=dt.date(2025, 6, 1),
                       verify_until=dt.date(2026, 12, 16)),
            Generation(generation=2, created_on=dt.date(2024, 6, 1),
                       verify_until=dt.date(2025, 7, 1), enabled=False))}
    data.update(over)
    return KeyDecl(**data)


ACCOUNT = "111122223333"
G4 = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/g4"
G3 = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/g3"


def _target(ref: str, gen: int | None, *, current: bool = False, state: str = "Enabled",
            spec: str = "ECC_NIST_P384", tagged: bool = True, tag_key: str = "code-signing"
            ) -> KeyTarget:
    return KeyTarget(key="code-signing", generation=gen, ref=ref, state=state, spec=spec,
                     current=current, tagged=tagged, tag_key=tag_key if tagged else None,
                     tag_generation=gen if tagged else None)


def _aliases(current: str = G4, generation: str = G4) -> dict[str, str | None]:
    return {"alias/code-signing": current, "alias/code-signing/g4": generation}


def test_key_ref_forms() -> None:
    assert identity.parse_key_ref("code-signing") == identity.KeyRef("code-signing", None)
    assert identity.parse_key_ref("code-signing@g12") == identity.KeyRef("code-signing", 12)
    for bad in ("code-signing@4", "code-signing@g0", "code-signing@g", "a b", "@g1", ""):
        with pytest.raises(KeyRefError, match="must be KEY or KEY@gN"):
            identity.parse_key_ref(bad)


def test_the_current_generation_signs_by_default_and_others_are_refused() -> None:
    key = _key()
    assert identity.generation_to_sign(key, None) == 4
    assert identity.generation_to_sign(key, 4) == 4
    with pytest.raises(GenerationRefusedError) as err:
        identity.generation_to_sign(key, 3)
    assert (err.value.code, err.value.exit_code) == ("KP904", 2)
    assert err.value.message == (
        "code-signing@g3 is a verify-only generation (verify until 2026-12-16): it verifies "
        "what it signed before, it never signs a new request; the current generation is 4 "
        "(code-signing@g4)")
    with pytest.raises(GenerationRefusedError) as err:
        identity.generation_to_sign(key, 2)
    assert err.value.message == ("code-signing@g2 is a disabled generation: it signs nothing; "
                                 "the current generation is 4 (code-signing@g4)")
    with pytest.raises(GenerationRefusedError) as err:
        identity.generation_to_sign(key, 9)
    assert err.value.message == (
        "generation 9 of code-signing is not declared (declared: g4 (current), g3 (verify-only "
        "until 2026-12-16), g2 (disabled)); the current generation is 4 (code-signing@g4)")


def test_pin_accepts_the_tagged_generation_its_aliases_point_to() -> None:
    targets = [_target(G4, 4, current=True), _target(G3, 3)]
    assert identity.expected_aliases(_key(), 4) == ["alias/code-signing", "alias/code-signing/g4"]
    pinned = identity.pin_target(_key(), 4, targets, aliases=_aliases(), account_id=ACCOUNT)
    assert pinned.ref == G4


@pytest.mark.parametrize(("targets", "aliases", "error", "message"), [
    ([_target(G3, 3)], _aliases(), DeployedKeyError,
     "code-signing@g4 is not deployed (deployed generations of code-signing: g3); apply the "
     "environment's stack first"),
    ([_target(G4, 4, current=True), _target(G3.replace("g3", "rogue"), 4)], _aliases(),
     IdentityMismatchError,
     f"2 keys claim to be code-signing@g4 ({G4}, {G3.replace('g3', 'rogue')}); nothing was "
     "signed"),
    # the alias moved to a key of someone else's: never trusted, even with the tags right
    ([_target("arn:aws:kms:us-east-1:111122223333:key/rogue", None, current=True, tagged=False),
      _target(G4, 4)], _aliases(current="arn:aws:kms:us-east-1:111122223333:key/rogue"),
     IdentityMismatchError,
     f"alias/code-signing resolves to arn:aws:kms:us-east-1:111122223333:key/rogue, not to {G4}, "
     "the key tagged as code-signing@g4; nothing was signed"),
    ([_target(G4, 4, current=True)], _aliases(generation=G3), IdentityMismatchError,
     f"alias/code-signing/g4 resolves to {G3}, not to {G4}"),
    ([_target(G4, 4, current=True)], {"alias/code-signing": G4}, DeployedKeyError,
     "alias alias/code-signing/g4 of code-signing@g4 does not exist; apply the environment's "
     "stack first"),
    ([_target(G4, 4, current=True, state="Disabled")], _aliases(), DeployedKeyError,
     f"code-signing@g4 ({G4}) is Disabled; only an enabled key signs"),
    ([_target(G4, 4, current=True, spec="ECC_NIST_P256")], _aliases(), DeployedKeyError,
     "code-signing@g4 is deployed as ECC_NIST_P256, the inventory declares ECC_NIST_P384; "
     "apply the stack or correct the inventory"),
    ([_target(G4.replace(ACCOUNT, "999999999999"), 4, current=True)],
     _aliases(current=G4.replace(ACCOUNT, "999999999999")), DeployedKeyError,
     f"{G4.replace(ACCOUNT, '999999999999')} is in account 999999999999, the environment's "
     f"account is {ACCOUNT}: use the environment's credentials"),
    ([_target(G4, 4, current=True, tag_key="other-key")], _aliases(), DeployedKeyError,
     "code-signing@g4 is not deployed"),
])
def test_fails_pin(targets: list[KeyTarget], aliases: dict[str, str | None],
                   error: type[Exception], message: str) -> None:
    with pytest.raises(error) as err:
        identity.pin_target(_key(), 4, targets, aliases=aliases, account_id=ACCOUNT)
    assert str(err.value).startswith(message)


def test_gcp_versions_map_onto_generations_and_only_the_version_in_use_signs() -> None:
    key = _key(cloud=Cloud.GCP, spec="EC_SIGN_P384_SHA384", alias=None, generation=2,
               generations=(Generation(generation=2, created_on=dt.date(2026, 1, 1)),
                            Generation(generation=1, created_on=dt.date(2025, 1, 1),
                                       verify_until=dt.date(2099, 1, 1))))
    base = "projects/p/locations/l/keyRings/r/cryptoKeys/code-signing/cryptoKeyVersions"
    v1 = KeyTarget(key="code-signing", generation=1, ref=f"{base}/1", state="ENABLED",
                   spec="EC_SIGN_P384_SHA384", current=False)
    v2 = KeyTarget(key="code-signing", generation=2, ref=f"{base}/2", state="ENABLED",
                   spec="EC_SIGN_P384_SHA384", current=True)
    assert identity.pin_target(key, 2, [v2, v1], aliases={}).ref == f"{base}/2"
    with pytest.raises(IdentityMismatchError, match=f"^{base}/2, mapped to code-signing@g2, is "
                                                    f"not the version in use \\({base}/1\\)"):
        identity.pin_target(key, 2, [replace(v2, current=False), replace(v1, current=True)],
                            aliases={})


def _record(gen: int, fp: str, started: str, outcome: str = "PASSED", kind: str = "sign-canary",
            key: str = "code-signing") -> DrillResult:
    return DrillResult(run_id="r", environment="prod", kind=kind, key=key, generation=gen,
                       tier="production", started_at=started, ended_at=started, outcome=outcome,
                       reason="", identity="x", details={"public_key_sha256": fp})


def test_the_pin_is_the_first_passing_canary_of_the_generation() -> None:
    history = [_record(4, "later", "2026-07-02T00:00:00.000Z"),
               _record(4, "failed", "2026-06-01T00:00:00.000Z", outcome="INTEGRITY_ALARM"),
               _record(4, "other-key", "2026-06-01T00:00:00.000Z", key="document-signing"),
               _record(3, "g3", "2026-06-01T00:00:00.000Z"),
               _record(4, "first", "2026-06-02T00:00:00.000Z")]
    assert identity.recorded_fingerprint(history, "code-signing", 4) == "first"
    assert identity.recorded_fingerprint(history, "code-signing", 5) is None
    der = spki(RSA_KEY)
    assert identity.fingerprint(der) == canary_fingerprint(der)  # one fingerprint, two writers


def test_pin_check_by_tier() -> None:
    prod, dev = _key(), _key(tier=Tier.NON_PRODUCTION)
    assert identity.check_pin(prod, 4, "abc", "abc", env="prod", evidence="ev") is True
    assert identity.check_pin(dev, 4, "abc", None, env="dev", evidence="ev") is False
    with pytest.raises(NotPinnedError) as err:
        identity.check_pin(prod, 4, "abc", None, env="prod", evidence="s3://b/drills/")
    assert (err.value.code, err.value.exit_code) == ("KP907", 2)
    assert err.value.message == (
        "code-signing@g4 (production tier) has no passing sign canary in the evidence at "
        "s3://b/drills/, so nothing recorded its public key (abc); run `keyplane drill prod "
        "--key code-signing --kind sign-canary` first, then request again")
    with pytest.raises(IdentityMismatchError) as err:
        identity.check_pin(dev, 4, "new", "old", env="dev", evidence="ev")
    assert (err.value.exit_code, err.value.message) == (
        1, "the public key of code-signing@g4 changed since its first drill (recorded old, now "
           "new); nothing was signed")
    assert {Tier.CA, Tier.PRODUCTION} == identity.PIN_REQUIRED
