"""PKCS#10 certification requests (RFC 2986) signed by a key that never leaves its KMS.

`cryptography` cannot sign a request with an external signature, so keyplane encodes the
CertificationRequestInfo itself (a small DER encoder, below), has the KMS sign its digest
through a `CsrSigner` port, and assembles the request. `cryptography` still does what it
does well: the subject (RFC 4514 parsing and the Name's DER), the subjectAltName
extension's DER, and the independent check of the finished request (signature and public
key) before anything is written. Pure: no I/O, no SDK.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keyplane.certs.errors import (
    AlgorithmError,
    DeployedKeyError,
    IdentityMismatchError,
    KeyCannotSignError,
    SanError,
    SubjectError,
)
from keyplane.drills.crypto import SigningAlgorithm, load_public_key, public_der
from keyplane.model.specs import SPECS, Cloud, KeyUsage, spec_info

# --- DER (X.690), the few types a certification request needs ----------------------------------

BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL_TAG, OID_TAG = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
SEQUENCE, SET = 0x30, 0x31


def der_length(n: int) -> bytes:
    """The definite length octets of `n` (short form below 128, long form above)."""
    if n < 0:
        raise ValueError(f"a length cannot be negative, got {n}")
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element: identifier octet, length, content."""
    return bytes([tag]) + der_length(len(content)) + content


def sequence(*items: bytes) -> bytes:
    """SEQUENCE of already encoded items, in order."""
    return tlv(SEQUENCE, b"".join(items))


def _der_sorted(items: Iterable[bytes]) -> list[bytes]:
    """X.690 11.6: SET OF components in ascending order of their encodings, the shorter
    padded with trailing zero octets for the comparison."""
    items = list(items)
    width = max((len(i) for i in items), default=0)
    return sorted(items, key=lambda i: i.ljust(width, b"\0"))


def set_of(*items: bytes) -> bytes:
    """SET OF encoded items, in DER order."""
    return tlv(SET, b"".join(_der_sorted(items)))


def implicit_set_of(number: int, items: Iterable[bytes]) -> bytes:
    """`[number] IMPLICIT SET OF`: the set's content under a constructed context tag."""
    return tlv(0xA0 | number, b"".join(_der_sorted(items)))


def explicit(number: int, item: bytes) -> bytes:
    """`[number] EXPLICIT`: the encoded item wrapped in a constructed context tag."""
    return tlv(0xA0 | number, item)


