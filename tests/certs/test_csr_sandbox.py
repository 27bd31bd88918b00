"""`keyplane csr` end to end: signed through AWS KMS (moto's server behind the sandbox front,
over HTTP) and Cloud KMS (the real google-cloud-kms client over gRPC into the sandbox's fake),
for every signing spec the tiers allow, verified offline with `cryptography` and with
`openssl req -verify`; and every refusal, with its code, its exit and no cloud call made.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keyplane.drills.crypto import public_der
from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.gcp_fake import GcpFaultRule
from keyplane.sandbox.server import Sandbox
from tests.certs.support import Applied, applied_estate, copy_envs
from tests.sandbox.helpers import aws, gcp, run_cli, start_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.synth]

OPENSSL = shutil.which("openssl")
SUBJECT = "CN=signer.example.com,O=Example,C=DE"
SANS = ("DNS:signer.example.com", "DNS:*.signer.example.com", "IP:10.20.30.40", "IP:2001:db8::7",
        "URI:spiffe://example.org/ns/lab/sa/issuer", "email:pki@example.com")
LAB_REGION = "eu-west-1"
# what a request may call in AWS: reads to find and pin the key, then one Sign
AWS_READS = {"ListKeys", "ListResourceTags", "DescribeKey", "GetPublicKey"}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def estate(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return applied_estate(sb, tmp_path_factory.mktemp("estate"))


@pytest.fixture
def fresh(sb: Sandbox, tmp_path: Path) -> Applied:
    """An estate of the test's own, for tests that change the cloud."""
    return applied_estate(sb, tmp_path / "own")


@pytest.fixture(autouse=True)
def _recorded(sb: Sandbox) -> Iterator[None]:
    """Every call each test makes is recorded; no fault rule outlives its test."""
    sb.front.calls.clear()
    sb.front.record_calls = True
    sb.kms_fake.calls.clear()
    sb.kms_fake.record_calls = True
    yield
    sb.front.rules = []
    sb.kms_fake.rules = []


def request(capsys: pytest.CaptureFixture[str], sb: Sandbox, applied: Applied, env: str,
            key: str, *args: str, envs: Path | None = None, subject: str = SUBJECT,
            sans: tuple[str, ...] = SANS) -> tuple[int, str, str]:
    """`keyplane csr ENV KEY ...` in-process: (exit code, stdout, stderr)."""
    san_args = [a for s in sans for a in ("--san", s)]
    return run_cli(capsys, "csr", env, key, "--subject", subject, *san_args,
                   "-d", str(envs or applied.envs), "--endpoint-url", sb.aws.url,
                   "--gcp-endpoint", sb.gcp.target, "--evidence-location",
                   str(applied.evidence / env), "--audit-log",
                   str(applied.envs.parent / "audit.jsonl"), "--max-attempts", "1", *args)


def sign_calls(sb: Sandbox) -> int:
    """KMS Sign plus Cloud KMS AsymmetricSign calls recorded so far."""
    return sum(1 for c in sb.front.calls if c[1] == "Sign") + \
        sb.kms_fake.calls.count("AsymmetricSign")


def audit_events(applied: Applied) -> list[dict[str, Any]]:
    path = applied.envs.parent / "audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


PSS = "1.2.840.113549.1.1.10"
# algorithm -> (signatureAlgorithm OID, hash): written out here, not taken from the code
EXPECTED = {
    **{f"RSASSA_PKCS1_V1_5_SHA_{b}": (f"1.2.840.113549.1.1.{o}", f"sha{b}")
       for b, o in ((256, 11), (384, 12), (512, 13))},
    **{f"RSASSA_PSS_SHA_{b}": (PSS, f"sha{b}") for b in (256, 384, 512)},
    **{f"ECDSA_SHA_{b}": (f"1.2.840.10045.4.3.{o}", f"sha{b}")
       for b, o in ((256, 2), (384, 3), (512, 4))},
    "RSA_SIGN_PSS_2048_SHA256": (PSS, "sha256"),
    "RSA_SIGN_PKCS1_3072_SHA256": ("1.2.840.113549.1.1.11", "sha256"),
    "EC_SIGN_P256_SHA256": ("1.2.840.10045.4.3.2", "sha256"),
    "EC_SIGN_P384_SHA384": ("1.2.840.10045.4.3.3", "sha384"),
}
SAN_TYPES = {"DNS": x509.DNSName, "IP": x509.IPAddress, "URI": x509.UniformResourceIdentifier,
             "email": x509.RFC822Name}


