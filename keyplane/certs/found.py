"""A certificate as `keyplane certs` judges it: where it was found and what it binds.

Every source (ACM, ACM Private CA, CA Service, files) hands over one certificate; `parse`
reads it once, at the edge, into the fields the rules read: the validity, whether it is a
CA certificate, and the SHA-256 of its SubjectPublicKeyInfo, the fingerprint it is matched
to a key generation by. Nothing here holds or prints key material: certificates and public
keys are public.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa


class Source:
    """Where a certificate was found (the `source` field of the JSON form)."""

    ACM = "acm"
    ACM_PCA = "acm-pca"  # issued by an ACM Private CA
    ACM_PCA_AUTHORITY = "acm-pca-authority"  # the CA's own certificate
    GCP_CAS = "gcp-cas"  # issued by a Google CA Service pool
    GCP_CAS_AUTHORITY = "gcp-cas-authority"  # a CA Service CA's own certificate
    FILE = "file"


# ACM statuses of certificates that are not in use: nothing relies on them any more (and
# a CA Service CA that was DELETED: it left its pool's trust anchor).
INACTIVE_STATUSES = frozenset({"REVOKED", "INACTIVE", "FAILED", "VALIDATION_TIMED_OUT",
                               "EXPIRED", "DELETED"})


@dataclass(frozen=True)
class FoundCertificate:
    """One certificate, the key it was declared under, and what the rules read of it."""

    id: str  # the ARN, or `<path relative to the repository>#<n>` for a file
    source: str  # a `Source` value
    declared_by: str  # the key whose `certificates` led to it
    subject: str
    issuer: str
    serial: str  # hex
    not_before: dt.datetime  # UTC
    not_after: dt.datetime  # UTC
    is_ca: bool  # basicConstraints cA
    spki_sha256: str  # SHA-256 of the DER SubjectPublicKeyInfo, hex
    spki: bytes  # the DER SubjectPublicKeyInfo (public)
    key_kind: str  # e.g. `ec secp384r1`, `rsa 3072`
    region: str | None = None
    status: str | None = None  # ACM's status, when ACM holds it
    authority: str | None = None  # ACM PCA: the CA's ARN
    key_storage: str | None = None  # ACM PCA authority: KeyStorageSecurityStandard

    def expired(self, at: dt.datetime) -> bool:
        """Whether the certificate is no longer valid at `at`."""
        return self.not_after <= at

    def in_use(self, at: dt.datetime) -> bool:
        """Valid at `at` and not revoked or otherwise retired by the service holding it."""
        return not self.expired(at) and (self.status or "") not in INACTIVE_STATUSES

    def days_left(self, at: dt.datetime) -> int:
        """Whole days from `at` until it expires (negative once expired)."""
        return (self.not_after - at).days

    def to_dict(self) -> dict[str, object]:
        """The certificate's own fields for the JSON form (no DER)."""
        return {"id": self.id, "source": self.source, "declared_by": self.declared_by,
                "subject": self.subject, "issuer": self.issuer, "serial": self.serial,
                "not_before": self.not_before.isoformat(),
                "not_after": self.not_after.isoformat(), "is_ca": self.is_ca,
                "spki_sha256": self.spki_sha256, "key_kind": self.key_kind,
                "region": self.region, "status": self.status, "authority": self.authority,
                "key_storage": self.key_storage}


def spki_sha256(spki_der: bytes) -> str:
    """The full SHA-256 (hex) of a DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der).hexdigest()


def key_kind(public_key: object) -> str:
    """`rsa <bits>`, `ec <curve>`, `ed25519`, or the key's class name."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa {public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ec {public_key.curve.name}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "ed448"
    return type(public_key).__name__


def from_x509(cert: x509.Certificate, *, id: str, source: str, declared_by: str,
              region: str | None = None, status: str | None = None,
              authority: str | None = None, key_storage: str | None = None
              ) -> FoundCertificate:
    """The FoundCertificate of a parsed certificate. ValueError when its public key is of a
    kind `cryptography` cannot load."""
    public = cert.public_key()
    spki = public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = bool(basic.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    return FoundCertificate(
        id=id, source=source, declared_by=declared_by, subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(), serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        is_ca=is_ca, spki_sha256=spki_sha256(spki), spki=spki, key_kind=key_kind(public),
        region=region, status=status, authority=authority, key_storage=key_storage)


def load_first(data: bytes) -> x509.Certificate:
    """The first certificate of PEM data (a leaf followed by its chain, as `fullchain.pem`
    and ACM write it), or of DER data. ValueError when there is none."""
    if b"-----BEGIN" in data:
        found = x509.load_pem_x509_certificates(data)  # ValueError when none
        return found[0]
    return x509.load_der_x509_certificate(data)
