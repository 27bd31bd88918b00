"""`keyplane certs` reading Google CA Service pools end to end: the real google-cloud-private-ca
client over gRPC into the sandbox's CA Service fake (served on the Cloud KMS fake's port).

A pool and its CA are seeded through the same client; the certificate is issued by the fake
from the request `keyplane csr` signs with a Cloud KMS key of the lab estate
(`tests.certs.support`), then `keyplane certs` matches it to that key's generation. A
certificate for a key keyplane does not manage is a finding; a revoked one is judged
NOT_APPLICABLE; a denied or unknown pool is UNKNOWN (exit 3) with its reason; a DevOps pool,
which keeps nothing it issues, is UNKNOWN with KP913; a CA on a Cloud KMS key version is
matched to that key's generation and judged for its HSM.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.cloud.security import privateca_v1 as pca

from keyplane.cli import COMMANDS
from keyplane.cloud.gcp.cas_source import build_cas_client
from keyplane.cloud.gcp.client import GcpConfig
from keyplane.sandbox.gcp_fake import GcpFaultRule
from keyplane.sandbox.server import Sandbox
from keyplane.schema import validate
from tests.certs.certs_support import edit_env, key_of
from tests.certs.support import Applied, applied_estate
from tests.sandbox.helpers import run_cli, start_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.synth]

LOCATION = "europe-west1"
RULES = ("certs.key_not_in_inventory", "certs.retired_generation", "certs.outlives_key",
         "certs.expiring_without_successor", "certs.ca_key_not_in_hsm")
# what `keyplane certs` may call in CA Service: reads only
CAS_METHODS = {"CreateCaPool", "GetCaPool", "CreateCertificateAuthority",
               "EnableCertificateAuthority", "GetCertificateAuthority",
               "ListCertificateAuthorities", "CreateCertificate", "GetCertificate",
               "ListCertificates", "RevokeCertificate"}
CAS_READS = {"GetCaPool", "ListCertificateAuthorities", "ListCertificates"}


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
    """Every GCP call each test makes is recorded; no fault rule outlives its test."""
    sb.kms_fake.calls.clear()
    sb.kms_fake.record_calls = True
    yield
    sb.kms_fake.rules = []
    sb.kms_fake.record_calls = False


@pytest.fixture
def cas(sb: Sandbox) -> Any:
    """The real CA Service client against the sandbox (to seed pools as an operator does)."""
    return build_cas_client(GcpConfig(project="unused", endpoint=sb.gcp.target))


def pool_of(estate: Applied, pool_id: str) -> str:
    return f"projects/{estate.project}/locations/{LOCATION}/caPools/{pool_id}"


def seed_pool(cas: Any, estate: Applied, pool_id: str, *, devops: bool = False,
              kms_version: str | None = None) -> tuple[str, pca.CertificateAuthority]:
    """A pool with one ENABLED self-signed CA: a key CA Service manages (EC P-384), or the
    Cloud KMS key version given. (pool name, the CA)."""
    tier = pca.CaPool.Tier.DEVOPS if devops else pca.CaPool.Tier.ENTERPRISE
    pool = str(cas.create_ca_pool(request=pca.CreateCaPoolRequest(
        parent=f"projects/{estate.project}/locations/{LOCATION}", ca_pool_id=pool_id,
        ca_pool=pca.CaPool(tier=tier))).result().name)
    key_spec = pca.CertificateAuthority.KeyVersionSpec(cloud_kms_key_version=kms_version) \
        if kms_version else pca.CertificateAuthority.KeyVersionSpec(
            algorithm=pca.CertificateAuthority.SignHashAlgorithm.EC_P384_SHA384)
    ca = cas.create_certificate_authority(request=pca.CreateCertificateAuthorityRequest(
        parent=pool, certificate_authority_id="root", certificate_authority=pca.CertificateAuthority(
            type_=pca.CertificateAuthority.Type.SELF_SIGNED, lifetime=dt.timedelta(days=365),
            key_spec=key_spec, config=pca.CertificateConfig(
                subject_config=pca.CertificateConfig.SubjectConfig(
                    subject=pca.Subject(common_name=f"{pool_id} root", organization="Example")),
                x509_config=pca.X509Parameters(
                    ca_options=pca.X509Parameters.CaOptions(is_ca=True)))))).result()
    ca = cas.enable_certificate_authority(request={"name": ca.name}).result()
    return pool, ca


def issue(cas: Any, pool: str, cert_id: str, pem_csr: str, days: int = 90) -> str:
    """CreateCertificate from a PEM request; the certificate's resource name."""
    return str(cas.create_certificate(request=pca.CreateCertificateRequest(
        parent=pool, certificate_id=cert_id, certificate=pca.Certificate(
            pem_csr=pem_csr, lifetime=dt.timedelta(days=days)))).name)