def check_request(pem: str, public_key: bytes, algorithm: str, tmp_path: Path
                  ) -> x509.CertificateSigningRequest:
    """The request verifies offline (cryptography, and openssl when present), carries the
    KMS key's public key, the subject and every SAN, and names the algorithm it was signed
    with."""
    loaded = x509.load_pem_x509_csr(pem.encode())
    assert loaded.is_signature_valid
    assert loaded.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        public_der(public_key)
    assert loaded.subject.rfc4514_string() == SUBJECT
    ext = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted((type(n).__name__, str(n.value)) for n in ext.value) == sorted(
        (SAN_TYPES[t].__name__, v) for t, v in (s.split(":", 1) for s in SANS))
    assert not ext.critical
    oid, hash_name = EXPECTED[algorithm]
    assert loaded.signature_algorithm_oid.dotted_string == oid
    assert loaded.signature_hash_algorithm is not None
    assert loaded.signature_hash_algorithm.name == hash_name
    if OPENSSL is None:  # the cryptography checks above ran; say that openssl's did not
        pytest.skip("openssl is not on PATH: verified with cryptography only")
    path = tmp_path / "request.pem"
    path.write_text(pem, encoding="utf-8")
    proc = subprocess.run([OPENSSL, "req", "-verify", "-noout", "-in", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "verify OK" in proc.stdout + proc.stderr, proc.stderr
    return loaded


AWS_CASES = [
    ("rsa-2048", "RSASSA_PKCS1_V1_5_SHA_256"), ("rsa-2048", "RSASSA_PSS_SHA_256"),
    ("rsa-3072", "RSASSA_PKCS1_V1_5_SHA_256"), ("rsa-3072", "RSASSA_PSS_SHA_256"),
    ("rsa-4096", "RSASSA_PKCS1_V1_5_SHA_256"), ("rsa-4096", "RSASSA_PSS_SHA_256"),
    ("rsa-3072", "RSASSA_PSS_SHA_384"), ("rsa-4096", "RSASSA_PKCS1_V1_5_SHA_512"),
    ("rsa-2048", "RSASSA_PSS_SHA_512"), ("rsa-2048", "RSASSA_PKCS1_V1_5_SHA_384"),
    ("ecc-p256", None), ("ecc-p384", None), ("ecc-p521", None), ("ecc-k256", None),
]
DEFAULTS = {"rsa-2048": "RSASSA_PKCS1_V1_5_SHA_256", "ecc-p256": "ECDSA_SHA_256",
            "ecc-p384": "ECDSA_SHA_384", "ecc-p521": "ECDSA_SHA_512", "ecc-k256": "ECDSA_SHA_256"}


@pytest.mark.parametrize(("key", "algorithm"), AWS_CASES)
def test_aws_request_for_every_signing_spec_verifies_offline(
        sb: Sandbox, estate: Applied, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        key: str, algorithm: str | None) -> None:
    # a Sign that names an alias would be refused: the request signs by the pinned ARN only
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="kms", operation="Sign",
                                match="alias/")]
    args = ("--format", "json", *(("--algorithm", algorithm) if algorithm else ()))
    code, out, err = request(capsys, sb, estate, "lab", key, *args)
    assert code == 0, err
    data = json.loads(out)
    kms = aws(sb, estate.lab_account, "kms", LAB_REGION)
    arn = kms.describe_key(KeyId=f"alias/{key}/g1")["KeyMetadata"]["Arn"]
    public = bytes(kms.get_public_key(KeyId=arn)["PublicKey"])
    used = algorithm or DEFAULTS[key]
    assert (data["ref"], data["generation"], data["algorithm"], data["pinned"]) == (
        arn, 1, used, False)
    assert data["public_key_sha256"] == hashlib.sha256(public).hexdigest()[:16]
    loaded = check_request(data["csr_pem"], public, used, tmp_path)
    assert data["csr_sha256"] == hashlib.sha256(
        loaded.public_bytes(serialization.Encoding.DER)).hexdigest()
    # one Sign, and nothing but reads besides it: a request changes nothing in the account
    assert sign_calls(sb) == 1
    assert {c[1] for c in sb.front.calls} == AWS_READS | {"Sign"}
    assert err.startswith(f"keyplane: certificate request for lab {key}@g1 signed in kms by "
                          f"{arn} with {used} ")
    assert "not pinned: no sign canary recorded it yet (allowed for the non-production tier" \
        in err


