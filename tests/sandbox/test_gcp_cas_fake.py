"""The CA Service fake through the real google-cloud-private-ca client over gRPC, and keyplane's
CA Service adapter (`keyplane.cloud.gcp.cas_source`) against it.

The fake is served on the Cloud KMS fake's port (`GcpEndpoint`), so every test here also
proves the registration: one channel, the KMS fake's fault rules and hosted projects. What
it issues is checked with `cryptography` as a relying party would: signatures verify
against the CA certificate, the subject, subject alternative names and public key are the
request's, the validity is the requested lifetime.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.api_core import exceptions as gexc
from google.cloud import kms_v1
from google.cloud.security import privateca_v1 as pca

from keyplane.cloud.gcp import cas_source
from keyplane.cloud.gcp.cas_source import GcpCaPoolStore, build_cas_client
from keyplane.cloud.gcp.client import GcpConfig, build_client
from keyplane.cloudcall import AccessDenied, CloudCallError, NotFound
from keyplane.sandbox.gcp_fake import GcpEndpoint, GcpFaultRule

pytestmark = pytest.mark.integration

LOCATION = "europe-west1"
_n = itertools.count(1)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[GcpEndpoint]:
    ep = GcpEndpoint()
    ep.start()
    yield ep
    ep.stop()


@pytest.fixture(autouse=True)
def _clean(endpoint: GcpEndpoint) -> Iterator[None]:
    """No fault rule, hosted-project limit or call record outlives its test."""
    endpoint.fake.calls.clear()
    endpoint.fake.record_calls = True
    yield
    endpoint.fake.rules = []
    endpoint.fake.projects.clear()
    endpoint.fake.record_calls = False


@pytest.fixture
def client(endpoint: GcpEndpoint) -> Any:
    return build_cas_client(GcpConfig(project="unused", endpoint=endpoint.target))


@pytest.fixture
def project() -> str:
    """A project of the test's own."""
    return f"kp-cas-t{next(_n):04d}"


def parent(project: str) -> str:
    return f"projects/{project}/locations/{LOCATION}"


def make_pool(client: Any, project: str, pool_id: str = "mesh",
              tier: int = pca.CaPool.Tier.ENTERPRISE) -> str:
    """CreateCaPool (a long-running operation, returned done); the pool's name."""
    op = client.create_ca_pool(request=pca.CreateCaPoolRequest(
        parent=parent(project), ca_pool_id=pool_id, ca_pool=pca.CaPool(tier=tier)))
    return str(op.result().name)


def ca_spec(*, algorithm: str | None = "EC_P384_SHA384", kms_version: str | None = None,
            lifetime: dt.timedelta = dt.timedelta(days=3650), is_ca: bool | None = True,
            common_name: str = "mesh root") -> pca.CertificateAuthority:
    """A self-signed CertificateAuthority as gcloud sends it."""
    if kms_version:
        key_spec = pca.CertificateAuthority.KeyVersionSpec(cloud_kms_key_version=kms_version)
    elif algorithm:
        key_spec = pca.CertificateAuthority.KeyVersionSpec(
            algorithm=getattr(pca.CertificateAuthority.SignHashAlgorithm, algorithm))
    else:
        key_spec = pca.CertificateAuthority.KeyVersionSpec()
    options = pca.X509Parameters.CaOptions() if is_ca is None else \
        pca.X509Parameters.CaOptions(is_ca=is_ca)
    return pca.CertificateAuthority(
        type_=pca.CertificateAuthority.Type.SELF_SIGNED, lifetime=lifetime, key_spec=key_spec,
        config=pca.CertificateConfig(
            subject_config=pca.CertificateConfig.SubjectConfig(
                subject=pca.Subject(common_name=common_name, organization="Example")),
            x509_config=pca.X509Parameters(ca_options=options)))


def make_ca(client: Any, pool: str, ca_id: str = "root", *, enable: bool = True,
            **spec: Any) -> Any:
    """CreateCertificateAuthority, then EnableCertificateAuthority unless told not to."""
    ca = client.create_certificate_authority(request=pca.CreateCertificateAuthorityRequest(
        parent=pool, certificate_authority_id=ca_id,
        certificate_authority=ca_spec(**spec))).result()
    if enable:
        ca = client.enable_certificate_authority(request={"name": ca.name}).result()
    return ca