def integer(value: int) -> bytes:
    """A non-negative INTEGER in the fewest octets (a leading zero when the top bit is set)."""
    if value < 0:
        raise ValueError(f"only non-negative integers are encoded, got {value}")
    return tlv(INTEGER, value.to_bytes((value.bit_length() + 8) // 8, "big"))


def boolean(value: bool) -> bytes:
    """BOOLEAN; DER writes TRUE as 0xFF."""
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")


def null() -> bytes:
    """NULL."""
    return tlv(NULL_TAG, b"")


def octet_string(data: bytes) -> bytes:
    """OCTET STRING."""
    return tlv(OCTET_STRING, data)


def bit_string(data: bytes) -> bytes:
    """BIT STRING of whole octets (no unused bits), as signatures and keys are."""
    return tlv(BIT_STRING, b"\x00" + data)


def oid(dotted: str) -> bytes:
    """OBJECT IDENTIFIER from its dotted form, each arc in base 128."""
    try:
        arcs = [int(a) for a in dotted.split(".")]
    except ValueError:
        raise ValueError(f"not a dotted object identifier: {dotted!r}") from None
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or min(arcs) < 0:
        raise ValueError(f"not a valid object identifier: {dotted!r}")
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return tlv(OID_TAG, bytes(body))


# --- object identifiers (RFC 2986, RFC 4055, RFC 5758, RFC 5280) ---------------------------------

OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14"  # PKCS#9 extensionRequest
OID_SUBJECT_ALT_NAME = "2.5.29.17"
OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
OID_MGF1 = "1.2.840.113549.1.1.8"
OID_HASH = {"SHA256": "2.16.840.1.101.3.4.2.1", "SHA384": "2.16.840.1.101.3.4.2.2",
            "SHA512": "2.16.840.1.101.3.4.2.3"}
OID_RSA_PKCS1 = {"SHA256": "1.2.840.113549.1.1.11", "SHA384": "1.2.840.113549.1.1.12",
                 "SHA512": "1.2.840.113549.1.1.13"}
OID_ECDSA = {"SHA256": "1.2.840.10045.4.3.2", "SHA384": "1.2.840.10045.4.3.3",
             "SHA512": "1.2.840.10045.4.3.4"}


def algorithm_identifier(alg: SigningAlgorithm) -> bytes:
    """The signatureAlgorithm of a request signed with `alg`.

    PKCS#1 v1.5: `sha*WithRSAEncryption` with NULL parameters (RFC 4055 section 5).
    PSS: `id-RSASSA-PSS` with explicit hash, MGF1 over the same hash and a salt as long as
    the digest: how AWS KMS and Cloud KMS sign (trailerField 1 is the default, omitted).
    ECDSA: `ecdsa-with-SHA*` without parameters (RFC 5758 section 3.2).
    """
    if alg.scheme == "PKCS1":
        return sequence(oid(OID_RSA_PKCS1[alg.hash_name]), null())
    if alg.scheme == "ECDSA":
        return sequence(oid(OID_ECDSA[alg.hash_name]))
    if alg.scheme == "PSS":
        hash_id = sequence(oid(OID_HASH[alg.hash_name]), null())
        params = sequence(explicit(0, hash_id), explicit(1, sequence(oid(OID_MGF1), hash_id)),
                          explicit(2, integer(alg.digest_size)))
        return sequence(oid(OID_RSASSA_PSS), params)
    raise ValueError(f"no signature algorithm identifier for scheme {alg.scheme}")


# --- which algorithms a key spec signs with ------------------------------------------------------

def _aws_rsa() -> tuple[SigningAlgorithm, ...]:
    # PKCS#1 v1.5 first: the default, because every CA accepts it; PSS where the CA does
    return tuple(SigningAlgorithm(f"RSASSA_{scheme}_SHA_{bits}", short, f"SHA{bits}")
                 for scheme, short in (("PKCS1_V1_5", "PKCS1"), ("PSS", "PSS"))
                 for bits in (256, 384, 512))


# AWS KeySpec -> the SigningAlgorithms AWS KMS offers for it, the default first
# (API_GetPublicKey "SigningAlgorithms"; an ECC key signs with the hash of its curve's size).
AWS_CSR_ALGORITHMS: dict[str, tuple[SigningAlgorithm, ...]] = {
    **{f"RSA_{b}": _aws_rsa() for b in (2048, 3072, 4096)},
    "ECC_NIST_P256": (SigningAlgorithm("ECDSA_SHA_256", "ECDSA", "SHA256"),),
    "ECC_NIST_P384": (SigningAlgorithm("ECDSA_SHA_384", "ECDSA", "SHA384"),),
    "ECC_NIST_P521": (SigningAlgorithm("ECDSA_SHA_512", "ECDSA", "SHA512"),),
    "ECC_SECG_P256K1": (SigningAlgorithm("ECDSA_SHA_256", "ECDSA", "SHA256"),),
}

# The public key each spec must have: ("rsa", bits) or ("ec", curve name).
_CURVES = {"ECC_NIST_P256": "secp256r1", "ECC_NIST_P384": "secp384r1",
           "ECC_NIST_P521": "secp521r1", "ECC_SECG_P256K1": "secp256k1",
           "EC_SIGN_P256_SHA256": "secp256r1", "EC_SIGN_P384_SHA384": "secp384r1",
           "EC_SIGN_SECP256K1_SHA256": "secp256k1"}


def _gcp_algorithm(spec: str) -> SigningAlgorithm | None:
    """A Cloud KMS version signs with exactly the algorithm it was created with."""
    m = re.fullmatch(r"(EC_SIGN_(?:P256|P384|SECP256K1)|RSA_SIGN_(PSS|PKCS1)_\d{4})_(SHA\d{3})",
                     spec)
    if m is None:
        return None
    scheme = m.group(2) or "ECDSA"
    return SigningAlgorithm(spec, scheme, m.group(3))


def algorithms_for(cloud: Cloud, spec: str) -> tuple[SigningAlgorithm, ...]:
    """The algorithms a request can be signed with for `spec`, the default first; () when
    keyplane has no certificate-request support for the spec (ML-DSA, raw PKCS#1)."""
    if cloud is Cloud.AWS:
        return AWS_CSR_ALGORITHMS.get(spec, ())
    alg = _gcp_algorithm(spec)
    return (alg,) if alg is not None else ()


def supported_specs(cloud: Cloud) -> list[str]:
    """The signing specs of `cloud` keyplane can make a request with (for messages)."""
    return [s for s, info in SPECS[cloud].items()
            if KeyUsage.SIGN in info.usages and algorithms_for(cloud, s)]


def choose_algorithm(cloud: Cloud, spec: str, requested: str | None) -> SigningAlgorithm:
    """`requested` when the spec signs with it, else the spec's default; AlgorithmError for
    an algorithm the spec does not sign with, KeyCannotSignError for an unsupported spec."""
    offered = algorithms_for(cloud, spec)
    if not offered:
        raise KeyCannotSignError(f"spec {spec} has no certificate-request support in keyplane; "
                                 f"supported {cloud.value} signing specs: "
                                 f"{', '.join(supported_specs(cloud))}")
    if requested is None:
        return offered[0]
    for alg in offered:
        if alg.name == requested.upper():
            return alg
    raise AlgorithmError(f"--algorithm {requested} is not a signing algorithm of {spec}; "
                         f"allowed: {', '.join(a.name for a in offered)}")


def check_public_key(cloud: Cloud, spec: str, der: bytes) -> None:
    """DeployedKeyError unless `der` is a DER SubjectPublicKeyInfo of the kind `spec` is
    (RSA of its size, or EC on its curve): the deployed key must be the declared one."""
    try:
        key = load_public_key(der)
    except ValueError as exc:
        raise DeployedKeyError(f"the public key of the deployed {spec} key cannot be read: "
                               f"{exc}") from None
    curve = _CURVES.get(spec)
    if curve is not None:
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve:
            got = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else \
                f"rsa-{key.key_size}"
            raise DeployedKeyError(f"the deployed key's public key is {got}, the declared spec "
                                   f"{spec} is ec on {curve}")
        return
    bits = spec_info(cloud, spec).rsa_bits
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != bits:
        got = f"rsa-{key.key_size}" if isinstance(key, rsa.RSAPublicKey) else \
            f"ec on {key.curve.name}"
        raise DeployedKeyError(f"the deployed key's public key is {got}, the declared spec "
                               f"{spec} is rsa-{bits}")


# --- subject and subject alternative names ------------------------------------------------------

# RFC 4514 section 3: the attribute types a string representation names by keyword (any
# other type is written as a dotted object identifier, `2.5.4.5=...`).
RFC4514_TYPES = ("CN", "L", "ST", "O", "OU", "C", "STREET", "DC", "UID")
_EXAMPLE_SUBJECT = "CN=signer.example.com,O=Example"


def _attributes(text: str) -> list[tuple[str, str]]:
    """(separator before it, `TYPE=value`) for each attribute of an RFC 4514 string, split
    at each `,` and `+` that no backslash escapes (RFC 4514 section 2.4)."""
    parts: list[tuple[str, str]] = []
    current: list[str] = []
    before, escaped = "", False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",+":
            parts.append((before, "".join(current)))
            before, current = ch, []
            continue
        current.append(ch)
    parts.append((before, "".join(current)))
    return parts


def parse_subject(text: str) -> x509.Name:
    """The Name an RFC 4514 string stands for (most specific RDN first, as written; type
    keywords in any case); SubjectError naming the bad part and the allowed types."""
    if not text.strip():
        return x509.Name([])
    canonical = []
    for before, part in _attributes(text):
        attr, sep, value = part.partition("=")
        attr = attr.strip()  # `CN=a, O=b`, as people write it
        if not sep:
            raise SubjectError(f"subject {text!r}: {part!r} is not TYPE=value (e.g. "
                               f"{_EXAMPLE_SUBJECT})")
        if attr.upper() in RFC4514_TYPES:
            attr = attr.upper()
        elif not re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", attr):
            raise SubjectError(f"subject {text!r}: unknown attribute type {attr!r}; allowed: "
                               f"{', '.join(RFC4514_TYPES)} or a dotted object identifier")
        if not value:
            raise SubjectError(f"subject {text!r}: attribute {attr} has an empty value")
        canonical.append(f"{before}{attr}={value}")
    try:
        return x509.Name.from_rfc4514_string("".join(canonical))
    except ValueError as exc:
        why = str(exc) or "not an RFC 4514 string"
        raise SubjectError(f"subject {text!r}: {why} (RFC 4514, e.g. {_EXAMPLE_SUBJECT})"
                           ) from None


SAN_TYPES = ("DNS", "IP", "URI", "email")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _hostname_problem(name: str, *, wildcard: bool) -> str | None:
    """Why `name` is not a DNS name a certificate may carry (None when it is one)."""
    if not name.isascii():
        return "is not ascii: give the IDNA A-label form (xn--...)"
    labels = name.split(".")
    if wildcard and labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:
            return "puts a wildcard on a top-level name"
    if len(name) > 253:
        return f"is {len(name)} characters long; at most 253"
    bad = next((label for label in labels if not _LABEL.fullmatch(label)), None)
    if bad is not None:
        return (f"has the label {bad!r}; labels are 1-63 letters, digits or '-', not starting "
                "or ending with '-' (a wildcard only as the whole first label)")
    return None


def parse_san(value: str) -> x509.GeneralName:
    """One `TYPE:value` subject alternative name; SanError naming what is wrong."""
    kind, sep, rest = value.partition(":")
    allowed = ", ".join(f"{t}:" for t in SAN_TYPES)
    canonical = {t.lower(): t for t in SAN_TYPES}.get(kind.lower()) if sep else None
    if canonical is None:
        raise SanError(f"--san {value!r}: the type must be one of {allowed} (e.g. "
                       "DNS:signer.example.com)")
    if not rest:
        raise SanError(f"--san {value!r}: the {canonical} value is empty")
    if canonical == "DNS":
        why = _hostname_problem(rest, wildcard=True)
        if why is not None:
            raise SanError(f"--san {value!r}: {rest!r} {why}")
        return x509.DNSName(rest)
    if canonical == "IP":
        try:
            return x509.IPAddress(ipaddress.ip_address(rest))
        except ValueError:
            raise SanError(f"--san {value!r}: {rest!r} is not an IPv4 or IPv6 address") from None
    if canonical == "URI":
        parts = urlsplit(rest)
        if not rest.isascii() or any(c.isspace() for c in rest) or not parts.scheme or \
                not (parts.netloc or parts.path):
            raise SanError(f"--san {value!r}: {rest!r} is not an absolute ascii URI with a "
                           "scheme (e.g. URI:spiffe://example.org/signer)")
        return x509.UniformResourceIdentifier(rest)
    local, at, domain = rest.rpartition("@")
    why = _hostname_problem(domain, wildcard=False) if at and local else "has no local@domain"
    if why is None and (not local.isascii() or any(c.isspace() for c in local)):
        why = "has a local part that is not ascii without spaces"
    if why is not None:
        raise SanError(f"--san {value!r}: {rest!r} {why}")
    return x509.RFC822Name(rest)


def parse_sans(values: Sequence[str]) -> list[x509.GeneralName]:
    """Every `--san`, in the order given; a repeated name is refused, not silently merged."""
    out: list[x509.GeneralName] = []
    seen: dict[tuple[str, str], str] = {}
    for value in values:
        name = parse_san(value)
        key = (type(name).__name__, str(name.value).lower())
        if key in seen:
            raise SanError(f"--san {value!r} names the same {value.partition(':')[0]} as "
                           f"--san {seen[key]!r}")
        seen[key] = value
        out.append(name)
    return out


# --- the request -------------------------------------------------------------------------------

class CsrSigner(Protocol):
    """Signs a digest with the one key version it was built for, inside its KMS."""

    def sign(self, digest: bytes, algorithm: str) -> bytes:
        """The signature over `digest` (a hash already taken) with the cloud's `algorithm`
        (e.g. ECDSA_SHA_384, RSASSA_PSS_SHA_256, RSA_SIGN_PKCS1_3072_SHA256); ECDSA
        signatures DER-encoded, as both clouds return them."""


@dataclass(frozen=True, kw_only=True)
class PublicKeyInfo:
    """The public key of a deployed key version, as its KMS reports it.

    `usage`: SIGN_VERIFY (AWS) or ASYMMETRIC_SIGN (GCP) for a signing key; `algorithms`:
    the signing algorithms the KMS offers for it (AWS) or the version's one (GCP).
    """

    der: bytes  # DER SubjectPublicKeyInfo
    spec: str  # KeySpec (AWS) or the version's algorithm (GCP)
    usage: str
    algorithms: tuple[str, ...]


def request_info(subject: x509.Name, public_key: bytes,
                 sans: Sequence[x509.GeneralName]) -> bytes:
    """The DER CertificationRequestInfo (RFC 2986 section 4.1): version 0, the subject, the
    SubjectPublicKeyInfo as given, and the SANs as an extensionRequest attribute. The SAN
    extension is critical only when the subject is empty (RFC 5280 section 4.2.1.6)."""
    attributes: list[bytes] = []
    if sans:
        san = x509.SubjectAlternativeName(list(sans)).public_bytes()
        flag = [boolean(True)] if len(subject) == 0 else []
        extension = sequence(oid(OID_SUBJECT_ALT_NAME), *flag, octet_string(san))
        attributes.append(sequence(oid(OID_EXTENSION_REQUEST), set_of(sequence(extension))))
    return sequence(integer(0), subject.public_bytes(), public_key,
                    implicit_set_of(0, attributes))


@dataclass(frozen=True)
class CertificateRequest:
    """A signed request: its DER, and the algorithm it was signed with."""

    der: bytes
    algorithm: SigningAlgorithm

    @property
    def pem(self) -> str:
        """RFC 7468 PEM, `CERTIFICATE REQUEST`, 64 characters a line."""
        body = "\n".join(textwrap.wrap(base64.b64encode(self.der).decode(), 64))
        return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the DER, to name this request in logs and audit events."""
        return hashlib.sha256(self.der).hexdigest()


def digest_of(data: bytes, alg: SigningAlgorithm) -> bytes:
    """The hash `alg` signs, over `data`."""
    h = hashes.Hash(alg.hash())
    h.update(data)
    return h.finalize()


def verify_request(der: bytes, public_key: bytes) -> x509.CertificateSigningRequest:
    """The request, once `cryptography` agrees its signature verifies and it carries
    `public_key`; IdentityMismatchError otherwise (nothing that fails this is written)."""
    try:
        csr = x509.load_der_x509_csr(der)
        valid = csr.is_signature_valid
        carried = csr.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    except ValueError as exc:
        raise IdentityMismatchError(f"the assembled request does not parse: {exc}") from None
    if carried != public_der(public_key):
        raise IdentityMismatchError("the assembled request carries another public key than "
                                    "the generation's")
    if not valid:
        raise IdentityMismatchError("the signature the kms returned does not verify with the "
                                    "generation's public key; nothing was written")
    return csr


def build_request(*, subject: x509.Name, sans: Sequence[x509.GeneralName], public_key: bytes,
                  algorithm: SigningAlgorithm, signer: CsrSigner) -> CertificateRequest:
    """Encode, have the KMS sign the digest, assemble, and verify before returning."""
    if len(subject) == 0 and not sans:
        raise SubjectError("an empty subject needs at least one --san (RFC 5280 4.2.1.6)")
    info = request_info(subject, public_key, sans)
    signature = signer.sign(digest_of(info, algorithm), algorithm.name)
    der = sequence(info, algorithm_identifier(algorithm), bit_string(signature))
    verify_request(der, public_key)
    return CertificateRequest(der, algorithm)
