"""`keyplane certs` end to end against the sandbox: real X.509 certificates (made with
`cryptography`, signed by a local CA, or issued by the sandbox's ACM Private CA from a
request signed in KMS) for public keys AWS KMS (moto's server behind the sandbox front,
over HTTP) and Cloud KMS (the real google-cloud-kms client over gRPC into the sandbox's
fake) hold; found in files, ACM and ACM PCA; matched to generations; every rule's PASS and
FAIL; UNKNOWN when ACM denies (exit 3); bad input with its code and no cloud call.

The estate is the csr tests' (`tests.certs.support`: `lab` non-production, `shop`
production), applied once per module; each test edits its own copy of the inventory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keyplane.cli import COMMANDS
from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.server import Sandbox
from keyplane.schema import validate
from tests.certs.certs_support import (
    LAB_REGION,
    SHOP_REGION,
    LocalCa,
    edit_env,
    foreign_key,
    gcp_public_key,
    key_of,
    kms_key,
    kms_public_key,
    pem,
    record_canary,
    utc,
)
from tests.certs.support import Applied, applied_estate
from tests.sandbox.helpers import aws, run_cli, start_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.synth]

AT = "2026-12-01"
RULES = ("certs.key_not_in_inventory", "certs.retired_generation", "certs.outlives_key",
         "certs.expiring_without_successor", "certs.ca_key_not_in_hsm")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def estate(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return applied_estate(sb, tmp_path_factory.mktemp("estate"))


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command as the CLI registry names it."""
    monkeypatch.setitem(COMMANDS, "certs", "keyplane.commands.certs:certs")


@pytest.fixture(autouse=True)
def _recorded(sb: Sandbox) -> Iterator[None]:
    """Every AWS call each test makes is recorded; no fault rule outlives its test."""
    sb.front.calls.clear()
    sb.front.record_calls = True
    yield
    sb.front.rules = []


def certs(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path, env: str,
          *args: str) -> tuple[int, dict[str, Any] | str, str]:
    """`keyplane certs ENV --format json ...` in-process: (exit, parsed JSON, stderr); the
    JSON report conforms to the post-apply schema."""
    fmt = "text" if "--format" in args else "json"
    argv = ["certs", env, "-d", str(envs), "--endpoint-url", sb.aws.url, "--gcp-endpoint",
            sb.gcp.target, "--max-attempts", "1", "--audit-log",
            str(envs.parent / "audit.jsonl"), *args]
    if fmt == "json":
        argv += ["--format", "json"]
    code, out, err = run_cli(capsys, *argv)
    if fmt != "json" or code == 2:
        return code, out, err
    doc = json.loads(out)
    validate(doc, "post-apply")
    return code, doc, err