GCP_CASES = {"gcp-rsa-pss": "RSA_SIGN_PSS_2048_SHA256",
             "gcp-rsa-pkcs1": "RSA_SIGN_PKCS1_3072_SHA256",
             "gcp-ec-p256": "EC_SIGN_P256_SHA256", "gcp-ec-p384": "EC_SIGN_P384_SHA384"}


@pytest.mark.parametrize(("key", "algorithm"), sorted(GCP_CASES.items()))
def test_gcp_request_signs_through_cloud_kms_and_verifies_offline(
        sb: Sandbox, estate: Applied, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        key: str, algorithm: str) -> None:
    out_file = tmp_path / "out" / f"{key}.pem"
    code, out, err = request(capsys, sb, estate, "lab", key, "--out", str(out_file))
    assert code == 0, err
    assert out == ""  # the request went to the file, atomically
    version = (f"projects/{estate.project}/locations/europe-west1/keyRings/keyplane-lab/"
               f"cryptoKeys/{key}/cryptoKeyVersions/1")
    public = gcp(sb).get_public_key(request={"name": version}).pem.encode()
    check_request(out_file.read_text(encoding="utf-8"), public, algorithm, tmp_path)
    assert f"keyplane: wrote {out_file}\n" in err
    assert f"signed in kms by {version} with {algorithm} " in err
    assert sign_calls(sb) == 1 and sb.front.calls == []  # Cloud KMS only


