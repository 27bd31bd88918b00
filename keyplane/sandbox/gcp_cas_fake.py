"""An in-process Certificate Authority Service fake: `google.cloud.security.privateca.v1`.

Served over gRPC on the same local server as the Cloud KMS fake (`gcp_fake.GcpEndpoint`
registers `cas_handlers`), so the real google-cloud-private-ca client talks to it over the
same insecure channel, with the KMS fake's hosted projects, fault rules (by method name,
e.g. `ListCertificates`) and latency.

It keeps CA pools, certificate authorities and certificates in memory and behaves like CA
Service where `keyplane certs` and the tests that seed it depend on it:

- names are checked as the API checks them: resource ids `[a-zA-Z0-9_-]{1,63}`, parents of
  the right kind (INVALID_ARGUMENT), a missing parent or resource (NOT_FOUND), a taken id
  (ALREADY_EXISTS); a project the sandbox does not host answers PERMISSION_DENIED;
- CreateCaPool needs a tier; CreateCertificateAuthority needs a lifetime, a subject, the
  `is_ca` option and a key spec: a managed `algorithm` (the fake makes the key, as CA
  Service makes an HSM key) or a `cloud_kms_key_version` the KMS fake holds (ENABLED, an
  asymmetric signing algorithm CA Service supports), whose key then signs. A self-signed CA
  gets a real self-signed X.509 CA certificate and starts STAGED; a subordinate one waits
  in AWAITING_USER_ACTIVATION with no certificate. EnableCertificateAuthority makes a
  STAGED or DISABLED CA ENABLED. These three are long-running operations, returned done;
- CreateCertificate signs a `pem_csr` (its signature checked) with the CA's key: the
  request's subject and subject alternative names, not after now + the requested lifetime
  (cut at the CA certificate's own end, as CA Service truncates it). The CA is the one
  named by `issuing_certificate_authority_id` (ENABLED or STAGED) or else the pool's first
  ENABLED one (FAILED_PRECONDITION when there is none). An Enterprise pool needs a
  certificate id and keeps the certificate; a DevOps pool keeps nothing, as CA Service does
  not store what a DevOps pool issues, so ListCertificates never shows it;
- ListCertificateAuthorities and ListCertificates are paginated (certificates newest
  first); ListCertificates takes `caPools/-` for every pool of a location and the
  documented timestamp filters (`create_time`, `update_time`,
  `certificate_description.subject_description.not_after_time` and `not_before_time` with
  <, >, <=, >=, =, !=, joined by AND); another filter is INVALID_ARGUMENT;
- RevokeCertificate records `revocation_details`.

`config`-based certificate requests, templates, CRLs and CA deletion are not served
(UNIMPLEMENTED). A test bed and a playground, not CA Service.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from google.cloud.security import privateca_v1 as pca
from google.longrunning import operations_pb2

from keyplane.sandbox.gcp_fake import CloudKmsFake
from keyplane.sandbox.gcp_fake import _Abort as Abort

CAS_SERVICE = "google.cloud.security.privateca.v1.CertificateAuthorityService"

_ID = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
_LOCATION = re.compile(r"^projects/([^/]+)/locations/([^/]+)$")
_POOL = re.compile(r"^(projects/([^/]+)/locations/[^/]+)/caPools/([^/]+)$")
_CA = re.compile(r"^(projects/[^/]+/locations/[^/]+/caPools/[^/]+)/certificateAuthorities/"
                 r"([^/]+)$")
_CERT = re.compile(r"^(projects/[^/]+/locations/[^/]+/caPools/[^/]+)/certificates/([^/]+)$")
_FILTER_TERM = re.compile(r'^\s*([a-z_.]+)\s*(<=|>=|!=|<|>|=)\s*"?([^"]+?)"?\s*$')
_FILTER_FIELDS = ("create_time", "update_time",
                  "certificate_description.subject_description.not_after_time",
                  "certificate_description.subject_description.not_before_time")
_COMPARE: dict[str, Callable[[dt.datetime, dt.datetime], bool]] = {
    "<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b, "=": lambda a, b: a == b, "!=": lambda a, b: a != b}

_State = pca.CertificateAuthority.State
_Type = pca.CertificateAuthority.Type
_Tier = pca.CaPool.Tier
# CertificateAuthority.SignHashAlgorithm: the keys a CA may have (managed or in Cloud KMS).
_SIGN_ALGORITHMS = frozenset({"RSA_PSS_2048_SHA256", "RSA_PSS_3072_SHA256", "RSA_PSS_4096_SHA256",
                              "RSA_PKCS1_2048_SHA256", "RSA_PKCS1_3072_SHA256",
                              "RSA_PKCS1_4096_SHA256", "EC_P256_SHA256", "EC_P384_SHA384"})
# the states the fake sets (as enum members: proto-plus declares its members as int)
_STAGED = _State(_State.STAGED)
_ENABLED = _State(_State.ENABLED)
_AWAITING = _State(_State.AWAITING_USER_ACTIVATION)
# The subject fields of the API, in X.509 terms.
_SUBJECT_OIDS = (("country_code", NameOID.COUNTRY_NAME), ("organization",
                 NameOID.ORGANIZATION_NAME), ("organizational_unit",
                 NameOID.ORGANIZATIONAL_UNIT_NAME), ("locality", NameOID.LOCALITY_NAME),
                 ("province", NameOID.STATE_OR_PROVINCE_NAME),
                 ("street_address", NameOID.STREET_ADDRESS),
                 ("postal_code", NameOID.POSTAL_CODE), ("common_name", NameOID.COMMON_NAME))


@dataclass
class _Signer:
    """A CA's signing key (held here, or by the KMS fake) and its own certificate."""

    key: Any
    algorithm: str  # a CertificateAuthority.SignHashAlgorithm name
    cert: x509.Certificate | None
    kms_version: str | None = None  # a Cloud KMS key version: asked for at every signature


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key(algorithm: str) -> Any:
    """A fresh private key for a managed SignHashAlgorithm."""
    if algorithm.startswith("EC_P256"):
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm.startswith("EC_P384"):
        return ec.generate_private_key(ec.SECP384R1())
    bits = int(algorithm.split("_")[2])
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _sign(builder: x509.CertificateBuilder, signer: _Signer) -> x509.Certificate:
    """The certificate signed as the CA's algorithm says (RSASSA-PSS for a PSS key)."""
    digest: hashes.SHA256 | hashes.SHA384 = (hashes.SHA384() if signer.algorithm.endswith(
        "SHA384") else hashes.SHA256())
    if "_PSS_" in signer.algorithm:
        return builder.sign(signer.key, digest, rsa_padding=padding.PSS(
            mgf=padding.MGF1(digest), salt_length=padding.PSS.DIGEST_LENGTH))
    return builder.sign(signer.key, digest)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _subject(subject: pca.Subject) -> x509.Name:
    attrs = [x509.NameAttribute(oid, str(getattr(subject, field)))
             for field, oid in _SUBJECT_OIDS if getattr(subject, field)]
    if not attrs:
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                    "config.subject_config.subject must name at least one field (e.g. "
                    "common_name or organization)")
    return x509.Name(attrs)