def failed(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """(rule, certificate) of every finding."""
    return {(f["rule_id"], f["resource"]) for f in doc["findings"]}


def outcomes(doc: dict[str, Any], cert_id: str) -> dict[str, str]:
    """rule -> outcome of one certificate."""
    return next(c["outcomes"] for c in doc["certificates"] if c["id"] == cert_id)


def write(envs: Path, rel: str, data: bytes) -> str:
    """Write a certificate file under the repository; its id (path from the repository)."""
    path = envs.parent / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel


# ---- files: every rule, pass and fail ---------------------------------------------------------

def test_files_each_rule_fails_and_passes_on_the_generation_its_key_is(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    acct = estate.lab_account
    ca = LocalCa()
    g3 = kms_public_key(sb, acct, LAB_REGION, "rotated-signer", 3)
    g2 = kms_public_key(sb, acct, LAB_REGION, "rotated-signer", 2)
    g1 = kms_public_key(sb, acct, LAB_REGION, "rotated-signer", 1)  # disabled in KMS
    p256 = kms_public_key(sb, acct, LAB_REGION, "ecc-p256", 1)
    gcp_ec = gcp_public_key(sb, estate.project, "gcp-ec-p256")

    def edit(data: dict[str, Any]) -> None:
        rs = key_of(data, "rotated-signer")
        rs["owner"] = "pki-team@example.com"
        rs["generations"] = [  # g3 current until 2028-04-30 (730 d); g2's overlap ended
            {"generation": 3, "created_on": dt.date(2026, 5, 1)},
            {"generation": 2, "created_on": dt.date(2025, 5, 1),
             "verify_until": dt.date(2026, 11, 15)},
            {"generation": 1, "created_on": dt.date(2024, 5, 1),
             "verify_until": dt.date(2025, 6, 1), "enabled": False}]
        rs["certificates"] = {"files": ["../certs/rotated/"]}
        p = key_of(data, "ecc-p256")
        p["max_key_age_in_days"] = 220  # g1 (2026-05-01) reaches it on 2026-12-07
        p["certificates"] = {"files": ["../certs/p256-expiring.pem", "../certs/ca-on-kms.crt"]}
        key_of(data, "gcp-ec-p256")["certificates"] = {"files": ["../certs/ca-on-gcp.der"]}
    envs = edit_env(estate, tmp_path, "lab", edit)
    record_canary(tmp_path / "evidence" / "lab", "lab", "rotated-signer", 1, g1)
    ok = write(envs, "certs/rotated/ok.pem", pem(ca.issue(g3, "ok", utc("2026-06-01"),
                                                          utc("2027-06-01"))))
    outlives = write(envs, "certs/rotated/outlives.pem", pem(ca.issue(
        g3, "outlives", utc("2026-06-01"), utc("2029-01-01"))) + pem(ca.cert))  # + its chain
    retired = write(envs, "certs/rotated/retired.crt", pem(ca.issue(
        g2, "retired", utc("2026-01-01"), utc("2027-01-01"))))
    disabled = write(envs, "certs/rotated/disabled.cer", pem(ca.issue(
        g1, "disabled", utc("2025-01-01"), utc("2027-03-01"))))
    expired = write(envs, "certs/rotated/expired.pem", pem(ca.issue(
        g1, "expired", utc("2024-06-01"), utc("2025-06-01"))))
    foreign = write(envs, "certs/rotated/laptop.pem", pem(ca.issue(
        foreign_key().public_key(), "laptop", utc("2026-06-01"), utc("2027-01-01"))))
    local_ca = write(envs, "certs/rotated/local-ca.pem", pem(ca.cert))
    write(envs, "certs/rotated/README.txt", b"not a certificate: ignored by its suffix")
    expiring = write(envs, "certs/p256-expiring.pem", pem(ca.issue(
        p256, "expiring", utc("2026-06-01"), utc("2026-12-05"))))
    ca_kms = write(envs, "certs/ca-on-kms.crt", pem(ca.issue(
        p256, "issuing ca on kms", utc("2026-06-01"), utc("2026-12-06"), is_ca=True)))
    ca_gcp = write(envs, "certs/ca-on-gcp.der", ca.issue(
        gcp_ec, "issuing ca on cloud kms software", utc("2026-06-01"),
        utc("2027-01-01"), is_ca=True).public_bytes(serialization.Encoding.DER))

    sb.front.calls.clear()
    code, doc, err = certs(capsys, sb, envs, "lab", "--at", AT)
    assert isinstance(doc, dict)
    assert code == 1, err
    assert failed(doc) == {
        ("certs.outlives_key", outlives),
        ("certs.retired_generation", retired), ("certs.outlives_key", retired),
        ("certs.retired_generation", disabled), ("certs.outlives_key", disabled),
        ("certs.key_not_in_inventory", foreign),
        ("certs.key_not_in_inventory", local_ca), ("certs.ca_key_not_in_hsm", local_ca),
        ("certs.expiring_without_successor", expiring),
        ("certs.expiring_without_successor", ca_kms),
        ("certs.ca_key_not_in_hsm", ca_gcp),
    }
    assert doc["unknowns"] == []
    assert outcomes(doc, ok) == dict.fromkeys(RULES[:4], "PASS") | {
        "certs.ca_key_not_in_hsm": "NOT_APPLICABLE"}
    assert set(outcomes(doc, expired).values()) == {"NOT_APPLICABLE"}
    assert outcomes(doc, ca_kms)["certs.ca_key_not_in_hsm"] == "PASS"
    by_id = {(f["rule_id"], f["resource"]): f for f in doc["findings"]}
    # the disabled generation was known by the fingerprint its sign canary recorded
    assert by_id[("certs.retired_generation", disabled)]["key"] == "rotated-signer@g1"
    assert "rotated-signer@g1 is disabled" in by_id[("certs.retired_generation",
                                                     disabled)]["reason"]
    assert by_id[("certs.outlives_key", outlives)]["expected"] == "2028-04-30"
    assert by_id[("certs.ca_key_not_in_hsm", ca_gcp)]["actual"] == "SOFTWARE"
    assert by_id[("certs.ca_key_not_in_hsm", local_ca)]["severity"] == "critical"
    assert by_id[("certs.expiring_without_successor", expiring)]["days_left"] == 4
    assert "reaches its maximum age" in by_id[("certs.expiring_without_successor",
                                               expiring)]["reason"]
    for f in doc["findings"]:
        if f["key"].startswith("rotated-signer"):
            assert f["owner"] == "pki-team@example.com"
        assert f["tier"] in ("non-production", "ca")
    # the timeline: each generation with the certificates it backs
    rs = next(t for t in doc["timeline"] if t["key"] == "rotated-signer")
    assert rs["owner"] == "pki-team@example.com"
    gens = {g["generation"]: g for g in rs["generations"]}
    assert [c["id"] for c in gens[3]["certificates"]] == [ok, outlives]
    assert [c["id"] for c in gens[2]["certificates"]] == [retired]
    assert [c["id"] for c in gens[1]["certificates"]] == [expired, disabled]
    assert (gens[1]["public_key"], gens[3]["public_key"]) == ("recorded", "read")
    assert {c["id"] for c in rs["unmatched"]} == {foreign, local_ca}
    # nothing was signed, nothing changed: reads only
    ops = {c[1] for c in sb.front.calls if c[0] in ("kms", "acm", "acm-pca")}
    assert ops <= {"ListKeys", "ListResourceTags", "DescribeKey", "GetPublicKey", "ListAliases"}

# ---- ACM Private CA: the CA's own certificate, and one it issued from a request signed in KMS --

def _private_ca(sb: Sandbox, account: str, storage: str | None = None) -> str:
    """An ACTIVE subordinate CA in the sandbox's ACM PCA: its CSR signed by a local root and
    installed, as an operator does it."""
    pca = aws(sb, account, "acm-pca", LAB_REGION)
    extra = {"KeyStorageSecurityStandard": storage} if storage else {}
    arn = str(pca.create_certificate_authority(
        CertificateAuthorityConfiguration={"KeyAlgorithm": "RSA_2048",
                                           "SigningAlgorithm": "SHA256WITHRSA",
                                           "Subject": {"CommonName": "lab issuing ca"}},
        CertificateAuthorityType="SUBORDINATE", **extra)["CertificateAuthorityArn"])
    csr = x509.load_pem_x509_csr(pca.get_certificate_authority_csr(
        CertificateAuthorityArn=arn)["Csr"].encode())
    root = LocalCa("lab root")
    now = dt.datetime.now(dt.UTC)
    cert = root.issue(csr.public_key(), "lab issuing ca", now - dt.timedelta(days=1),
                      now + dt.timedelta(days=1825), is_ca=True)
    pca.import_certificate_authority_certificate(CertificateAuthorityArn=arn,
                                                 Certificate=pem(cert),
                                                 CertificateChain=pem(root.cert))
    return arn


def test_acm_pca_ca_certificate_and_a_certificate_it_issued_for_a_kms_key_pass(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    """The request is `keyplane csr`'s, signed in KMS by ecc-p256's current generation; the
    sandbox's ACM PCA (moto) issues it. moto ignores `Validity` (it issues for 365 days
    from now), so the generation's dates are set relative to today and judged now."""
    acct = estate.lab_account
    ca_arn = _private_ca(sb, acct)
    today = dt.date.today()

    def edit(data: dict[str, Any]) -> None:
        k = key_of(data, "ecc-p256")
        k["generations"] = [{"generation": 1, "created_on": today - dt.timedelta(days=10)}]
        k["owner"] = "mesh-team"
    envs = edit_env(estate, tmp_path, "lab", edit)
    code, request, err = run_cli(capsys, "csr", "lab", "ecc-p256", "--subject",
                                 "CN=svc.lab.example", "-d", str(envs), "--endpoint-url",
                                 sb.aws.url, "--gcp-endpoint", sb.gcp.target, "--audit-log",
                                 str(tmp_path / "audit.jsonl"))
    assert code == 0, err
    pca = aws(sb, acct, "acm-pca", LAB_REGION)
    issued = str(pca.issue_certificate(
        CertificateAuthorityArn=ca_arn, Csr=request.encode(), SigningAlgorithm="SHA256WITHRSA",
        Validity={"Value": 90, "Type": "DAYS"})["CertificateArn"])

    def declare(data: dict[str, Any]) -> None:
        edit(data)
        key_of(data, "ecc-p256")["certificates"] = {
            "acm_pca": [{"authority_arn": ca_arn, "issued": [issued]}]}
    envs = edit_env(estate, tmp_path, "lab", declare)
    sb.front.calls.clear()
    code, doc, err = certs(capsys, sb, envs, "lab")
    assert isinstance(doc, dict)
    assert code == 0, (err, doc["findings"], doc["unknowns"])
    assert outcomes(doc, issued) == dict.fromkeys(RULES[:4], "PASS") | {
        "certs.ca_key_not_in_hsm": "NOT_APPLICABLE"}
    record = next(c for c in doc["certificates"] if c["id"] == issued)
    assert (record["key"], record["generation"], record["owner"], record["source"]) == (
        "ecc-p256", 1, "mesh-team", "acm-pca")
    assert outcomes(doc, ca_arn) == {
        "certs.key_not_in_inventory": "PASS", "certs.retired_generation": "NOT_APPLICABLE",
        "certs.outlives_key": "NOT_APPLICABLE", "certs.expiring_without_successor": "PASS",
        "certs.ca_key_not_in_hsm": "PASS"}
    reasons = next(c for c in doc["certificates"] if c["id"] == ca_arn)["reasons"]
    assert "FIPS_140_2_LEVEL_3_OR_HIGHER" in reasons["certs.ca_key_not_in_hsm"]
    ops = {c[1] for c in sb.front.calls if c[0] == "acm-pca"}
    assert ops == {"DescribeCertificateAuthority", "GetCertificateAuthorityCertificate",
                   "GetCertificate"}

    # a CA whose key storage is FIPS 140-2 level 2 is not the HSM a ca key needs
    weak = _private_ca(sb, acct, "FIPS_140_2_LEVEL_2_OR_HIGHER")

    def weak_ca(data: dict[str, Any]) -> None:
        declare(data)
        key_of(data, "ecc-p256")["certificates"]["acm_pca"].append({"authority_arn": weak})
    envs = edit_env(estate, tmp_path, "lab", weak_ca)
    code, doc, err = certs(capsys, sb, envs, "lab")
    assert isinstance(doc, dict)
    assert code == 1, err
    assert failed(doc) == {("certs.ca_key_not_in_hsm", weak)}
    (finding,) = doc["findings"]
    assert (finding["severity"], finding["tier"], finding["actual"]) == (
        "critical", "ca", "FIPS_140_2_LEVEL_2_OR_HIGHER")


# ---- ACM: by tags (every key type) and by ARN; denied is UNKNOWN --------------------------------

def _import(acm: Any, subject: str, key: Any, tags: dict[str, str]) -> str:
    """ImportCertificate of a certificate and its private key (ACM needs the key: an ACM
    certificate is never backed by a KMS key, so its key is never in the inventory unless
    the material was imported into KMS too)."""
    now = dt.datetime.now(dt.UTC)
    cert = LocalCa().issue(key.public_key(), subject, now - dt.timedelta(days=1),
                           now + dt.timedelta(days=200))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    labels = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    return str(acm.import_certificate(Certificate=pem(cert), PrivateKey=private,
                                      **labels)["CertificateArn"])


def test_acm_certificates_by_tag_and_arn_of_every_key_type_and_denied_reads_are_unknown(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    acct = estate.lab_account
    acm = aws(sb, acct, "acm", LAB_REGION)
    tag = {"app": f"web-{tmp_path.name[-12:]}"}
    rsa_arn = _import(acm, "web rsa", rsa.generate_private_key(65537, 2048), tag)
    ec_arn = _import(acm, "web ec", ec.generate_private_key(ec.SECP384R1()), tag)
    by_arn = _import(acm, "api", ec.generate_private_key(ec.SECP256R1()), {})
    _import(acm, "other", ec.generate_private_key(ec.SECP256R1()), {"app": "other"})
    # the sandbox lists as AWS does: without Includes.keyTypes, RSA_1024 and RSA_2048 only
    listed = {s["CertificateArn"] for s in acm.list_certificates()["CertificateSummaryList"]}
    assert rsa_arn in listed and ec_arn not in listed and by_arn not in listed

    def edit(data: dict[str, Any]) -> None:
        k = key_of(data, "ecc-p384")
        k["owner"] = "web-team@example.com"
        k["certificates"] = {"acm": {"tags": tag, "arns": [by_arn]}}
    envs = edit_env(estate, tmp_path, "lab", edit)
    # rotated-signer@g1 is disabled (KMS refuses its public key) and no sign canary recorded
    # it: the P-256 certificate that matches nothing might be that generation's
    code, doc, err = certs(capsys, sb, envs, "lab")
    assert isinstance(doc, dict)
    assert code == 3, err
    assert failed(doc) == {("certs.key_not_in_inventory", a) for a in (rsa_arn, ec_arn)}
    (unknown,) = doc["unknowns"]
    assert (unknown["rule_id"], unknown["resource"]) == ("certs.key_not_in_inventory", by_arn)
    assert "rotated-signer@g1: KP915 GetPublicKey key state (DisabledException)" in \
        unknown["reason"] and "no sign canary recorded it" in unknown["reason"]
    # once its first sign canary's record is there, every certificate is judged
    g1 = kms_public_key(sb, acct, LAB_REGION, "rotated-signer", 1)
    record_canary(tmp_path / "evidence" / "lab", "lab", "rotated-signer", 1, g1)
    code, doc, err = certs(capsys, sb, envs, "lab")
    assert isinstance(doc, dict)
    assert code == 1, (err, doc["unknowns"])
    assert failed(doc) == {("certs.key_not_in_inventory", a) for a in (rsa_arn, ec_arn, by_arn)}
    assert {f["owner"] for f in doc["findings"]} == {"web-team@example.com"}
    assert {f["key"] for f in doc["findings"]} == {"ecc-p384"}
    assert {c["key_kind"] for c in doc["certificates"]} == {"rsa 2048", "ec secp384r1",
                                                            "ec secp256r1"}

    # ListCertificates denied: the tagged certificates are unknown, the run INCOMPLETE (3);
    # the certificate named by ARN is still judged
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="acm",
                                operation="ListCertificates", status=400)]
    code, doc, err = certs(capsys, sb, envs, "lab")
    assert isinstance(doc, dict)
    assert code == 3, err
    assert doc["outcome"] == "incomplete"
    assert failed(doc) == {("certs.key_not_in_inventory", by_arn)}
    (unknown,) = doc["unknowns"]
    assert unknown["rule_id"] == "read.certificates"
    assert unknown["resource"] == f"acm:{LAB_REGION}:tags[app={tag['app']}]"
    assert unknown["reason"].startswith("KP914 ListCertificates denied (AccessDeniedException)")
    assert "acm:ListCertificates" in unknown["reason"]
    assert (unknown["owner"], unknown["key"], unknown["outcome"]) == (
        "web-team@example.com", "ecc-p384", "UNKNOWN")

    # GetCertificate denied for the certificate named by ARN: UNKNOWN too
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="acm",
                                operation="GetCertificate", match=by_arn)]
    code, doc, err = certs(capsys, sb, envs, "lab")
    assert isinstance(doc, dict)
    assert code == 3, err
    assert {u["resource"] for u in doc["unknowns"]} == {by_arn}
    assert "acm:DescribeCertificate and acm:GetCertificate" in doc["unknowns"][0]["reason"]


