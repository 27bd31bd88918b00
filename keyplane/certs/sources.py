"""Finding the certificates an environment declares: files first, then ACM, ACM PCA and
Google CA Service.

Files are part of the repository, so they are read before any cloud call and any problem
with them is bad input (exit 2, `cert_errors`). ACM and ACM Private CA are read through a
port (`CertificateStore`, implemented in `keyplane.cloud.aws.certs_source`), Google CA
Service pools through another (`CaPoolStore`, `keyplane.cloud.gcp.cas_source`); a source
that cannot be read becomes an `Unread` record, so the run is INCOMPLETE, never clean. ACM
PCA has no API that lists what a CA issued: its own certificate is read, and issued
certificates are read by the ARNs the inventory names. A CA Service pool is read whole:
the CA certificates of its certificate authorities and every unexpired certificate it
issued; a DevOps-tier pool stores nothing it issues, so those stay unread (KP913).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from keyplane.certs.cert_errors import (
    SOURCE_NOT_SUPPORTED,
    SOURCE_UNREADABLE,
    CertificateFileError,
    NotACertificateError,
    PathOutsideRepositoryError,
)
from keyplane.certs.found import FoundCertificate, Source, from_x509, load_first
from keyplane.cloudcall import AccessDenied, CloudCallError, NotFound, Throttled
from keyplane.model.certificates import repository_root
from keyplane.model.environment import Environment, KeyDecl

__all__ = ["AcmRecord", "CaPoolRecord", "CaPoolStore", "CasAuthority", "CasCertificate",
           "CertificateStore", "Collected", "PcaAuthority", "Unread", "collect_cloud",
           "collect_files"]

# File names a certificate directory is read for; anything else in it is left alone.
CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer", ".der")
# Larger than any certificate with its chain: a file beyond it is not read into memory.
MAX_CERTIFICATE_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Unread:
    """A source that could not be read: which key declared it, what and why (with a code)."""

    declared_by: str
    resource: str
    reason: str
    region: str | None = None


@dataclass
class Collected:
    """The certificates found, and the sources that could not be read."""

    certificates: list[FoundCertificate] = field(default_factory=list)
    unread: list[Unread] = field(default_factory=list)
    # the ACM Private CAs declared, by ARN, and the CA Service CAs with a key CA Service
    # manages, by name: their own key is accounted for by the inventory
    authorities: dict[str, PcaAuthority] = field(default_factory=dict)


@dataclass(frozen=True)
class AcmRecord:
    """One ACM certificate as DescribeCertificate and GetCertificate return it (`pem` is None
    while it is not issued: GetCertificate has nothing to return)."""

    arn: str
    status: str
    pem: str | None


@dataclass(frozen=True)
class PcaAuthority:
    """A CA whose key the CA service holds: an ACM Private CA (by ARN), or a CA Service
    certificate authority with a key CA Service manages (by resource name). Its status, how
    its key is stored, and its own certificate; `service` names it in every reason."""

    arn: str
    status: str
    key_storage: str | None
    pem: str | None  # None until a CA certificate is installed
    service: str = "ACM Private CA"


@dataclass(frozen=True)
class CaPoolRecord:
    """A CA Service pool as GetCaPool returns it."""

    name: str
    tier: str  # ENTERPRISE or DEVOPS


@dataclass(frozen=True)
class CasAuthority:
    """A certificate authority of a CA Service pool (ListCertificateAuthorities)."""

    name: str  # projects/P/locations/L/caPools/POOL/certificateAuthorities/CA
    state: str  # ENABLED, DISABLED, STAGED, AWAITING_USER_ACTIVATION, DELETED
    type: str  # SELF_SIGNED or SUBORDINATE
    pem: str | None  # its own CA certificate; None before a subordinate CA is activated
    # key_spec.cloud_kms_key_version; None when CA Service manages the key (key_spec.algorithm)
    kms_key_version: str | None


@dataclass(frozen=True)
class CasCertificate:
    """A certificate a CA Service pool issued (ListCertificates)."""

    name: str  # projects/P/locations/L/caPools/POOL/certificates/ID
    issuer: str  # the issuing certificate authority's name
    pem: str | None
    revoked: str | None  # the revocation reason when revoked, else None


class CertificateStore(Protocol):
    """ACM and ACM Private CA in one account (`keyplane.cloud.aws.certs_source`). Each call
    raises a `keyplane.cloudcall.CloudCallError` when it fails."""

    def acm_certificate(self, arn: str) -> AcmRecord:
        """DescribeCertificate and GetCertificate of one certificate (its ARN's Region)."""
        ...

    def acm_tagged(self, region: str, tags: dict[str, str]) -> list[AcmRecord]:
        """Every certificate in `region` that carries all `tags` (ListCertificates of every
        key type, ListTagsForCertificate, then as `acm_certificate`)."""
        ...

    def pca_authority(self, arn: str) -> PcaAuthority:
        """DescribeCertificateAuthority and GetCertificateAuthorityCertificate."""
        ...

    def pca_certificate(self, authority_arn: str, arn: str) -> str:
        """GetCertificate of a certificate the CA issued (PEM)."""
        ...


class CaPoolStore(Protocol):
    """Google CA Service pools of one project (`keyplane.cloud.gcp.cas_source`). Each call
    raises a `keyplane.cloudcall.CloudCallError` when it fails."""

    def ca_pool(self, name: str) -> CaPoolRecord:
        """GetCaPool."""
        ...

    def pool_authorities(self, pool: str) -> list[CasAuthority]:
        """Every certificate authority of the pool (ListCertificateAuthorities, paged)."""
        ...

    def pool_certificates(self, pool: str, valid_at: dt.datetime | None) -> list[CasCertificate]:
        """Every certificate the pool issued that is still valid after `valid_at` (None:
        every one), revoked ones included (ListCertificates, paged)."""
        ...


# ---- files -------------------------------------------------------------------------------------

def collect_files(env: Environment) -> list[FoundCertificate]:
    """Every certificate the environment's keys declare as files, in key order. Raises
    PathOutsideRepositoryError, CertificateFileError or NotACertificateError (exit 2)."""
    if env.source_file is None or not any(k.certificates and k.certificates.files
                                          for k in env.keys):
        return []
    env_file = Path(env.source_file)
    root = repository_root(env_file).resolve()
    out: list[FoundCertificate] = []
    for key in env.keys:
        if key.certificates is None:
            continue
        for j, entry in enumerate(key.certificates.files):
            where = f"{env.source_file}: keys[{key.name}].certificates.files[{j}]"
            path = _inside(root, env_file.parent / entry, entry, where)
            for file in _files_of(path, entry, where, root):
                out.append(_read_file(file, root, key, where))
    return out


def _inside(root: Path, path: Path, entry: str, where: str) -> Path:
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        raise CertificateFileError(f"{where}: '{entry}' does not exist ({path})") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop is a RuntimeError
        raise CertificateFileError(f"{where}: '{entry}' cannot be resolved: {exc}") from None
    if not resolved.is_relative_to(root):
        raise PathOutsideRepositoryError(f"{where}: '{entry}' resolves to {resolved}, outside "
                                         f"the repository {root}; keep certificates inside it")
    return resolved


def _files_of(path: Path, entry: str, where: str, root: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise CertificateFileError(f"{where}: '{entry}' is neither a file nor a directory")
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise CertificateFileError(f"{where}: cannot list '{entry}': "
                                   f"{exc.strerror or exc}") from None
    found = []
    for name in names:
        child = path / name
        if not name.lower().endswith(CERTIFICATE_SUFFIXES) or name.startswith("."):
            continue
        resolved = _inside(root, child, f"{entry}/{name}", where)
        if resolved.is_file():
            found.append(resolved)
    return found


def _read_file(path: Path, root: Path, key: KeyDecl, where: str) -> FoundCertificate:
    rel = path.relative_to(root).as_posix()
    try:
        size = path.stat().st_size
        if size > MAX_CERTIFICATE_FILE_BYTES:
            raise NotACertificateError(f"{where}: {rel} is {size} bytes; a certificate with "
                                       f"its chain is far smaller (limit "
                                       f"{MAX_CERTIFICATE_FILE_BYTES} bytes)")
        data = path.read_bytes()
    except OSError as exc:
        raise CertificateFileError(f"{where}: cannot read {rel}: {exc.strerror or exc}") from None
    if b"PRIVATE KEY-----" in data:
        # never echoed: the finding is that the file exists in the repository at all
        raise NotACertificateError(f"{where}: {rel} holds a private key; remove it from the "
                                   "repository and rotate the key (certificates only)")
    try:
        cert = load_first(data)
        return from_x509(cert, id=rel, source=Source.FILE, declared_by=key.name)
    except ValueError as exc:
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise NotACertificateError(f"{where}: {rel} is not a pem or der x.509 certificate "
                                   f"({first})") from None


# ---- ACM, ACM PCA and CA Service ---------------------------------------------------------------

def collect_cloud(env: Environment, store: CertificateStore | None,
                  regions: Iterable[str] = (), *, cas: CaPoolStore | None = None,
                  at: dt.datetime | None = None) -> Collected:
    """The certificates of ACM, ACM PCA and CA Service the keys declare, and what could not
    be read (`store` None: AWS not read; `cas` None: GCP not read). Tags are looked up in
    each key's `acm.regions`, else in `regions` (`--region`), else in the environment's
    region. CA Service certificates that expired by `at` are not listed: nothing relies on
    them, and a busy pool keeps millions."""
    default_regions = tuple(regions)
    out = Collected()
    seen: set[str] = set()
    home = env.aws.region if env.aws is not None else None
    for key in env.keys:
        certs = key.certificates
        if certs is None:
            continue
        for pool in certs.gcp_cas:
            _cas_pool(out, seen, cas, key, pool.ca_pool, at)
        if store is None:
            if certs.acm is not None or certs.acm_pca:
                out.unread.append(Unread(key.name, f"acm:{key.name}", f"{SOURCE_UNREADABLE} "
                                         "aws was not read in this run"))
            continue
        if certs.acm is not None:
            for arn in certs.acm.arns:
                _acm_one(out, seen, store, key, arn)
            if certs.acm.tags:
                for region in certs.acm.regions or default_regions or (
                        (home,) if home else ()):
                    _acm_tagged(out, seen, store, key, region, certs.acm.tags)
        for pca in certs.acm_pca:
            _pca(out, seen, store, key, pca.authority_arn, pca.issued)
    return out


def _region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else None


def why(exc: CloudCallError, needs: str) -> str:
    """A failed read in one sentence with its code (denied: what the caller needs)."""
    if isinstance(exc, AccessDenied):
        return f"{SOURCE_UNREADABLE} {exc.describe()}: the caller needs {needs}"
    if isinstance(exc, Throttled):
        return f"{SOURCE_UNREADABLE} {exc.describe()}: try again later"
    if isinstance(exc, NotFound):
        return f"{SOURCE_UNREADABLE} {exc.describe()}: {exc.message or 'it does not exist'}"
    return f"{SOURCE_UNREADABLE} {exc.describe()}: {exc.message or exc.code}"


ACM_NEEDS = "acm:DescribeCertificate and acm:GetCertificate"
ACM_LIST_NEEDS = "acm:ListCertificates, acm:ListTagsForCertificate, " + ACM_NEEDS
PCA_NEEDS = "acm-pca:DescribeCertificateAuthority and acm-pca:GetCertificateAuthorityCertificate"
PCA_ISSUED_NEEDS = "acm-pca:GetCertificate"


def _add_acm(out: Collected, seen: set[str], key: KeyDecl, record: AcmRecord) -> None:
    if record.arn in seen:
        return
    seen.add(record.arn)
    if record.pem is None:  # requested, not issued yet: nothing binds a key
        return
    try:
        cert = load_first(record.pem.encode())
        out.certificates.append(from_x509(cert, id=record.arn, source=Source.ACM,
                                          declared_by=key.name, region=_region(record.arn),
                                          status=record.status))
    except ValueError as exc:
        out.unread.append(Unread(key.name, record.arn, f"{SOURCE_UNREADABLE} acm returned a "
                                 f"certificate keyplane cannot parse: {exc}",
                                 _region(record.arn)))


def _acm_one(out: Collected, seen: set[str], store: CertificateStore, key: KeyDecl,
             arn: str) -> None:
    if arn in seen:
        return
    try:
        record = store.acm_certificate(arn)
    except CloudCallError as exc:
        seen.add(arn)
        out.unread.append(Unread(key.name, arn, why(exc, ACM_NEEDS), _region(arn)))
        return
    _add_acm(out, seen, key, record)


def _acm_tagged(out: Collected, seen: set[str], store: CertificateStore, key: KeyDecl,
                region: str, tags: dict[str, str]) -> None:
    try:
        records = store.acm_tagged(region, tags)
    except CloudCallError as exc:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))
        out.unread.append(Unread(key.name, f"acm:{region}:tags[{shown}]",
                                 why(exc, ACM_LIST_NEEDS), region))
        return
    for record in records:
        _add_acm(out, seen, key, record)