def _operation(location: str, verb: str, target: str, message: Any) -> operations_pb2.Operation:
    """A finished long-running operation whose response is `message`."""
    op = operations_pb2.Operation(name=f"{location}/operations/{uuid.uuid4().hex}", done=True)
    op.response.Pack(type(message).pb(message))
    now = _now()
    op.metadata.Pack(pca.OperationMetadata.pb(pca.OperationMetadata(
        create_time=now, end_time=now, target=target, verb=verb, api_version="v1")))
    return op


class CertificateAuthorityServiceFake:
    """The state and the methods of the fake.

    projects: the hosted projects, shared with the KMS fake (empty: every project).
    kms: the Cloud KMS fake whose versions may be a CA's key (None: managed keys only).
    """

    def __init__(self, *, projects: set[str] | None = None,
                 kms: CloudKmsFake | None = None) -> None:
        self.projects = projects if projects is not None else set()
        self.kms = kms
        self._lock = threading.RLock()
        self._pools: dict[str, pca.CaPool] = {}
        self._cas: dict[str, pca.CertificateAuthority] = {}
        self._signers: dict[str, _Signer] = {}  # CA name -> its key and certificate
        self._certs: dict[str, pca.Certificate] = {}  # in creation order

    # --- helpers ----------------------------------------------------------------------------

    def _hosted(self, project: str) -> None:
        if self.projects and project not in self.projects:
            raise Abort(grpc.StatusCode.PERMISSION_DENIED,
                        f"permission denied on resource project {project}")

    def _pool(self, name: str) -> pca.CaPool:
        """The pool `name`: INVALID_ARGUMENT when it is no pool name, NOT_FOUND when absent."""
        m = _POOL.match(name)
        if m is None:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid ca pool name {name!r}: "
                        "expected projects/*/locations/*/caPools/*")
        self._hosted(m.group(2))
        pool = self._pools.get(name)
        if pool is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"Resource '{name}' was not found")
        return pool

    def _ca(self, name: str) -> pca.CertificateAuthority:
        m = _CA.match(name)
        if m is None:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid certificate authority name "
                        f"{name!r}: expected projects/*/locations/*/caPools/*/"
                        "certificateAuthorities/*")
        self._pool(m.group(1))
        ca = self._cas.get(name)
        if ca is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"Resource '{name}' was not found")
        return ca

    @staticmethod
    def _id(value: str, what: str) -> None:
        if not _ID.match(value):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"{what} {value!r} must match "
                        "[a-zA-Z0-9_-]{1,63}")

    @staticmethod
    def _page(items: list[Any], token: str, size: int) -> tuple[list[Any], str]:
        start = int(token) if token.isdigit() else 0
        size = size if 0 < size <= 1000 else 100
        nxt = start + size
        return items[start:nxt], (str(nxt) if nxt < len(items) else "")

    def _kms_signer(self, version: str) -> _Signer:
        """The KMS fake's ENABLED asymmetric signing version `version` as a CA key."""
        if self.kms is None:
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, "no Cloud KMS is served here")
        ver, key = self.kms._usable(version)  # NOT_FOUND, FAILED_PRECONDITION when unusable
        algorithm = ver.algorithm.name.replace("_SIGN_", "_", 1)
        if algorithm not in _SIGN_ALGORITHMS or not hasattr(key, "public_key"):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"{version} is "
                        f"{ver.algorithm.name}; a CA key must be one of "
                        f"{', '.join(sorted(_SIGN_ALGORITHMS))} (as a Cloud KMS algorithm)")
        return _Signer(key, algorithm, None, version)

    # --- CA pools ---------------------------------------------------------------------------

    def CreateCaPool(self, req: pca.CreateCaPoolRequest, repeat: bool) -> Any:
        m = _LOCATION.match(req.parent)
        if m is None:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid parent {req.parent!r}: "
                        "expected projects/*/locations/*")
        self._hosted(m.group(1))
        self._id(req.ca_pool_id, "ca_pool_id")
        if req.ca_pool.tier not in (_Tier.ENTERPRISE, _Tier.DEVOPS):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        "ca_pool.tier must be ENTERPRISE or DEVOPS")
        name = f"{req.parent}/caPools/{req.ca_pool_id}"
        with self._lock:
            if name in self._pools:
                raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"Resource '{name}' already exists")
            pool = pca.CaPool(req.ca_pool)
            pool.name = name
            self._pools[name] = pool
        return _operation(req.parent, "create", name, pool)

    def GetCaPool(self, req: pca.GetCaPoolRequest, repeat: bool) -> Any:
        with self._lock:
            return pca.CaPool(self._pool(req.name))

    # --- certificate authorities ------------------------------------------------------------

    def CreateCertificateAuthority(self, req: pca.CreateCertificateAuthorityRequest,
                                   repeat: bool) -> Any:
        ca = pca.CertificateAuthority(req.certificate_authority)
        with self._lock:
            pool = self._pool(req.parent)
            self._id(req.certificate_authority_id, "certificate_authority_id")
            name = f"{req.parent}/certificateAuthorities/{req.certificate_authority_id}"
            if name in self._cas:
                raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"Resource '{name}' already exists")
            if ca.type_ not in (_Type.SELF_SIGNED, _Type.SUBORDINATE):
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            "certificate_authority.type must be SELF_SIGNED or SUBORDINATE")
            lifetime = ca.lifetime
            if not lifetime or lifetime <= dt.timedelta(0):
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            "certificate_authority.lifetime must be positive")
            options = ca.config.x509_config.ca_options
            if "is_ca" not in options or not options.is_ca:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            "config.x509_config.ca_options.is_ca must be true for a CA")
            subject = _subject(ca.config.subject_config.subject)
            spec = ca.key_spec
            if spec.cloud_kms_key_version:
                signer = self._kms_signer(spec.cloud_kms_key_version)
            elif spec.algorithm:
                signer = _Signer(_new_key(spec.algorithm.name), spec.algorithm.name, None)
            else:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "certificate_authority.key_spec "
                            "needs algorithm or cloud_kms_key_version")
            now = _now()
            ca.name = name
            ca.tier = pool.tier
            ca.create_time = now
            ca.update_time = now
            if ca.type_ == _Type.SELF_SIGNED:
                path = options.max_issuer_path_length if "max_issuer_path_length" in options \
                    else None
                public = signer.key.public_key()
                builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                           .public_key(public).serial_number(x509.random_serial_number())
                           .not_valid_before(now).not_valid_after(now + lifetime)
                           .add_extension(x509.BasicConstraints(ca=True, path_length=path),
                                          critical=True)
                           .add_extension(x509.KeyUsage(
                               digital_signature=False, content_commitment=False,
                               key_encipherment=False, data_encipherment=False,
                               key_agreement=False, key_cert_sign=True, crl_sign=True,
                               encipher_only=False, decipher_only=False), critical=True)
                           .add_extension(x509.SubjectKeyIdentifier.from_public_key(public),
                                          critical=False))
                signer.cert = _sign(builder, signer)
                ca.pem_ca_certificates = [_pem(signer.cert)]
                ca.state = _STAGED  # CA Service creates a root CA STAGED
            else:
                ca.state = _AWAITING
            self._cas[name] = ca
            self._signers[name] = signer
            location = req.parent.rsplit("/caPools/", 1)[0]
            return _operation(location, "create", name, ca)

    def EnableCertificateAuthority(self, req: pca.EnableCertificateAuthorityRequest,
                                   repeat: bool) -> Any:
        with self._lock:
            ca = self._ca(req.name)
            if ca.state not in (_State.STAGED, _State.DISABLED, _State.ENABLED):
                raise Abort(grpc.StatusCode.FAILED_PRECONDITION,
                            f"{req.name} is {ca.state.name}; only a STAGED or DISABLED "
                            "certificate authority can be enabled")
            ca.state = _ENABLED
            ca.update_time = _now()
            location = req.name.split("/caPools/", 1)[0]
            return _operation(location, "update", req.name, ca)

    def GetCertificateAuthority(self, req: pca.GetCertificateAuthorityRequest,
                                repeat: bool) -> Any:
        with self._lock:
            return pca.CertificateAuthority(self._ca(req.name))

    def ListCertificateAuthorities(self, req: pca.ListCertificateAuthoritiesRequest,
                                   repeat: bool) -> Any:
        if req.filter or req.order_by:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        "the sandbox lists certificate authorities without filter or order_by")
        with self._lock:
            self._pool(req.parent)
            items = [pca.CertificateAuthority(c) for n, c in sorted(self._cas.items())
                     if n.startswith(req.parent + "/")]
        page, nxt = self._page(items, req.page_token, req.page_size)
        return pca.ListCertificateAuthoritiesResponse(
            certificate_authorities=page, next_page_token="1" if repeat else nxt)

    # --- certificates -----------------------------------------------------------------------

    def _issuer(self, pool_name: str, ca_id: str) -> tuple[str, _Signer]:
        """The CA that signs a request to `pool_name` (the one named, or the first ENABLED)."""
        if ca_id:
            name = f"{pool_name}/certificateAuthorities/{ca_id}"
            ca = self._ca(name)
            if ca.state not in (_State.ENABLED, _State.STAGED):
                raise Abort(grpc.StatusCode.FAILED_PRECONDITION,
                            f"{name} is {ca.state.name}; it cannot issue certificates")
            return name, self._signers[name]
        for name, ca in sorted(self._cas.items()):
            if name.startswith(pool_name + "/") and ca.state == _State.ENABLED:
                return name, self._signers[name]
        raise Abort(grpc.StatusCode.FAILED_PRECONDITION,
                    f"{pool_name} has no ENABLED certificate authority to issue from")

    def CreateCertificate(self, req: pca.CreateCertificateRequest, repeat: bool) -> Any:
        spec = pca.Certificate(req.certificate)
        if "config" in spec:
            raise Abort(grpc.StatusCode.UNIMPLEMENTED,
                        "the sandbox issues certificates from pem_csr only")
        if not spec.pem_csr:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "certificate.pem_csr is required")
        lifetime = spec.lifetime
        if not lifetime or lifetime <= dt.timedelta(0):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        "certificate.lifetime must be positive")
        try:
            csr = x509.load_pem_x509_csr(spec.pem_csr.encode())
            valid = csr.is_signature_valid
        except ValueError as exc:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        f"certificate.pem_csr is not a PEM certificate signing request: "
                        f"{exc}") from None
        if not valid:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        "the signature of certificate.pem_csr does not verify")
        with self._lock:
            pool = self._pool(req.parent)
            enterprise = pool.tier == _Tier.ENTERPRISE
            if enterprise:
                self._id(req.certificate_id, "certificate_id")  # required in Enterprise
            name = f"{req.parent}/certificates/{req.certificate_id or uuid.uuid4().hex}"
            if name in self._certs:
                raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"Resource '{name}' already exists")
            ca_name, signer = self._issuer(req.parent, req.issuing_certificate_authority_id)
            if signer.kms_version is not None:  # refused once the version is not ENABLED
                signer = _Signer(self._kms_signer(signer.kms_version).key, signer.algorithm,
                                 signer.cert, signer.kms_version)
            assert signer.cert is not None  # ENABLED and STAGED CAs have their certificate
            now = _now()
            not_after = min(now + lifetime, signer.cert.not_valid_after_utc)
            public = csr.public_key()
            builder = (x509.CertificateBuilder().subject_name(csr.subject)
                       .issuer_name(signer.cert.subject).public_key(public)
                       .serial_number(x509.random_serial_number())
                       .not_valid_before(now).not_valid_after(not_after)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                      critical=True)
                       .add_extension(x509.SubjectKeyIdentifier.from_public_key(public),
                                      critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                           signer.key.public_key()), critical=False))
            try:
                sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                builder = builder.add_extension(sans.value, critical=sans.critical)
            except x509.ExtensionNotFound:
                pass
            cert = _sign(builder, signer)
            der = cert.public_bytes(serialization.Encoding.DER)
            out = pca.Certificate(
                name=name, pem_csr=spec.pem_csr, lifetime=lifetime, labels=dict(spec.labels),
                issuer_certificate_authority=ca_name, create_time=now, update_time=now,
                pem_certificate="" if req.validate_only else _pem(cert),
                pem_certificate_chain=list(self._cas[ca_name].pem_ca_certificates),
                certificate_description=pca.CertificateDescription(
                    subject_description=pca.CertificateDescription.SubjectDescription(
                        hex_serial_number=format(cert.serial_number, "x"), lifetime=lifetime,
                        not_before_time=now, not_after_time=not_after),
                    cert_fingerprint=pca.CertificateDescription.CertificateFingerprint(
                        sha256_hash=hashlib.sha256(der).hexdigest())))
            if enterprise and not req.validate_only:
                self._certs[name] = out
            return pca.Certificate(out)

    def GetCertificate(self, req: pca.GetCertificateRequest, repeat: bool) -> Any:
        m = _CERT.match(req.name)
        if m is None:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid certificate name "
                        f"{req.name!r}: expected projects/*/locations/*/caPools/*/certificates/*")
        with self._lock:
            self._pool(m.group(1))
            cert = self._certs.get(req.name)
            if cert is None:
                raise Abort(grpc.StatusCode.NOT_FOUND, f"Resource '{req.name}' was not found")
            return pca.Certificate(cert)

    @staticmethod
    def _filter(text: str) -> list[tuple[str, str, dt.datetime]]:
        """The terms of a ListCertificates filter keyplane's fake understands."""
        terms = []
        for raw in (t for t in re.split(r"\s+AND\s+", text.strip()) if t):
            m = _FILTER_TERM.match(raw)
            if m is None or m.group(1) not in _FILTER_FIELDS:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported filter term "
                            f"{raw!r}; the sandbox filters on {', '.join(_FILTER_FIELDS)} "
                            "with <, >, <=, >=, =, != and AND")
            try:
                when = dt.datetime.fromisoformat(m.group(3))
            except ValueError:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"filter value {m.group(3)!r} "
                            "is not an RFC 3339 timestamp") from None
            terms.append((m.group(1), m.group(2),
                          when if when.tzinfo else when.replace(tzinfo=dt.UTC)))
        return terms

    @staticmethod
    def _field(cert: pca.Certificate, field: str) -> dt.datetime:
        value: Any = cert
        for part in field.split("."):
            value = getattr(value, part)
        return value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(0, dt.UTC)

    def ListCertificates(self, req: pca.ListCertificatesRequest, repeat: bool) -> Any:
        if req.order_by:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        "certificates are listed newest first; no other order is supported")
        terms = self._filter(req.filter)
        with self._lock:
            if req.parent.endswith("/caPools/-"):
                location = req.parent.removesuffix("/caPools/-")
                m = _LOCATION.match(location)
                if m is None:
                    raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"invalid parent {req.parent!r}")
                self._hosted(m.group(1))
                prefix = location + "/caPools/"
            else:
                self._pool(req.parent)
                prefix = req.parent + "/certificates/"
            items = [pca.Certificate(c) for n, c in reversed(self._certs.items())
                     if n.startswith(prefix)
                     and all(_COMPARE[op](self._field(c, f), v) for f, op, v in terms)]
        page, nxt = self._page(items, req.page_token, req.page_size)
        return pca.ListCertificatesResponse(certificates=page,
                                            next_page_token="1" if repeat else nxt)

    def RevokeCertificate(self, req: pca.RevokeCertificateRequest, repeat: bool) -> Any:
        self.GetCertificate(pca.GetCertificateRequest(name=req.name), repeat)
        with self._lock:
            cert = self._certs[req.name]
            if "revocation_details" in cert:
                raise Abort(grpc.StatusCode.FAILED_PRECONDITION,
                            f"{req.name} is already revoked")
            cert.revocation_details = pca.Certificate.RevocationDetails(
                revocation_state=req.reason, revocation_time=_now())
            cert.update_time = _now()
            return pca.Certificate(cert)