def test_a_public_key_kms_refuses_leaves_a_certificate_that_could_be_it_unknown(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    acct = estate.lab_account
    arn = kms_key(sb, acct, LAB_REGION, "ecc-p521", 1)
    p521 = kms_public_key(sb, acct, LAB_REGION, "ecc-p521", 1)

    def edit(data: dict[str, Any]) -> None:
        key_of(data, "ecc-p521")["certificates"] = {"files": ["../certs/p521.pem"]}
    envs = edit_env(estate, tmp_path, "lab", edit)
    cert = write(envs, "certs/p521.pem", pem(LocalCa().issue(
        p521, "p521", utc("2026-06-01"), utc("2027-01-01"))))
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="kms",
                                operation="GetPublicKey", match=arn.rsplit("/", 1)[1])]
    code, doc, err = certs(capsys, sb, envs, "lab", "--at", AT)
    assert isinstance(doc, dict)
    assert code == 3, err
    assert doc["findings"] == []
    unknown = {(u["rule_id"], u["resource"]): u for u in doc["unknowns"]}
    assert set(unknown) == {("read.public_key", "ecc-p521"),
                            ("certs.key_not_in_inventory", cert)}
    assert "kms:GetPublicKey" in unknown[("read.public_key", "ecc-p521")]["reason"]
    assert "ecc-p521@g1" in unknown[("certs.key_not_in_inventory", cert)]["reason"]
    # the rules that need the generation are not applicable to a certificate of unknown key
    assert outcomes(doc, cert)["certs.outlives_key"] == "NOT_APPLICABLE"

    # the same certificate with the refusal gone: judged, and it passes
    sb.front.rules = []
    code, doc, err = certs(capsys, sb, envs, "lab", "--at", AT)
    assert isinstance(doc, dict)
    assert code == 0, (err, doc["findings"], doc["unknowns"])
    assert next(c for c in doc["certificates"] if c["id"] == cert)["key"] == "ecc-p521"


