"""The rules `keyplane certs` judges each certificate by, one function each.

A rule is a pure function of one certificate case (the certificate, the generation its
public key matched, the inventory and the date) and returns a verdict: PASS, FAIL, UNKNOWN
or NOT_APPLICABLE. Severities come from the tier packs (`keyplane.policy.packs.CERTS`) by
the tier of the key behind the certificate; a ca certificate is judged at the ca tier.
A certificate that is expired, revoked or otherwise retired by the service holding it is
NOT_APPLICABLE everywhere: nothing relies on it any more.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keyplane.certs.found import FoundCertificate
from keyplane.certs.keys import GenerationKey, KeyIndex, Unreadable
from keyplane.certs.sources import PcaAuthority
from keyplane.findings import Control, Status
from keyplane.model.environment import GenerationState, KeyDecl
from keyplane.model.tiers import Tier, policy_for

DOCS_URL = "https://github.com/keyplane/keyplane/blob/main/docs/certificates.md"

# How long before its expiry a certificate needs a generation to be renewed onto. keyplane's
# choice, by how long a new generation takes to reach production: a ca key is re-keyed in
# a witnessed ceremony; a production one by a reviewed pull request and an apply (ACM itself
# starts renewing managed certificates 60 days ahead); the others are re-issued in minutes.
RENEWAL_WINDOW_IN_DAYS: dict[Tier, int] = {Tier.CA: 90, Tier.PRODUCTION: 30,
                                           Tier.NON_PRODUCTION: 14, Tier.EPHEMERAL: 2}

# Where a generation's key material is kept, as the KMS reports it, and whether that is an
# HSM: AWS KMS keys (origin AWS_KMS) live in AWS KMS's FIPS 140-3 level 3 HSMs, custom key
# store keys in the CloudHSM cluster; imported material has a copy outside any HSM, and an
# external key store is not shown to be one. Cloud KMS says it in the protection level.
HSM_PROTECTION: dict[str, bool] = {
    "AWS_KMS": True, "AWS_CLOUDHSM": True, "EXTERNAL": False, "EXTERNAL_KEY_STORE": False,
    "HSM": True, "HSM_SINGLE_TENANT": True, "SOFTWARE": False, "EXTERNAL_VPC": False,
}
# ACM Private CA's KeyStorageSecurityStandard of a CA whose key is in a FIPS 140-2 level 3
# HSM (the CA/Browser Forum's floor for CA keys, Baseline Requirements 6.2.7).
PCA_HSM_STORAGE = "FIPS_140_2_LEVEL_3_OR_HIGHER"
_ENABLED = ("Enabled", "ENABLED")


@dataclass(frozen=True)
class CertCase:
    """What a rule may read about one certificate."""

    cert: FoundCertificate
    declared_by: KeyDecl  # the key whose `certificates` found it
    match: GenerationKey | None  # the generation its public key is
    maybe: tuple[Unreadable, ...]  # unreadable generations it might be
    authority: PcaAuthority | None  # a declared CA (ACM PCA, CA Service) whose key it binds
    index: KeyIndex
    at: dt.datetime

    @property
    def key(self) -> KeyDecl:
        """The key behind the certificate: the one it matched, else the one declaring it."""
        return self.match.key if self.match is not None else self.declared_by

    @property
    def tier(self) -> Tier:
        """The tier it is judged at (the key's)."""
        return self.key.tier

    @property
    def is_ca_tier(self) -> bool:
        """A CA certificate, or a certificate of a ca key."""
        return self.cert.is_ca or self.key.tier is Tier.CA or self.declared_by.tier is Tier.CA


@dataclass(frozen=True)
class Verdict:
    """A rule's outcome on one certificate."""

    status: Status
    reason: str
    expected: Any = None
    actual: Any = None
    days_left: int | None = None


@dataclass(frozen=True)
class CertRule:
    """One rule: id, title, the control it proves, its function and documentation."""

    rule_id: str
    title: str
    control: Control
    func: Callable[[CertCase], Verdict]
    doc: str = field(repr=False)
    ca_tier_only: bool = False

    @property
    def summary(self) -> str:
        """The first paragraph of the docstring: the invariant."""
        return self.doc.split("\n\n", 1)[0].replace("\n", " ").strip()


RULES: dict[str, CertRule] = {}


def rule(*, title: str, control: Control, ca_tier_only: bool = False
         ) -> Callable[[Callable[[CertCase], Verdict]], Callable[[CertCase], Verdict]]:
    """Register a rule; `certs.<function name>` is its id, its docstring its doc."""
    def wrap(func: Callable[[CertCase], Verdict]) -> Callable[[CertCase], Verdict]:
        rule_id = f"certs.{func.__name__}"
        RULES[rule_id] = CertRule(rule_id, title, control, func,
                                  inspect.cleandoc(func.__doc__ or ""), ca_tier_only)
        return func
    return wrap


def _na(reason: str) -> Verdict:
    return Verdict(Status.NOT_APPLICABLE, reason)


def _retired(c: CertCase) -> Verdict | None:
    """NOT_APPLICABLE for a certificate nothing relies on any more."""
    if c.cert.expired(c.at):
        return _na(f"expired on {c.cert.not_after.date()}")
    if not c.cert.in_use(c.at):
        return _na(f"{c.cert.status} in {c.cert.source}")
    return None


def _maybe(c: CertCase) -> str:
    return "; ".join(f"{u.label}: {u.reason}" for u in c.maybe)


def use_ends(key: KeyDecl, gen_number: int | None) -> tuple[dt.date, str] | None:
    """The last day a generation's key may back a certificate, and why: a generation past
    its alias swap verifies until its `verify_until`; the current one reaches its maximum
    age `max_key_age_in_days` after `created_on`."""
    gen = next((g for g in key.generations if g.generation == gen_number), None)
    if gen is None or key.max_key_age_in_days is None:
        return None
    if key.generation_state(gen) is not GenerationState.CURRENT and gen.verify_until:
        return gen.verify_until, f"verify_until {gen.verify_until}"
    end = gen.created_on + dt.timedelta(days=key.max_key_age_in_days)
    return end, (f"its maximum age ({gen.created_on} + {key.max_key_age_in_days} d = {end})")


def overlap_ends(key: KeyDecl, gen_number: int | None) -> dt.date | None:
    """The end of a non-current generation's verification overlap: its `verify_until`, else
    its successor's `created_on` plus the tier's overlap window."""
    gen = next((g for g in key.generations if g.generation == gen_number), None)
    if gen is None:
        return None
    if gen.verify_until is not None:
        return gen.verify_until
    later = sorted(g.created_on for g in key.generations if g.generation > gen.generation)
    if not later:
        return None
    return later[0] + dt.timedelta(days=policy_for(key.tier).generation_overlap_in_days)


@rule(title="A certificate's key is a generation of a declared key",
      control=Control.PROTECTION)
def key_not_in_inventory(c: CertCase) -> Verdict:
    """Every certificate found for a key binds the public key of a generation the inventory
    declares (or the key of an ACM Private CA, or of a CA Service CA with a key CA Service
    manages, it declares).

    Why: a certificate for a key keyplane does not manage (a key made on a laptop, an
    ACM-generated key, a generation deleted from the inventory) has none of the tier's
    controls: no HSM, no rotation, no audit of its use.
    Fix: re-issue the certificate from a request signed by the key's current generation
    (`keyplane csr ENV KEY`), then revoke the old one; or declare the key it uses.
    See: docs/certificates.md#keyplane-certs.
    """
    if (na := _retired(c)) is not None:
        return na
    if c.authority is not None:
        return Verdict(Status.PASS, f"its key is held by {c.authority.service} "
                                    f"{c.authority.arn}, "
                                    f"declared under {c.declared_by.name}")
    if c.match is not None:
        if c.match.declared is not None:
            return Verdict(Status.PASS, f"its key is {c.match.label}")
        return Verdict(Status.FAIL, f"its key is {c.match.label} ({c.match.ref}), a generation "
                                    f"the inventory does not declare",
                       expected=[g.generation for g in c.match.key.generations],
                       actual=c.match.generation)
    if c.maybe:
        return Verdict(Status.UNKNOWN, f"its public key matches no generation read, and may "
                                       f"be one that could not be read: {_maybe(c)}")
    return Verdict(Status.FAIL, f"its public key ({c.cert.key_kind}, sha256 "
                                f"{c.cert.spki_sha256[:16]}) is no generation of any key of "
                                f"the environment (declared under {c.declared_by.name})",
                   actual=c.cert.spki_sha256)


@rule(title="No certificate is backed by a generation past its overlap window",
      control=Control.ROTATION)
def retired_generation(c: CertCase) -> Verdict:
    """A generation that is no longer current backs no unexpired certificate once its
    verification overlap has ended (its `verify_until`; a disabled generation's has).

    Why: after the overlap the generation is disabled and deleted; a certificate still on it
    stops working then, or keeps a retired key trusted until the certificate expires.
    Fix: re-issue the certificate on the current generation (`keyplane csr ENV KEY`) and
    revoke the old one; see the key's timeline in `keyplane certs ENV`.
    See: shared tier table, signing-key rotation; docs/certificates.md#keyplane-certs.
    """
    if (na := _retired(c)) is not None:
        return na
    m = c.match
    if m is None or m.declared is None:
        return _na("its key is no declared generation")
    state = m.key.generation_state(m.declared)
    current = f"{m.key.name}@g{m.key.generation}"
    if state is GenerationState.CURRENT:
        return Verdict(Status.PASS, f"{m.label} is current")
    end = overlap_ends(m.key, m.generation)
    if state is GenerationState.DISABLED:
        return Verdict(Status.FAIL, f"{m.label} is disabled, yet it backs this certificate "
                                    f"until {c.cert.not_after.date()}; re-issue it on {current}",
                       expected=str(end) if end else None, actual=c.cert.not_after.isoformat())
    if end is not None and c.at.date() > end:
        return Verdict(Status.FAIL, f"{m.label} is verify-only and its overlap ended on {end}, "
                                    f"yet it backs this certificate until "
                                    f"{c.cert.not_after.date()}; re-issue it on {current}",
                       expected=str(end), actual=c.cert.not_after.isoformat())
    return Verdict(Status.PASS, f"{m.label} is verify-only until {end}; re-issue on {current} "
                                "before then")


@rule(title="No certificate outlives its key generation", control=Control.ROTATION)
def outlives_key(c: CertCase) -> Verdict:
    """A certificate expires no later than its generation may be used: the current
    generation's maximum age (`created_on` + `max_key_age_in_days`), a verify-only
    generation's `verify_until`.

    Why: relying parties trust the key for as long as the certificate is valid; a
    certificate valid beyond the key's life keeps a key trusted past its cryptoperiod, or
    breaks when the generation is retired on schedule.
    Fix: re-issue with a validity that ends by the date named, or rotate the key first.
    See: NIST SP 800-57 part 1 rev. 5, 5.3 (cryptoperiods); docs/certificates.md.
    """
    if (na := _retired(c)) is not None:
        return na
    m = c.match
    if m is None or m.declared is None:
        return _na("its key is no declared generation")
    ends = use_ends(m.key, m.generation)
    if ends is None:
        return _na(f"{m.label} has no maximum age")
    end, why = ends
    if c.cert.not_after.date() > end:
        over = (c.cert.not_after.date() - end).days
        return Verdict(Status.FAIL, f"valid until {c.cert.not_after.date()}, {over} day(s) past "
                                    f"the end of {m.label}: {why}",
                       expected=str(end), actual=c.cert.not_after.isoformat())
    return Verdict(Status.PASS, f"expires by the end of {m.label} ({why})")


@rule(title="A certificate near expiry has a generation ready to renew onto",
      control=Control.ROTATION)
def expiring_without_successor(c: CertCase) -> Verdict:
    """A certificate within its tier's renewal window (`RENEWAL_WINDOW_IN_DAYS`: ca 90,
    production 30, non-production 14, ephemeral 2 days) has a generation to be renewed
    onto: the key's current generation, deployed, enabled, and not itself at its maximum
    age within the window.

    Why: renewal needs a request signed by a usable generation; when the current one is
    missing, disabled or about to reach its maximum age, the certificate lapses while a
    rotation is still under review.
    Fix: `keyplane rotate ENV KEY --reason calendar`, apply, then `keyplane csr ENV KEY`.
    See: docs/certificates.md#keyplane-certs.
    """
    if (na := _retired(c)) is not None:
        return na
    window = RENEWAL_WINDOW_IN_DAYS[c.tier]
    left = c.cert.days_left(c.at)
    if left > window:
        return Verdict(Status.PASS, f"expires in {left} days, beyond the {window}-day renewal "
                                    "window", days_left=left)
    if c.match is None or c.match.declared is None:
        return _na("its key is no declared generation to renew from")
    key = c.match.key
    cur = key.current_generation()
    where = f"expires in {left} day(s) ({c.cert.not_after.date()})"
    if cur is None:
        return Verdict(Status.FAIL, f"{where} and {key.name} has no current generation",
                       days_left=left)
    name = f"{key.name}@g{cur.generation}"
    known = c.index.of(key.name, cur.generation)
    if known is None:
        why = c.index.unreadable_of(key.name, cur.generation)
        return Verdict(Status.UNKNOWN, f"{where}; whether {name} is ready is not known: "
                                       f"{why.reason if why else 'not read'}", days_left=left)
    if known.state is None:
        return Verdict(Status.UNKNOWN, f"{where}; the state of {name} could not be read",
                       days_left=left)
    if known.state not in _ENABLED:
        return Verdict(Status.FAIL, f"{where} and the current generation {name} is "
                                    f"{known.state}: no generation can sign its renewal",
                       days_left=left, actual=known.state)
    ends = use_ends(key, cur.generation)
    horizon = (c.at + dt.timedelta(days=window)).date()
    if ends is not None and ends[0] <= horizon:
        return Verdict(Status.FAIL, f"{where} and the current generation {name} reaches "
                                    f"{ends[1]} within the window: rotate first (keyplane "
                                    "rotate), then renew on the new generation",
                       days_left=left, expected=str(horizon), actual=str(ends[0]))
    return Verdict(Status.PASS, f"{where}; renew it on {name}", days_left=left)


@rule(title="A ca certificate's key is in an HSM", control=Control.PROTECTION,
      ca_tier_only=True)
def ca_key_not_in_hsm(c: CertCase) -> Verdict:
    """The key of a ca-tier certificate (a CA certificate, or one of a ca key) is shown to
    be in an HSM: a generation kept in an HSM (AWS KMS, a CloudHSM key store, Cloud KMS
    HSM), an ACM Private CA whose key storage is FIPS 140-2 level 3, or a CA Service CA
    with a key CA Service manages (always Cloud HSM).

    Why: a CA key outside an HSM can be copied, and every certificate it signs trusted by
    whoever holds the copy; the ca tier allows no exportable key material.
    Fix: re-key the CA in an HSM (a ca generation on Cloud KMS HSM, or an ACM Private CA in
    a Region with FIPS 140-2 level 3 storage) and re-issue what it signed.
    See: CA/Browser Forum Baseline Requirements 6.2.7; shared tier table (ca).
    """
    if not c.is_ca_tier:
        return _na("not a ca certificate")
    if (na := _retired(c)) is not None:
        return na
    if c.authority is not None:
        storage = c.authority.key_storage
        if storage is None:
            return Verdict(Status.UNKNOWN, f"{c.authority.service} {c.authority.arn} did not "
                                           "say how its key is stored")
        if storage == PCA_HSM_STORAGE or HSM_PROTECTION.get(storage, False):
            return Verdict(Status.PASS, f"its key is held by {c.authority.service} "
                                        f"{c.authority.arn} ({storage})")
        return Verdict(Status.FAIL, f"its key is held by {c.authority.service} "
                                    f"{c.authority.arn} with {storage}, not {PCA_HSM_STORAGE}",
                       expected=PCA_HSM_STORAGE, actual=storage)
    m = c.match
    if m is not None:
        if m.protection is None:
            return Verdict(Status.UNKNOWN, f"its key is {m.label}, whose protection could not "
                                           "be read")
        if HSM_PROTECTION.get(m.protection, False):
            return Verdict(Status.PASS, f"its key is {m.label}, kept in {m.protection}")
        return Verdict(Status.FAIL, f"its key is {m.label}, kept in {m.protection}, which is "
                                    "not an HSM", expected="HSM", actual=m.protection)
    if c.maybe:
        return Verdict(Status.UNKNOWN, f"its key matches no generation read, and may be one "
                                       f"that could not be read: {_maybe(c)}")
    return Verdict(Status.FAIL, f"its key ({c.cert.key_kind}, sha256 {c.cert.spki_sha256[:16]}) "
                                "is no generation of a key keyplane manages, so nothing shows "
                                "it is in an HSM", actual=c.cert.spki_sha256)
