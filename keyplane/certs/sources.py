"""Finding the certificates an environment declares: files first, then ACM and ACM PCA.

Files are part of the repository, so they are read before any cloud call and any problem
with them is bad input (exit 2, `cert_errors`). ACM and ACM Private CA are read through a
port (`CertificateStore`, implemented in `keyplane.cloud.aws.certs_source`); a source that
cannot be read becomes an `Unread` record, so the run is INCOMPLETE, never clean. ACM PCA
has no API that lists what a CA issued: its own certificate is read, and issued
certificates are read by the ARNs the inventory names. Google CA Service pools are
declared but not read yet (KP913, an `Unread`).
"""

from __future__ import annotations

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

__all__ = ["AcmRecord", "CertificateStore", "Collected",
           "PcaAuthority", "Unread", "collect_cloud", "collect_files"]

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
    # the ACM Private CAs declared, by ARN: their own key is accounted for by the inventory
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
    """An ACM Private CA: its status, how its key is stored, and its own certificate."""

    arn: str
    status: str
    key_storage: str | None
    pem: str | None  # None until a CA certificate is installed


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


# ---- ACM and ACM PCA ---------------------------------------------------------------------------

def collect_cloud(env: Environment, store: CertificateStore | None,
                  regions: Iterable[str] = ()) -> Collected:
    """The certificates of ACM and ACM PCA the keys declare, and what could not be read;
    GCP CAS pools are recorded as not read yet (KP913). Tags are looked up in each key's
    `acm.regions`, else in `regions` (`--region`), else in the environment's region."""
    default_regions = tuple(regions)
    out = Collected()
    seen: set[str] = set()
    home = env.aws.region if env.aws is not None else None
    for key in env.keys:
        certs = key.certificates
        if certs is None:
            continue
        for cas in certs.gcp_cas:
            out.unread.append(Unread(key.name, cas.ca_pool, f"{SOURCE_NOT_SUPPORTED} google "
                                     "certificate authority service is not read by keyplane "
                                     "yet; its certificates were not checked"))
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