# ---- production: severities by tier, the owner in every output -------------------------------

def test_a_production_certificate_on_a_foreign_key_is_critical_and_names_the_owner(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    acct = estate.shop_account
    g2 = kms_public_key(sb, acct, SHOP_REGION, "shop-signer", 2)

    def edit(data: dict[str, Any]) -> None:
        k = key_of(data, "shop-signer")
        k["owner"] = "release-engineering@example.com"
        k["generations"] = [{"generation": 2, "created_on": dt.date(2026, 5, 1)},
                            {"generation": 1, "created_on": dt.date(2025, 9, 1),
                             "verify_until": dt.date(2026, 6, 1)}]
        k["certificates"] = {"files": ["../certs/shop"]}
    envs = edit_env(estate, tmp_path, "shop", edit)
    ca = LocalCa()
    good = write(envs, "certs/shop/release.pem", pem(ca.issue(
        g2, "release", utc("2026-06-01"), utc("2027-03-01"))))
    laptop = write(envs, "certs/shop/laptop.pem", pem(ca.issue(
        foreign_key().public_key(), "laptop", utc("2026-06-01"), utc("2027-03-01"))))
    code, doc, err = certs(capsys, sb, envs, "shop", "--at", AT)
    assert isinstance(doc, dict)
    assert code == 1, err
    (finding,) = doc["findings"]
    assert (finding["rule_id"], finding["resource"], finding["severity"], finding["tier"],
            finding["owner"], finding["cloud"], finding["control"]) == (
        "certs.key_not_in_inventory", laptop, "critical", "production",
        "release-engineering@example.com", "aws", "protection")
    assert set(outcomes(doc, good).values()) == {"PASS", "NOT_APPLICABLE"}

    code, text, err = certs(capsys, sb, envs, "shop", "--at", AT, "--format", "text")
    assert code == 1 and isinstance(text, str)
    assert text.splitlines()[0] == (f"certs shop at {AT}: FINDINGS — 1 finding(s), 0 unknown, "
                                    "2 certificate(s)")
    assert "  CRITICAL certs.key_not_in_inventory" + " " * 7 + "shop-signer (owner " \
           "release-engineering@example.com)\n" in text
    assert "shop-signer (production, aws, owner release-engineering@example.com)" in text
    assert f"2026-06-01 .. 2027-03-01  CN=release  [file {good}]" in text
    assert f"no generation: 2026-06-01 .. 2027-03-01  CN=laptop  [file {laptop}]  FAILS " \
           "certs.key_not_in_inventory" in text

    code, sarif, err = certs(capsys, sb, envs, "shop", "--at", AT, "--format", "sarif")
    assert code == 1 and isinstance(sarif, str)
    results = json.loads(sarif)["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("certs.key_not_in_inventory",
                                                             "error")]

    code, md, err = certs(capsys, sb, envs, "shop", "--at", AT, "--format", "markdown")
    assert code == 1 and isinstance(md, str)
    assert f"| critical | `certs.key_not_in_inventory` | `shop-signer` | " \
           f"release-engineering@example.com | `{laptop}` |" in md