def _pca(out: Collected, seen: set[str], store: CertificateStore, key: KeyDecl,
         authority_arn: str, issued: Iterable[str]) -> None:
    region = _region(authority_arn)
    if authority_arn not in seen:
        seen.add(authority_arn)
        try:
            ca = store.pca_authority(authority_arn)
        except CloudCallError as exc:
            out.unread.append(Unread(key.name, authority_arn, why(exc, PCA_NEEDS), region))
        else:
            out.authorities[authority_arn] = ca
            if ca.pem is not None:
                try:
                    cert = load_first(ca.pem.encode())
                    out.certificates.append(from_x509(
                        cert, id=authority_arn, source=Source.ACM_PCA_AUTHORITY,
                        declared_by=key.name, region=region, status=ca.status,
                        authority=authority_arn, key_storage=ca.key_storage))
                except ValueError as exc:
                    out.unread.append(Unread(key.name, authority_arn, f"{SOURCE_UNREADABLE} "
                                             f"acm pca returned a ca certificate keyplane "
                                             f"cannot parse: {exc}", region))
    for arn in issued:
        if arn in seen:
            continue
        seen.add(arn)
        try:
            pem = store.pca_certificate(authority_arn, arn)
            cert = load_first(pem.encode())
        except CloudCallError as exc:
            out.unread.append(Unread(key.name, arn, why(exc, PCA_ISSUED_NEEDS), region))
            continue
        except ValueError as exc:
            out.unread.append(Unread(key.name, arn, f"{SOURCE_UNREADABLE} acm pca returned a "
                                     f"certificate keyplane cannot parse: {exc}", region))
            continue
        out.certificates.append(from_x509(cert, id=arn, source=Source.ACM_PCA,
                                          declared_by=key.name, region=region,
                                          authority=authority_arn))


