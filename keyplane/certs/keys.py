"""The public key of every generation, so a certificate can be matched to the one it binds.

For each asymmetric key of the environment, the KMS adapter lists its deployed keys (AWS)
or versions (GCP), found as the sign canary and `keyplane csr` find them (`identity`), with
their state, where the key material is kept, and their public key. A generation is known
by the SHA-256 of its DER SubjectPublicKeyInfo. A KMS refuses GetPublicKey for a disabled
or pending-deletion key, yet certificates on exactly those generations matter most; for
them the fingerprint recorded by the generation's first passing sign canary is used
(`identity.recorded_fingerprint`, the first 16 hex digits). A generation whose public key is
neither readable nor recorded is *unreadable*: a certificate that matches nothing but could
be that generation (same kind of key) is judged UNKNOWN, never "not in the inventory".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from keyplane.audit.evidence import DrillResult
from keyplane.certs.cert_errors import PUBLIC_KEY_UNREADABLE
from keyplane.certs.csr import check_public_key
from keyplane.certs.errors import CsrError
from keyplane.certs.found import FoundCertificate, spki_sha256
from keyplane.certs.identity import label, recorded_fingerprint
from keyplane.cloudcall import AccessDenied, CloudCallError, Throttled
from keyplane.model.certificates import has_public_key
from keyplane.model.environment import Environment, Generation, KeyDecl
from keyplane.model.specs import Cloud

# The first hex digits of a fingerprint the sign canary records (`identity.fingerprint`).
RECORDED_DIGITS = 16


@dataclass(frozen=True)
class DeployedVersion:
    """One deployed key (AWS) or crypto key version (GCP) of a declared key."""

    ref: str  # key ARN or version name
    generation: int | None  # the generation it is: its tag (AWS), mapped (GCP)
    state: str  # Enabled / Disabled / PendingDeletion; ENABLED / DISABLED
    current: bool  # the alias (AWS) or the primary version (GCP) points here
    protection: str  # Origin (AWS_KMS, AWS_CLOUDHSM, EXTERNAL...) or protection level (HSM...)
    public_key: bytes | None  # DER SubjectPublicKeyInfo; None when the KMS refused it
    error: str | None = None  # why there is no public key


class KeyVersionsPort(Protocol):
    """One cloud's KMS: the deployed keys or versions of a declared key."""

    def deployed(self, key: KeyDecl) -> list[DeployedVersion]:
        """Every deployed key or version of `key`; a CloudCallError when they cannot be
        listed (GetPublicKey failures are recorded per version instead)."""
        ...


@dataclass(frozen=True)
class GenerationKey:
    """A generation whose public key is known (read from the KMS, or recorded)."""

    key: KeyDecl
    generation: int | None
    declared: Generation | None  # None: deployed, but the inventory does not declare it
    ref: str | None
    state: str | None
    current: bool
    protection: str | None
    spki_sha256: str | None = None  # from the KMS (full)
    recorded: str | None = None  # from a sign canary (RECORDED_DIGITS)

    @property
    def label(self) -> str:
        """`name@gN` (or the bare name)."""
        return label(self.key, self.generation)

    def matches(self, cert: FoundCertificate) -> bool:
        """Whether `cert` binds this generation's public key."""
        if self.spki_sha256 is not None:
            return cert.spki_sha256 == self.spki_sha256
        return self.recorded is not None and cert.spki_sha256[:RECORDED_DIGITS] == self.recorded


@dataclass(frozen=True)
class Unreadable:
    """A declared generation whose public key is neither readable nor recorded."""

    key: KeyDecl
    generation: int | None
    reason: str

    @property
    def label(self) -> str:
        """`name@gN`."""
        return label(self.key, self.generation)

    def could_be(self, cert: FoundCertificate) -> bool:
        """Whether `cert`'s key is of the generation's kind (the spec's curve or RSA size),
        so it might be this generation's."""
        if self.key.spec is None:
            return True
        try:
            check_public_key(self.key.cloud, self.key.spec, cert.spki)
        except CsrError:
            return False
        except KeyError:  # a spec without a size or curve keyplane knows: it might be
            return True
        return True


@dataclass
class KeyIndex:
    """Every generation's public key, and what could not be known."""

    generations: list[GenerationKey] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    read: list[str] = field(default_factory=list)  # refs whose public key was read
    # (key, reason) for each key whose deployed keys or versions could not be listed
    failures: list[tuple[KeyDecl, str]] = field(default_factory=list)

    def match(self, cert: FoundCertificate) -> GenerationKey | None:
        """The generation `cert` binds (a declared one first), or None."""
        hits = [g for g in self.generations if g.matches(cert)]
        hits.sort(key=lambda g: (g.declared is None, g.spki_sha256 is None))
        return hits[0] if hits else None

    def could_be(self, cert: FoundCertificate) -> list[Unreadable]:
        """The unreadable generations `cert` might bind."""
        return [u for u in self.unreadable if u.could_be(cert)]

    def of(self, key: str, generation: int | None) -> GenerationKey | None:
        """The known generation `key@gN`."""
        return next((g for g in self.generations if g.key.name == key
                     and g.generation == generation and g.declared is not None), None)

    def unreadable_of(self, key: str, generation: int | None) -> Unreadable | None:
        """Why `key@gN`'s public key is not known (None: it is, or it is not declared)."""
        return next((u for u in self.unreadable if u.key.name == key
                     and u.generation == generation), None)