# ---- bad input: coded errors, exit 2, no cloud call ------------------------------------------

@pytest.mark.parametrize(("files", "content", "code", "message"), [
    (["../certs/missing.pem"], None, "KP911", "'../certs/missing.pem' does not exist"),
    (["../certs/bad.pem"], b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
     "KP912", "certs/bad.pem is not a pem or der x.509 certificate"),
    (["../certs/bad.der"], b"\x30\x03\x02\x01\x01", "KP912",
     "certs/bad.der is not a pem or der x.509 certificate"),
    (["../certs/link.pem"], "symlink", "KP910", "outside the repository"),
])
def test_fails_on_a_certificate_file_that_cannot_be_used_before_any_cloud_call(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path,
        files: list[str], content: bytes | str | None, code: str, message: str) -> None:
    def edit(data: dict[str, Any]) -> None:
        key_of(data, "ecc-p256")["certificates"] = {"files": files}
    envs = edit_env(estate, tmp_path, "lab", edit)
    target = envs.parent / files[0].removeprefix("../")
    target.parent.mkdir(parents=True, exist_ok=True)
    if content == "symlink":
        outside = tmp_path / "outside.pem"
        outside.write_bytes(pem(LocalCa().cert))
        os.symlink(outside, target)
    elif isinstance(content, bytes):
        target.write_bytes(content)
    sb.front.calls.clear()
    exit_code, out, err = certs(capsys, sb, envs, "lab", "--format", "text")
    assert exit_code == 2
    assert err.startswith(f"keyplane: error {code}: {envs / 'lab.yaml'}: "
                          "keys[ecc-p256].certificates.files[0]: "), err
    assert message in err
    assert "Traceback" not in err and out == ""
    assert sb.front.calls == []  # files are read before any cloud call