# ---- Google CA Service -------------------------------------------------------------------------

CAS_NEEDS = "privateca.caPools.get and privateca.certificateAuthorities.list"
CAS_LIST_NEEDS = "privateca.certificates.list"
# How a CA's key is stored when CA Service manages it (key_spec.algorithm): CA Service
# creates those keys in Cloud HSM, protection level HSM.
CAS_MANAGED_KEY_STORAGE = "HSM"


def _location(name: str) -> str | None:
    parts = name.split("/")
    return parts[3] if len(parts) > 3 and parts[2] == "locations" else None


def _cas_pool(out: Collected, seen: set[str], cas: CaPoolStore | None, key: KeyDecl,
              pool: str, at: dt.datetime | None) -> None:
    """One pool: GetCaPool and its CAs, then what it issued (not for a DevOps pool).

    Revoked certificates are kept, with status REVOKED, rather than skipped: every rule
    finds them NOT_APPLICABLE, and the timeline still shows that a generation's certificate
    was revoked, which is the evidence a re-issue finished.
    """
    location = _location(pool)
    if cas is None:
        out.unread.append(Unread(key.name, pool, f"{SOURCE_UNREADABLE} gcp was not read in "
                                 "this run", location))
        return
    if pool in seen:
        return
    seen.add(pool)
    try:
        record = cas.ca_pool(pool)
        authorities = cas.pool_authorities(pool)
    except CloudCallError as exc:
        out.unread.append(Unread(key.name, pool, why(exc, CAS_NEEDS), location))
        return
    for ca in authorities:
        _cas_authority(out, seen, key, ca, location)
    issued_at = f"{pool}/certificates"
    if record.tier == "DEVOPS":
        out.unread.append(Unread(key.name, issued_at, f"{SOURCE_NOT_SUPPORTED} {pool} is a "
                                 "DevOps-tier pool: CA Service does not store the certificates "
                                 "it issues, so they cannot be listed (its CA certificates "
                                 "were read); declare them as files", location))
        return
    try:
        issued = cas.pool_certificates(pool, at)
    except CloudCallError as exc:
        out.unread.append(Unread(key.name, issued_at, why(exc, CAS_LIST_NEEDS), location))
        return
    for c in issued:
        if c.name in seen or c.pem is None:
            continue
        seen.add(c.name)
        try:
            cert = load_first(c.pem.encode())
            out.certificates.append(from_x509(
                cert, id=c.name, source=Source.GCP_CAS, declared_by=key.name, region=location,
                status="REVOKED" if c.revoked else None, authority=c.issuer))
        except ValueError as exc:
            out.unread.append(Unread(key.name, c.name, f"{SOURCE_UNREADABLE} ca service "
                                     f"returned a certificate keyplane cannot parse: {exc}",
                                     location))