def test_a_request_is_an_audit_event_naming_what_signed_it(
        sb: Sandbox, estate: Applied, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = request(capsys, sb, estate, "lab", "rotated-signer", "--format", "json",
                             sans=("DNS:rotated.example.com",))
    assert code == 0, err
    data = json.loads(out)
    assert data["generation"] == 3  # the current generation, by default
    event = audit_events(estate)[-1]
    assert (event["command"], event["action"], event["outcome"], event["resource"]) == (
        "csr", "csr.sign", "ok", "rotated-signer@g3")
    assert event["details"] == {
        "key": "rotated-signer", "generation": 3, "ref": data["ref"], "algorithm": "ECDSA_SHA_256",
        "subject": SUBJECT, "sans": ["DNS:rotated.example.com"],
        "public_key_sha256": data["public_key_sha256"], "pinned": False,
        "csr_sha256": data["csr_sha256"]}
    kms = aws(sb, estate.lab_account, "kms", LAB_REGION)
    assert data["ref"] == kms.describe_key(KeyId="alias/rotated-signer/g3")["KeyMetadata"]["Arn"]


# --- refusals: coded, exit 2, no traceback, nothing written, no cloud call ------------------------

REFUSALS = [
    ("rotated-signer@g2", (), "KP904",
     "rotated-signer@g2 is a verify-only generation (verify until 2099-01-01): it verifies what "
     "it signed before, it never signs a new request; the current generation is 3 "
     "(rotated-signer@g3)"),
    ("rotated-signer@g1", (), "KP904",
     "rotated-signer@g1 is a disabled generation: it signs nothing; the current generation is 3 "
     "(rotated-signer@g3)"),
    ("lab-data", (), "KP903",
     "key lab-data has usage encrypt (ENCRYPT_DECRYPT); a certificate request needs a signing "
     "key (SIGN_VERIFY); signing keys of lab: rsa-2048, rsa-3072, rsa-4096, ecc-p256, ecc-p384, "
     "ecc-p521, ecc-k256, rotated-signer, gcp-rsa-pss, gcp-rsa-pkcs1, gcp-ec-p256, gcp-ec-p384"),
    ("code-signer", (), "KP902",
     "key code-signer is not declared in environment lab; declared: rsa-2048, rsa-3072, "
     "rsa-4096, ecc-p256, ecc-p384, ecc-p521, ecc-k256, rotated-signer, lab-data, gcp-rsa-pss, "
     "gcp-rsa-pkcs1, gcp-ec-p256, gcp-ec-p384 (signing keys: rsa-2048, rsa-3072, rsa-4096, "
     "ecc-p256, ecc-p384, ecc-p521, ecc-k256, rotated-signer, gcp-rsa-pss, gcp-rsa-pkcs1, "
     "gcp-ec-p256, gcp-ec-p384)"),
    ("rsa-2048@3", (), "KP902",
     "key 'rsa-2048@3' must be KEY or KEY@gN (e.g. code-signing or code-signing@g4)"),
    ("ecc-p256", ("--subject", "CN=ok,FOO=bar"), "KP900",
     "subject 'CN=ok,FOO=bar': unknown attribute type 'FOO'; allowed: CN, L, ST, O, OU, C, "
     "STREET, DC, UID or a dotted object identifier"),
    ("ecc-p256", ("--san", "FTP:files.example.com"), "KP901",
     "--san 'FTP:files.example.com': the type must be one of DNS:, IP:, URI:, email: (e.g. "
     "DNS:signer.example.com)"),
    ("ecc-p256", ("--san", "DNS:bad_name.example.com"), "KP901",
     "--san 'DNS:bad_name.example.com': 'bad_name.example.com' has the label 'bad_name'; labels "
     "are 1-63 letters, digits or '-', not starting or ending with '-' (a wildcard only as the "
     "whole first label)"),
    ("ecc-p384", ("--algorithm", "RSASSA_PSS_SHA_256"), "KP905",
     "--algorithm RSASSA_PSS_SHA_256 is not a signing algorithm of ECC_NIST_P384; allowed: "
     "ECDSA_SHA_384"),
    ("gcp-rsa-pss", ("--algorithm", "RSASSA_PSS_SHA_256"), "KP905",
     "--algorithm RSASSA_PSS_SHA_256 is not a signing algorithm of RSA_SIGN_PSS_2048_SHA256; "
     "allowed: RSA_SIGN_PSS_2048_SHA256"),
]


@pytest.mark.parametrize(("key", "args", "code", "message"), REFUSALS,
                         ids=[f"{r[2]}-{r[0]}" for r in REFUSALS])
def test_fails_refused_before_any_cloud_call(
        sb: Sandbox, estate: Applied, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        key: str, args: tuple[str, ...], code: str, message: str) -> None:
    out_file = tmp_path / "never.pem"
    extra = list(args)
    subject = SUBJECT
    if extra[:1] == ["--subject"]:
        subject, extra = extra[1], extra[2:]
    exit_code, out, err = request(capsys, sb, estate, "lab", key, "--out", str(out_file),
                                  *extra, subject=subject)
    assert exit_code == 2
    assert err == f"keyplane: error {code}: {message}\n"
    assert out == "" and "Traceback" not in err
    assert not out_file.exists()
    assert sb.front.calls == [] and sb.kms_fake.calls == []


def test_fails_verify_only_generation_as_a_json_error_object(
        sb: Sandbox, estate: Applied, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = request(capsys, sb, estate, "lab", "rotated-signer@g2", "--format", "json")
    assert code == 2 and err == ""
    error = json.loads(out)
    assert (error["error"], error["problems"][0]["code"]) == ("KP904", "KP904")
    assert "the current generation is 3 (rotated-signer@g3)" in error["message"]


def test_fails_a_spec_without_request_support_before_any_cloud_call(
        sb: Sandbox, estate: Applied, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs = copy_envs(estate, tmp_path)
    lab = envs / "lab.yaml"
    lab.write_text(lab.read_text(encoding="utf-8") + (
        "  - {name: pq-signer, tier: non-production, cloud: aws, usage: sign, spec: ML_DSA_65, "
        "users: [issuer], generation: 1, generations: [{generation: 1, created_on: "
        "2026-05-01}]}\n"), encoding="utf-8")
    code, out, err = request(capsys, sb, estate, "lab", "pq-signer", envs=envs)
    assert code == 2 and out == ""
    assert err == ("keyplane: error KP903: spec ML_DSA_65 has no certificate-request support in "
                   "keyplane; supported aws signing specs: RSA_2048, RSA_3072, RSA_4096, "
                   "ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1\n")
    assert sb.front.calls == []


def test_fails_a_current_generation_that_is_not_deployed_yet(
        sb: Sandbox, estate: Applied, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `keyplane rotate` merged, the stack not applied: g4 is current in the inventory only
    envs = copy_envs(estate, tmp_path)
    lab = envs / "lab.yaml"
    text = lab.read_text(encoding="utf-8")
    old = "    generation: 3\n    generations:\n      - {generation: 3, created_on: 2026-05-01}\n"
    assert old in text
    lab.write_text(text.replace(old, (
        "    generation: 4\n    generations:\n      - {generation: 4, created_on: 2026-06-01}\n"
        "      - {generation: 3, created_on: 2026-05-01, verify_until: 2099-06-01}\n")),
        encoding="utf-8")
    code, out, err = request(capsys, sb, estate, "lab", "rotated-signer", envs=envs)
    assert code == 2 and out == ""
    assert err == ("keyplane: error KP906: rotated-signer@g4 is not deployed (deployed "
                   "generations of rotated-signer: g1, g2, g3); apply the environment's stack "
                   "first\n")
    assert sign_calls(sb) == 0


# --- the deployed key is not provably the generation's: exit 1, nothing signed or written --------

def _rogue(sb: Sandbox, account: str, spec: str, tags: dict[str, str] | None = None) -> str:
    kms = aws(sb, account, "kms", LAB_REGION)
    kwargs = {"Tags": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]} if tags else {}
    return str(kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY", **kwargs)["KeyMetadata"]["Arn"])


def test_fails_an_alias_moved_to_another_key(
        sb: Sandbox, fresh: Applied, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kms = aws(sb, fresh.lab_account, "kms", LAB_REGION)
    real = kms.describe_key(KeyId="alias/ecc-p384/g1")["KeyMetadata"]["Arn"]
    rogue = _rogue(sb, fresh.lab_account, "ECC_NIST_P384")
    kms.update_alias(AliasName="alias/ecc-p384", TargetKeyId=rogue)
    sb.front.calls.clear()
    out_file = tmp_path / "never.pem"
    code, out, err = request(capsys, sb, fresh, "lab", "ecc-p384", "--out", str(out_file))
    assert code == 1 and out == "" and not out_file.exists()
    assert err == (f"keyplane: error KP908: alias/ecc-p384 resolves to {rogue}, not to {real}, "
                   "the key tagged as ecc-p384@g1; nothing was signed\n")
    assert sign_calls(sb) == 0


def test_fails_two_keys_tagged_as_one_generation(
        sb: Sandbox, fresh: Applied, capsys: pytest.CaptureFixture[str]) -> None:
    rogue = _rogue(sb, fresh.lab_account, "ECC_NIST_P256", {
        "keyplane:env": "lab", "keyplane:tier": "non-production", "keyplane:key": "ecc-p256",
        "keyplane:generation": "1"})
    sb.front.calls.clear()
    code, _, err = request(capsys, sb, fresh, "lab", "ecc-p256")
    assert code == 1
    assert err.startswith("keyplane: error KP908: 2 keys claim to be ecc-p256@g1 (")
    assert rogue in err and err.endswith("); nothing was signed\n")
    assert sign_calls(sb) == 0


def test_fails_a_disabled_current_generation(
        sb: Sandbox, fresh: Applied, capsys: pytest.CaptureFixture[str]) -> None:
    kms = aws(sb, fresh.lab_account, "kms", LAB_REGION)
    md = kms.describe_key(KeyId="alias/rsa-3072/g1")["KeyMetadata"]
    arn = md["Arn"]
    kms.disable_key(KeyId=md["KeyId"])
    code, _, err = request(capsys, sb, fresh, "lab", "rsa-3072")
    assert code == 2
    assert err == (f"keyplane: error KP906: rsa-3072@g1 ({arn}) is Disabled; only an enabled key "
                   "signs\n")
    assert sign_calls(sb) == 0


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_fails_a_signature_that_does_not_verify(
        sb: Sandbox, estate: Applied, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        cloud: str) -> None:
    if cloud == "aws":
        sb.front.rules = [FaultRule(error="CorruptSignature", service="kms", operation="Sign")]
    else:
        sb.kms_fake.rules = [GcpFaultRule(code="CorruptSignature", method="AsymmetricSign")]
    out_file = tmp_path / "never.pem"
    key = "rsa-4096" if cloud == "aws" else "gcp-ec-p256"
    code, out, err = request(capsys, sb, estate, "lab", key, "--out", str(out_file))
    assert code == 1 and out == "" and not out_file.exists()
    assert err == ("keyplane: error KP908: the signature the kms returned does not verify with "
                   "the generation's public key; nothing was written\n")
    assert sign_calls(sb) == 1
    event = audit_events(estate)[-1]
    assert (event["action"], event["outcome"], event["resource"]) == (
        "csr.sign", "error", f"{key}@g1")
    assert event["reason"].startswith("IdentityMismatchError: the signature the kms returned")


AWS_NEEDS = ("the caller needs kms:DescribeKey, kms:GetPublicKey and kms:Sign on the generation "
             "(a key user of it) and kms:ListKeys, kms:ListResourceTags to find it")


@pytest.mark.parametrize(("operation", "error", "exit_code", "tail"), [
    ("Sign", "AccessDeniedException", 2, f"Sign denied (AccessDeniedException): {AWS_NEEDS}"),
    ("ListKeys", "AccessDeniedException", 2,
     f"ListKeys denied (AccessDeniedException): {AWS_NEEDS}"),
    ("Sign", "ThrottlingException", 3,
     "Sign throttled (ThrottlingException): injected by the keyplane sandbox; try again later"),
])
def test_fails_a_refused_or_throttled_aws_call(
        sb: Sandbox, estate: Applied, capsys: pytest.CaptureFixture[str], operation: str,
        error: str, exit_code: int, tail: str) -> None:
    sb.front.rules = [FaultRule(error=error, service="kms", operation=operation)]
    code, out, err = request(capsys, sb, estate, "lab", "ecc-p521")
    assert (code, out) == (exit_code, "")
    assert err == f"keyplane: error KP909: ecc-p521@g1: {tail}\n"


def test_fails_a_refused_cloud_kms_sign(
        sb: Sandbox, estate: Applied, capsys: pytest.CaptureFixture[str]) -> None:
    sb.kms_fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="AsymmetricSign")]
    code, out, err = request(capsys, sb, estate, "lab", "gcp-rsa-pkcs1")
    assert (code, out) == (2, "")
    assert err == ("keyplane: error KP909: gcp-rsa-pkcs1@g1: AsymmetricSign denied "
                   "(PERMISSION_DENIED): the caller needs cloudkms.cryptoKeyVersions.viewPublicKey "
                   "and cloudkms.cryptoKeyVersions.useToSign on the version "
                   "(roles/cloudkms.signerVerifier) and cloudkms.cryptoKeys.get, "
                   "cloudkms.cryptoKeyVersions.list to find it\n")


# --- production: the public key must be on record from a sign canary -----------------------------

def test_production_request_needs_the_public_key_its_first_sign_canary_recorded(
        sb: Sandbox, fresh: Applied, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evidence = fresh.evidence / "shop"
    code, out, err = request(capsys, sb, fresh, "shop", "shop-signer")
    assert code == 2 and out == ""
    assert err.startswith("keyplane: error KP907: shop-signer@g2 (production tier) has no passing "
                          f"sign canary in the evidence at {evidence}, so nothing recorded its "
                          "public key (")
    assert err.endswith("); run `keyplane drill shop --key shop-signer --kind sign-canary` "
                        "first, then request again\n")
    assert sign_calls(sb) == 0

    code, drilled, err = run_cli(
        capsys, "drill", "shop", "-d", str(fresh.envs), "--key", "shop-signer", "--kind",
        "sign-canary", "--format", "json", "--endpoint-url", sb.aws.url, "--evidence-location",
        str(evidence), "--audit-log", str(tmp_path / "drill-audit.jsonl"))
    assert code == 0, err
    recorded = next(r for r in json.loads(drilled)["results"] if r["generation"] == 2)
    code, out, err = request(capsys, sb, fresh, "shop", "shop-signer", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["pinned"], data["generation"], data["tier"]) == (True, 2, "production")
    assert data["public_key_sha256"] == recorded["details"]["public_key_sha256"]
    assert data["ref"] == recorded["details"]["ref"]
    assert err.endswith("pinned to its first sign canary\n")
    kms = aws(sb, fresh.shop_account, "kms", "us-east-1")
    check_request(data["csr_pem"], bytes(kms.get_public_key(KeyId=data["ref"])["PublicKey"]),
                  "ECDSA_SHA_384", tmp_path)

    # someone with tagging and alias rights swaps in a key of their own, tags, aliases and all:
    # only the public key recorded at g2's first drill gives it away, before anything is signed
    real = data["ref"]
    kms.untag_resource(KeyId=real, TagKeys=["keyplane:key", "keyplane:generation"])
    rogue = str(kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY", Tags=[
        {"TagKey": "keyplane:key", "TagValue": "shop-signer"},
        {"TagKey": "keyplane:generation", "TagValue": "2"}])["KeyMetadata"]["Arn"])
    for alias in ("alias/shop-signer", "alias/shop-signer/g2"):
        kms.update_alias(AliasName=alias, TargetKeyId=rogue)
    signed_before = sign_calls(sb)
    out_file = tmp_path / "never.pem"
    code, out, err = request(capsys, sb, fresh, "shop", "shop-signer", "--out", str(out_file))
    assert code == 1 and out == "" and not out_file.exists()
    assert err.startswith("keyplane: error KP908: the public key of shop-signer@g2 changed since "
                          f"its first drill (recorded {data['public_key_sha256']}, now ")
    assert err.endswith("); nothing was signed\n")
    assert sign_calls(sb) == signed_before