def laptop_csr() -> str:
    """A request signed by a key no KMS holds (P-384: the lab's one unreadable generation,
    rotated-signer@g1, is P-256, and a P-256 certificate could be it, so UNKNOWN)."""
    return x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "laptop.lab.example")])).sign(
        ec.generate_private_key(ec.SECP384R1()), hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM).decode()


def declare(estate: Applied, tmp: Path, key: str, pools: list[str]) -> Path:
    """The inventory with `key` (created ten days ago, owned by mesh-team) declaring `pools`."""
    today = dt.date.today()

    def edit(data: dict[str, Any]) -> None:
        k = key_of(data, key)
        k["generations"] = [{"generation": 1, "created_on": today - dt.timedelta(days=10)}]
        k["owner"] = "mesh-team"
        k["certificates"] = {"gcp_cas": [{"ca_pool": p} for p in pools]}
    return edit_env(estate, tmp, "lab", edit)


def certs(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path
          ) -> tuple[int, dict[str, Any], str]:
    """`keyplane certs lab --format json` (judged now: the fake issues from today), with its
    report checked against the post-apply schema."""
    code, out, err = run_cli(capsys, "certs", "lab", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--gcp-endpoint", sb.gcp.target, "--max-attempts", "1",
                             "--audit-log", str(envs.parent / "audit.jsonl"), "--format", "json")
    doc = json.loads(out)
    validate(doc, "post-apply")
    return code, doc, err


def record(doc: dict[str, Any], cert_id: str) -> dict[str, Any]:
    return next(c for c in doc["certificates"] if c["id"] == cert_id)


def cas_calls(sb: Sandbox) -> set[str]:
    return {c for c in sb.kms_fake.calls if c in CAS_METHODS}


def test_a_certificate_issued_from_keyplanes_request_matches_the_keys_generation(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, cas: Any,
        tmp_path: Path) -> None:
    pool, ca = seed_pool(cas, estate, "mesh")
    envs = declare(estate, tmp_path, "gcp-ec-p256", [pool])
    code, request, err = run_cli(capsys, "csr", "lab", "gcp-ec-p256", "--subject",
                                 "CN=svc.lab.example", "-d", str(envs), "--endpoint-url",
                                 sb.aws.url, "--gcp-endpoint", sb.gcp.target, "--audit-log",
                                 str(tmp_path / "audit.jsonl"))
    assert code == 0, err
    svc = issue(cas, pool, "svc", request)
    laptop = issue(cas, pool, "laptop", laptop_csr())

    sb.kms_fake.calls.clear()
    code, doc, err = certs(capsys, sb, envs)
    assert code == 1, (err, doc["findings"], doc["unknowns"])
    assert doc["unknowns"] == []
    assert {(f["rule_id"], f["resource"]) for f in doc["findings"]} == {
        ("certs.key_not_in_inventory", laptop)}
    (finding,) = doc["findings"]
    assert (finding["cloud"], finding["owner"], finding["severity"], finding["key"]) == (
        "gcp", "mesh-team", "high", "gcp-ec-p256")
    got = record(doc, svc)
    assert (got["source"], got["key"], got["generation"], got["owner"], got["authority"],
            got["region"]) == ("gcp-cas", "gcp-ec-p256", 1, "mesh-team", ca.name, LOCATION)
    assert got["outcomes"] == dict.fromkeys(RULES[:4], "PASS") | {
        "certs.ca_key_not_in_hsm": "NOT_APPLICABLE"}
    assert got["subject"] == "CN=svc.lab.example"
    # the CA's own certificate: its key is held by CA Service, in Cloud HSM
    root = record(doc, ca.name)
    assert (root["source"], root["key_storage"], root["status"], root["key"]) == (
        "gcp-cas-authority", "HSM", "ENABLED", None)
    assert root["outcomes"]["certs.key_not_in_inventory"] == "PASS"
    assert root["outcomes"]["certs.ca_key_not_in_hsm"] == "PASS"
    assert f"held by CA Service {ca.name}" in root["reasons"]["certs.key_not_in_inventory"]
    timeline = next(t for t in doc["timeline"] if t["key"] == "gcp-ec-p256")
    (gen,) = timeline["generations"]
    assert [c["id"] for c in gen["certificates"]] == [svc]
    assert {c["id"] for c in timeline["unmatched"]} == {laptop, ca.name}
    assert cas_calls(sb) == CAS_READS  # reads only, nothing issued or changed

    # revoked, the laptop's certificate is kept, marked, and no longer relied on
    cas.revoke_certificate(request={"name": laptop,
                                    "reason": pca.RevocationReason.SUPERSEDED})
    code, doc, err = certs(capsys, sb, envs)
    assert code == 0, (err, doc["findings"], doc["unknowns"])
    revoked = record(doc, laptop)
    assert revoked["status"] == "REVOKED"
    assert set(revoked["outcomes"].values()) == {"NOT_APPLICABLE"}
    assert revoked["reasons"]["certs.key_not_in_inventory"] == "REVOKED in gcp-cas"