def _proto_plus(cls: Any) -> Callable[[Any], bytes]:
    return cls.serialize  # type: ignore[no-any-return]


def _operation_bytes(op: operations_pb2.Operation) -> bytes:
    return bytes(op.SerializeToString())


_METHODS: dict[str, tuple[Any, Callable[[Any], bytes]]] = {
    "CreateCaPool": (pca.CreateCaPoolRequest, _operation_bytes),
    "GetCaPool": (pca.GetCaPoolRequest, _proto_plus(pca.CaPool)),
    "CreateCertificateAuthority": (pca.CreateCertificateAuthorityRequest, _operation_bytes),
    "EnableCertificateAuthority": (pca.EnableCertificateAuthorityRequest, _operation_bytes),
    "GetCertificateAuthority": (pca.GetCertificateAuthorityRequest,
                                _proto_plus(pca.CertificateAuthority)),
    "ListCertificateAuthorities": (pca.ListCertificateAuthoritiesRequest,
                                   _proto_plus(pca.ListCertificateAuthoritiesResponse)),
    "CreateCertificate": (pca.CreateCertificateRequest, _proto_plus(pca.Certificate)),
    "GetCertificate": (pca.GetCertificateRequest, _proto_plus(pca.Certificate)),
    "ListCertificates": (pca.ListCertificatesRequest,
                         _proto_plus(pca.ListCertificatesResponse)),
    "RevokeCertificate": (pca.RevokeCertificateRequest, _proto_plus(pca.Certificate)),
}


def cas_handlers(wrap: Callable[[str], Any]) -> tuple[grpc.GenericRpcHandler, ...]:
    """The CertificateAuthorityService handlers; `wrap(method)` gives the endpoint's handler
    for a method of the fake (latency, fault rules, status codes)."""
    table = {m: grpc.unary_unary_rpc_method_handler(
        wrap(m), request_deserializer=req.deserialize, response_serializer=ser)
        for m, (req, ser) in _METHODS.items()}
    return (grpc.method_handlers_generic_handler(CAS_SERVICE, table),)