def test_fails_on_a_private_key_in_a_certificate_file_without_echoing_it(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    key = foreign_key()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())

    def edit(data: dict[str, Any]) -> None:
        key_of(data, "ecc-p256")["certificates"] = {"files": ["../certs/bundle.pem"]}
    envs = edit_env(estate, tmp_path, "lab", edit)
    write(envs, "certs/bundle.pem", pem(LocalCa().cert) + private)
    exit_code, out, err = certs(capsys, sb, envs, "lab")
    assert exit_code == 2
    error = json.loads(out)  # --format json: a machine-readable error object
    assert error["error"] == "KP912"
    assert "holds a private key" in error["message"]
    body = private.decode().splitlines()[1]
    assert body not in out and body not in err


def test_fails_on_a_certificate_path_that_leaves_the_repository_at_load(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    def edit(data: dict[str, Any]) -> None:
        key_of(data, "ecc-p256")["certificates"] = {"files": ["../../../etc/ssl/certs"]}
    envs = edit_env(estate, tmp_path, "lab", edit)
    sb.front.calls.clear()
    exit_code, _, err = certs(capsys, sb, envs, "lab", "--format", "text")
    assert exit_code == 2
    assert "KP104 certificate path '../../../etc/ssl/certs' leaves the repository" in err
    assert f"{envs / 'lab.yaml'}:" in err
    assert sb.front.calls == []