NEEDS = {Cloud.AWS: "kms:ListKeys, kms:ListResourceTags, kms:DescribeKey and kms:GetPublicKey",
         Cloud.GCP: "cloudkms.cryptoKeyVersions.list, cloudkms.cryptoKeyVersions.get and "
                    "cloudkms.cryptoKeyVersions.viewPublicKey"}


def _why(exc: CloudCallError, cloud: Cloud) -> str:
    if isinstance(exc, AccessDenied):
        return f"{PUBLIC_KEY_UNREADABLE} {exc.describe()}: the caller needs {NEEDS[cloud]}"
    if isinstance(exc, Throttled):
        return f"{PUBLIC_KEY_UNREADABLE} {exc.describe()}: try again later"
    return f"{PUBLIC_KEY_UNREADABLE} {exc.describe()}: {exc.message or exc.code}"


def build_index(env: Environment, ports: Mapping[Cloud, KeyVersionsPort | None],
                history: Callable[[], Iterable[DrillResult]] | None = None,
                keys: Iterable[KeyDecl] | None = None) -> KeyIndex:
    """The public keys of every generation of `keys` (default: every asymmetric key of `env`).

    `ports[cloud]` is None when that cloud is not read in this run; `history` reads the drill
    evidence, called at most once and only when a generation's public key is not readable.
    """
    index = KeyIndex()
    evidence: list[list[DrillResult] | str] = []

    def recorded(key: KeyDecl, generation: int | None) -> tuple[str | None, str]:
        if history is None:
            return None, "no drill evidence was read"
        if not evidence:
            try:
                evidence.append(list(history()))
            except Exception as exc:  # any failure: the record is unknown
                evidence.append(f"the drill evidence could not be read ({type(exc).__name__}: "
                                f"{exc})")
        got = evidence[0]
        if isinstance(got, str):
            return None, got
        found = recorded_fingerprint(got, key.name, generation)
        return found, "" if found else "no sign canary recorded it"

    for key in (keys if keys is not None else env.keys):
        if not has_public_key(key):
            continue
        port = ports.get(key.cloud)
        declared: dict[int | None, Generation | None] = {
            g.generation: g for g in key.generations} or {None: None}
        if port is None:
            for number in declared:
                _unreadable(index, key, number, f"{PUBLIC_KEY_UNREADABLE} {key.cloud.value} "
                            "was not read in this run", recorded)
            continue
        try:
            versions = port.deployed(key)
        except CloudCallError as exc:
            index.failures.append((key, _why(exc, key.cloud)))
            for number in declared:
                _unreadable(index, key, number, _why(exc, key.cloud), recorded)
            continue
        for number, gen in declared.items():
            claims = [v for v in versions if v.generation == number]
            if not claims:
                _unreadable(index, key, number, f"{PUBLIC_KEY_UNREADABLE} "
                            f"{label(key, number)} is not deployed", recorded)
                continue
            if len(claims) > 1:  # an impostor tagged as the generation: trust neither
                refs = ", ".join(sorted(v.ref for v in claims))
                index.unreadable.append(Unreadable(key, number, f"{PUBLIC_KEY_UNREADABLE} "
                                                   f"{len(claims)} keys claim to be "
                                                   f"{label(key, number)} ({refs})"))
                continue
            v = claims[0]
            if v.public_key is not None:
                index.read.append(v.ref)
                index.generations.append(GenerationKey(
                    key=key, generation=number, declared=gen, ref=v.ref, state=v.state,
                    current=v.current, protection=v.protection,
                    spki_sha256=spki_sha256(v.public_key)))
                continue
            fp, why_not = recorded(key, number)
            if fp is not None:
                index.generations.append(GenerationKey(
                    key=key, generation=number, declared=gen, ref=v.ref, state=v.state,
                    current=v.current, protection=v.protection, recorded=fp))
            else:
                index.unreadable.append(Unreadable(key, number, f"{PUBLIC_KEY_UNREADABLE} "
                                                   f"{v.error or 'no public key'}; {why_not}"))
        for v in versions:
            if v.generation not in declared and v.public_key is not None:
                index.generations.append(GenerationKey(
                    key=key, generation=v.generation, declared=None, ref=v.ref, state=v.state,
                    current=v.current, protection=v.protection,
                    spki_sha256=spki_sha256(v.public_key)))
    return index


def _unreadable(index: KeyIndex, key: KeyDecl, number: int | None, reason: str,
                recorded: Callable[[KeyDecl, int | None], tuple[str | None, str]]) -> None:
    """A generation the KMS did not answer for: its recorded fingerprint, else unreadable."""
    fp, why_not = recorded(key, number)
    gen = next((g for g in key.generations if g.generation == number), None)
    if fp is not None:
        index.generations.append(GenerationKey(key=key, generation=number, declared=gen,
                                               ref=None, state=None,
                                               current=number == key.generation,
                                               protection=None, recorded=fp))
    else:
        index.unreadable.append(Unreadable(key, number, f"{reason}; {why_not}"))