def test_a_pool_the_caller_may_not_read_leaves_the_run_incomplete_with_the_reason(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, cas: Any,
        tmp_path: Path) -> None:
    pool, _ = seed_pool(cas, estate, "denied")
    issue(cas, pool, "c1", laptop_csr())
    envs = declare(estate, tmp_path, "gcp-ec-p256", [pool])
    sb.kms_fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="GetCaPool",
                                      match=pool)]
    code, doc, err = certs(capsys, sb, envs)
    assert code == 3, err
    assert doc["outcome"] == "incomplete"
    assert doc["findings"] == [] and doc["certificates"] == []
    (unknown,) = doc["unknowns"]
    assert (unknown["rule_id"], unknown["resource"], unknown["cloud"], unknown["key"],
            unknown["owner"], unknown["region"]) == (
        "read.certificates", pool, "gcp", "gcp-ec-p256", "mesh-team", LOCATION)
    assert unknown["reason"].startswith("KP914 GetCaPool denied (PERMISSION_DENIED): the "
                                        "caller needs privateca.caPools.get")

    # ListCertificates denied: the CA certificate is read, the issued ones are unknown
    sb.kms_fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="ListCertificates",
                                      match=pool)]
    code, doc, err = certs(capsys, sb, envs)
    assert code == 3, err
    assert [c["source"] for c in doc["certificates"]] == ["gcp-cas-authority"]
    (unknown,) = doc["unknowns"]
    assert unknown["resource"] == f"{pool}/certificates"
    assert "privateca.certificates.list" in unknown["reason"]


def test_an_unknown_pool_is_not_found_and_unread(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied,
        tmp_path: Path) -> None:
    pool = pool_of(estate, "never-made")
    envs = declare(estate, tmp_path, "gcp-ec-p384", [pool])
    code, doc, err = certs(capsys, sb, envs)
    assert code == 3, err
    (unknown,) = doc["unknowns"]
    assert (unknown["resource"], unknown["key"]) == (pool, "gcp-ec-p384")
    assert unknown["reason"] == (f"KP914 GetCaPool not found (NOT_FOUND): Resource '{pool}' "
                                 "was not found")


def test_a_devops_pool_with_a_ca_on_a_cloud_kms_key_is_judged_and_left_incomplete(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, cas: Any,
        tmp_path: Path) -> None:
    """The CA's key is the lab's gcp-ec-p384 version 1 (SOFTWARE in the sandbox): its CA
    certificate matches gcp-ec-p384@g1 and fails the HSM rule; what the DevOps pool issued
    cannot be listed, so the run is INCOMPLETE with KP913."""
    version = (f"projects/{estate.project}/locations/{LOCATION}/keyRings/keyplane-lab/"
               "cryptoKeys/gcp-ec-p384/cryptoKeyVersions/1")
    pool, ca = seed_pool(cas, estate, "edge", devops=True, kms_version=version)
    issue(cas, pool, "", laptop_csr())  # issued, and not kept by a DevOps pool
    envs = declare(estate, tmp_path, "gcp-ec-p384", [pool])
    code, doc, err = certs(capsys, sb, envs)
    assert code == 3, err
    assert [c["id"] for c in doc["certificates"]] == [ca.name]
    root = record(doc, ca.name)
    assert (root["key"], root["generation"], root["key_storage"], root["is_ca"]) == (
        "gcp-ec-p384", 1, version, True)
    assert {(f["rule_id"], f["resource"]) for f in doc["findings"]} == {
        ("certs.ca_key_not_in_hsm", ca.name)}
    (finding,) = doc["findings"]
    assert (finding["actual"], finding["severity"], finding["tier"]) == (
        "SOFTWARE", "critical", "ca")
    (unknown,) = doc["unknowns"]
    assert unknown["resource"] == f"{pool}/certificates"
    assert unknown["reason"].startswith(f"KP913 {pool} is a DevOps-tier pool: CA Service does "
                                        "not store the certificates it issues")