def _cas_authority(out: Collected, seen: set[str], key: KeyDecl, ca: CasAuthority,
                   location: str | None) -> None:
    """A CA's own certificate. A CA whose key CA Service manages is an authority: declaring
    the pool accounts for that key, as declaring an ACM Private CA does. A CA on a Cloud KMS
    key version is matched to a generation like any certificate, so a CA key keyplane does
    not manage is a finding."""
    if ca.name in seen or ca.pem is None:  # a subordinate CA not activated has none
        return
    seen.add(ca.name)
    storage = ca.kms_key_version or CAS_MANAGED_KEY_STORAGE
    try:
        cert = load_first(ca.pem.encode())
        found = from_x509(cert, id=ca.name, source=Source.GCP_CAS_AUTHORITY,
                          declared_by=key.name, region=location, status=ca.state,
                          authority=ca.name, key_storage=storage)
    except ValueError as exc:
        out.unread.append(Unread(key.name, ca.name, f"{SOURCE_UNREADABLE} ca service returned "
                                 f"a ca certificate keyplane cannot parse: {exc}", location))
        return
    out.certificates.append(found)
    if ca.kms_key_version is None:
        out.authorities[ca.name] = PcaAuthority(ca.name, ca.state, storage, ca.pem,
                                                service="CA Service")