def csr_pem(key: Any = None, cn: str = "svc.example", sans: tuple[str, ...] = ()) -> str:
    """A PEM certificate signing request for `key` (a fresh P-256 key by default)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(s) for s in sans]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def issue(client: Any, pool: str, cert_id: str, *, pem: str | None = None,
          lifetime: dt.timedelta = dt.timedelta(days=30), ca_id: str = "") -> Any:
    return client.create_certificate(request=pca.CreateCertificateRequest(
        parent=pool, certificate_id=cert_id, issuing_certificate_authority_id=ca_id,
        certificate=pca.Certificate(pem_csr=pem or csr_pem(), lifetime=lifetime)))


def load(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo))


# ---- certificate authorities and what they issue --------------------------------------------

def test_a_self_signed_ca_gets_a_real_ca_certificate_starts_staged_and_is_enabled(
        client: Any, project: str) -> None:
    pool = make_pool(client, project)
    staged = make_ca(client, pool, enable=False, lifetime=dt.timedelta(days=400))
    assert staged.state == pca.CertificateAuthority.State.STAGED  # as CA Service makes a root
    assert staged.tier == pca.CaPool.Tier.ENTERPRISE
    (pem,) = staged.pem_ca_certificates
    cert = load(pem)
    cert.verify_directly_issued_by(cert)  # self-signed, with the key it binds
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "mesh root"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == "secp384r1"  # EC_P384_SHA384
    span = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert abs(span - dt.timedelta(days=400)) <= dt.timedelta(seconds=1)

    enabled = client.enable_certificate_authority(request={"name": staged.name}).result()
    assert enabled.state == pca.CertificateAuthority.State.ENABLED
    got = client.get_certificate_authority(request={"name": staged.name})
    assert (got.state, list(got.pem_ca_certificates)) == (
        pca.CertificateAuthority.State.ENABLED, [pem])


def test_create_certificate_signs_the_request_with_the_ca_key_for_the_lifetime_asked(
        client: Any, project: str) -> None:
    pool = make_pool(client, project)
    ca = make_ca(client, pool, lifetime=dt.timedelta(days=365))
    ca_cert = load(ca.pem_ca_certificates[0])
    key = ec.generate_private_key(ec.SECP256R1())
    out = issue(client, pool, "web-1", pem=csr_pem(key, "web.example",
                                                   ("web.example", "www.web.example")),
                lifetime=dt.timedelta(days=30))
    assert out.name == f"{pool}/certificates/web-1"
    assert out.issuer_certificate_authority == ca.name
    assert list(out.pem_certificate_chain) == list(ca.pem_ca_certificates)
    cert = load(out.pem_certificate)
    cert.verify_directly_issued_by(ca_cert)
    assert spki(cert.public_key()) == spki(key.public_key())
    assert cert.subject.rfc4514_string() == "CN=web.example"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["web.example", "www.web.example"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    span = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert abs(span - dt.timedelta(days=30)) <= dt.timedelta(seconds=1)
    desc = out.certificate_description.subject_description
    assert desc.hex_serial_number == format(cert.serial_number, "x")
    assert abs(desc.not_after_time - cert.not_valid_after_utc) <= dt.timedelta(seconds=1)
    assert client.get_certificate(request={"name": out.name}).pem_certificate == \
        out.pem_certificate

    # a lifetime beyond the CA's own end is cut at it, as CA Service truncates it
    long = load(issue(client, pool, "web-2", lifetime=dt.timedelta(days=1000)).pem_certificate)
    assert long.not_valid_after_utc == ca_cert.not_valid_after_utc


def test_a_pool_issues_from_an_enabled_ca_or_from_a_staged_one_it_is_told_to_use(
        client: Any, project: str) -> None:
    pool = make_pool(client, project)
    staged = make_ca(client, pool, "staged", enable=False)
    with pytest.raises(gexc.FailedPrecondition, match="no ENABLED certificate authority"):
        issue(client, pool, "c1")
    named = issue(client, pool, "c1", ca_id="staged")
    load(named.pem_certificate).verify_directly_issued_by(load(staged.pem_ca_certificates[0]))
    enabled = make_ca(client, pool, "enabled")
    chosen = issue(client, pool, "c2")
    assert chosen.issuer_certificate_authority == enabled.name


def test_a_subordinate_ca_waits_for_activation_without_a_certificate(
        endpoint: GcpEndpoint, client: Any, project: str) -> None:
    pool = make_pool(client, project)
    spec = ca_spec()
    spec.type_ = pca.CertificateAuthority.Type(pca.CertificateAuthority.Type.SUBORDINATE)
    sub = client.create_certificate_authority(request=pca.CreateCertificateAuthorityRequest(
        parent=pool, certificate_authority_id="issuing", certificate_authority=spec)).result()
    assert sub.state == pca.CertificateAuthority.State.AWAITING_USER_ACTIVATION
    assert list(sub.pem_ca_certificates) == []
    with pytest.raises(gexc.FailedPrecondition, match="only a STAGED or DISABLED"):
        client.enable_certificate_authority(request={"name": sub.name})
    store = GcpCaPoolStore(client, GcpConfig(project=project, endpoint=endpoint.target))
    (read,) = store.pool_authorities(pool)
    assert (read.state, read.type, read.pem) == ("AWAITING_USER_ACTIVATION", "SUBORDINATE", None)


@pytest.mark.parametrize(("call", "error", "message"), [
    ("pool_bad_id", gexc.InvalidArgument, "ca_pool_id 'bad id!' must match"),
    ("pool_bad_parent", gexc.InvalidArgument, "expected projects/\\*/locations/\\*"),
    ("pool_no_tier", gexc.InvalidArgument, "tier must be ENTERPRISE or DEVOPS"),
    ("pool_twice", gexc.AlreadyExists, "already exists"),
    ("pool_missing", gexc.NotFound, "was not found"),
    ("pool_bad_name", gexc.InvalidArgument, "invalid ca pool name"),
    ("ca_in_missing_pool", gexc.NotFound, "caPools/nope' was not found"),
    ("ca_twice", gexc.AlreadyExists, "certificateAuthorities/root' already exists"),
    ("ca_bad_id", gexc.InvalidArgument, "certificate_authority_id"),
    ("ca_no_key", gexc.InvalidArgument, "needs algorithm or cloud_kms_key_version"),
    ("ca_not_ca", gexc.InvalidArgument, "is_ca must be true"),
    ("ca_no_lifetime", gexc.InvalidArgument, "lifetime must be positive"),
    ("ca_missing", gexc.NotFound, "certificateAuthorities/nope' was not found"),
    ("cert_no_id", gexc.InvalidArgument, "certificate_id '' must match"),
    ("cert_twice", gexc.AlreadyExists, "certificates/c1' already exists"),
    ("cert_bad_csr", gexc.InvalidArgument, "not a PEM certificate signing request"),
    ("cert_forged_csr", gexc.InvalidArgument, "signature of certificate.pem_csr does not"),
    ("cert_config", gexc.MethodNotImplemented, "from pem_csr only"),
    ("cert_missing", gexc.NotFound, "certificates/nope' was not found"),
    ("cert_bad_name", gexc.InvalidArgument, "invalid certificate name"),
])
def test_names_and_requests_are_checked_as_the_api_checks_them(
        client: Any, project: str, call: str, error: type[Exception], message: str) -> None:
    pool = make_pool(client, project)
    make_ca(client, pool)
    issue(client, pool, "c1")
    forged = csr_pem().replace("\n-----END", "", 1)  # no longer parses
    honest = x509.load_pem_x509_csr(csr_pem().encode())
    other = x509.load_pem_x509_csr(csr_pem(cn="web.example").encode())  # same length
    # a request whose signature was made over another request's body
    tbs_swap = honest.public_bytes(serialization.Encoding.DER).replace(
        honest.tbs_certrequest_bytes, other.tbs_certrequest_bytes)
    swapped = x509.load_der_x509_csr(tbs_swap).public_bytes(serialization.Encoding.PEM).decode()
    calls: dict[str, Any] = {
        "pool_bad_id": lambda: make_pool(client, project, "bad id!"),
        "pool_bad_parent": lambda: client.create_ca_pool(request=pca.CreateCaPoolRequest(
            parent=f"projects/{project}", ca_pool_id="x",
            ca_pool=pca.CaPool(tier=pca.CaPool.Tier.DEVOPS))),
        "pool_no_tier": lambda: make_pool(client, project, "untiered",
                                          pca.CaPool.Tier.TIER_UNSPECIFIED),
        "pool_twice": lambda: make_pool(client, project),
        "pool_missing": lambda: client.get_ca_pool(request={"name": f"{parent(project)}"
                                                                   "/caPools/nope"}),
        "pool_bad_name": lambda: client.get_ca_pool(request={"name": f"{parent(project)}"}),
        "ca_in_missing_pool": lambda: make_ca(client, f"{parent(project)}/caPools/nope"),
        "ca_twice": lambda: make_ca(client, pool),
        "ca_bad_id": lambda: make_ca(client, pool, "a/b"),
        "ca_no_key": lambda: make_ca(client, pool, "nokey", algorithm=None),
        "ca_not_ca": lambda: make_ca(client, pool, "leaf", is_ca=None),
        "ca_no_lifetime": lambda: make_ca(client, pool, "brief", lifetime=dt.timedelta(0)),
        "ca_missing": lambda: client.enable_certificate_authority(
            request={"name": f"{pool}/certificateAuthorities/nope"}),
        "cert_no_id": lambda: issue(client, pool, ""),
        "cert_twice": lambda: issue(client, pool, "c1"),
        "cert_bad_csr": lambda: issue(client, pool, "c2", pem=forged),
        "cert_forged_csr": lambda: issue(client, pool, "c3", pem=swapped),
        "cert_config": lambda: client.create_certificate(request=pca.CreateCertificateRequest(
            parent=pool, certificate_id="c4", certificate=pca.Certificate(
                config=pca.CertificateConfig(), lifetime=dt.timedelta(days=1)))),
        "cert_missing": lambda: client.get_certificate(request={"name": f"{pool}/certificates/"
                                                                        "nope"}),
        "cert_bad_name": lambda: client.get_certificate(request={"name": pool}),
    }
    with pytest.raises(error, match=message):
        calls[call]()


def test_a_devops_pool_keeps_nothing_it_issues(client: Any, project: str) -> None:
    pool = make_pool(client, project, "devops", pca.CaPool.Tier.DEVOPS)
    make_ca(client, pool)
    out = issue(client, pool, "")  # no certificate id in the DevOps tier
    assert out.pem_certificate.startswith("-----BEGIN CERTIFICATE-----")
    assert list(client.list_certificates(request={"parent": pool})) == []
    with pytest.raises(gexc.NotFound):
        client.get_certificate(request={"name": out.name})


def test_a_ca_on_a_cloud_kms_key_version_signs_with_that_key_while_it_is_enabled(
        endpoint: GcpEndpoint, client: Any, project: str) -> None:
    kms = build_client(GcpConfig(project=project, endpoint=endpoint.target))
    ring = kms.create_key_ring(request={"parent": parent(project), "key_ring_id": "pki",
                                        "key_ring": {}})
    key = kms.create_crypto_key(request={
        "parent": ring.name, "crypto_key_id": "ca", "crypto_key": {
            "purpose": kms_v1.CryptoKey.CryptoKeyPurpose.ASYMMETRIC_SIGN,
            "version_template": {"algorithm": "EC_SIGN_P256_SHA256"}}})
    version = f"{key.name}/cryptoKeyVersions/1"
    pool = make_pool(client, project)
    ca = make_ca(client, pool, kms_version=version)
    assert ca.key_spec.cloud_kms_key_version == version
    ca_cert = load(ca.pem_ca_certificates[0])
    kms_public = serialization.load_pem_public_key(
        kms.get_public_key(request={"name": version}).pem.encode())
    assert spki(ca_cert.public_key()) == spki(kms_public)  # the CA key is the KMS version
    load(issue(client, pool, "c1").pem_certificate).verify_directly_issued_by(ca_cert)

    kms.update_crypto_key_version(request={
        "crypto_key_version": {"name": version, "state": "DISABLED"},
        "update_mask": {"paths": ["state"]}})
    with pytest.raises(gexc.FailedPrecondition, match="is not enabled"):
        issue(client, pool, "c2")

    aes = kms.create_crypto_key(request={"parent": ring.name, "crypto_key_id": "data",
                                         "crypto_key": {"purpose": "ENCRYPT_DECRYPT",
                                                        "version_template": {
                                                            "algorithm": "GOOGLE_SYMMETRIC_"
                                                                         "ENCRYPTION"}}})
    with pytest.raises(gexc.InvalidArgument, match="a CA key must be one of"):
        make_ca(client, pool, "on-aes", kms_version=f"{aes.name}/cryptoKeyVersions/1")
    with pytest.raises(gexc.NotFound):
        make_ca(client, pool, "on-nothing", kms_version=f"{key.name}/cryptoKeyVersions/9")


# ---- the adapter: pages, filters, revocation, errors -----------------------------------------

def test_the_adapter_reads_every_page_the_unexpired_certificates_and_marks_revoked_ones(
        endpoint: GcpEndpoint, client: Any, project: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pool = make_pool(client, project)
    make_ca(client, pool, "root")
    make_ca(client, pool, "sub", enable=False, common_name="second root")
    for n, days in enumerate((5, 20, 40, 60, 90)):
        issue(client, pool, f"c{n}", lifetime=dt.timedelta(days=days))
    client.revoke_certificate(request={"name": f"{pool}/certificates/c3",
                                       "reason": pca.RevocationReason.KEY_COMPROMISE})
    store = GcpCaPoolStore(client, GcpConfig(project=project, endpoint=endpoint.target))
    monkeypatch.setattr(cas_source, "PAGE_SIZE", 2)
    endpoint.fake.calls.clear()

    assert store.ca_pool(pool).tier == "ENTERPRISE"
    cas = store.pool_authorities(pool)
    assert [(a.name.rsplit("/", 1)[1], a.state, a.type, a.kms_key_version) for a in cas] == [
        ("root", "ENABLED", "SELF_SIGNED", None), ("sub", "STAGED", "SELF_SIGNED", None)]
    assert all(a.pem and a.pem.startswith("-----BEGIN CERTIFICATE-----") for a in cas)
    every = store.pool_certificates(pool, None)
    assert [c.name.rsplit("/", 1)[1] for c in every] == ["c4", "c3", "c2", "c1", "c0"]  # newest
    assert endpoint.fake.calls.count("ListCertificates") == 3  # 5 certificates, 2 a page
    assert {c.name.rsplit("/", 1)[1]: c.revoked for c in every}["c3"] == "KEY_COMPROMISE"
    assert {c.revoked for c in every if not c.name.endswith("c3")} == {None}
    later = store.pool_certificates(pool, dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    assert [c.name.rsplit("/", 1)[1] for c in later] == ["c4", "c3", "c2"]
    with pytest.raises(gexc.FailedPrecondition, match="already revoked"):
        client.revoke_certificate(request={"name": f"{pool}/certificates/c3"})
    with pytest.raises(gexc.InvalidArgument, match="unsupported filter term"):
        list(client.list_certificates(request={"parent": pool, "filter": "labels.app=web"}))


def test_the_adapter_maps_denials_missing_pools_and_a_repeated_page_token(
        endpoint: GcpEndpoint, client: Any, project: str) -> None:
    pool = make_pool(client, project)
    make_ca(client, pool)
    issue(client, pool, "c1")
    store = GcpCaPoolStore(client, GcpConfig(project=project, endpoint=endpoint.target,
                                             retry_timeout=1.0))
    with pytest.raises(NotFound) as missing:
        store.ca_pool(f"{parent(project)}/caPools/nope")
    assert missing.value.operation == "GetCaPool" and missing.value.code == "NOT_FOUND"

    # the KMS fake's fault rules apply to CA Service by method and resource
    endpoint.fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="ListCertificates",
                                        match=pool)]
    with pytest.raises(AccessDenied) as denied:
        store.pool_certificates(pool, None)
    assert denied.value.operation == "ListCertificates"
    assert store.ca_pool(pool).name == pool  # other methods are untouched

    endpoint.fake.rules = [GcpFaultRule(code="RepeatPageToken", method="ListCertificates")]
    with pytest.raises(CloudCallError) as repeated:
        store.pool_certificates(pool, None)
    assert repeated.value.code == "RepeatedPageToken"

    # a project the sandbox does not host answers PERMISSION_DENIED, as for Cloud KMS
    endpoint.fake.rules = []
    endpoint.fake.projects.add("someone-else")
    with pytest.raises(AccessDenied):
        store.ca_pool(pool)
