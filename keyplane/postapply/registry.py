"""Post-apply checks: registered like the gate's rules, one file each, run over one read.

A check is a function in `keyplane/postapply/rules/<area>/<name>.py`, declared with
`@check(...)`: its id is `<area>.<name>` (e.g. `drift.key_pending_deletion`), its
docstring states the invariant, why it matters, the fix and the source. It reads the
expected state, the observed state and their pairing through a `CheckContext` and
yields `Result`s: failures and what it could not judge. It never reads the cloud
itself and never sets a severity: the runner takes the severity from the tier packs
(`keyplane.policy.packs.CHECKS`) by the tier of the resource, and makes one `Finding`
of each result, with the check's control, the cloud, the environment and the tier.

A check asks the context for the facets it reads (`ctx.aws_keys(Facet.POLICY)`); a
subject whose facet could not be read is judged UNKNOWN by the context, in the
check's name, with the read's own reason, and the check never sees it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from keyplane.findings import Cloud, Control, Finding, Severity, Status
from keyplane.model.tiers import Tier, highest
from keyplane.postapply.collect import Facet, Observed, ObservedAwsKey, ObservedGcpKey
from keyplane.postapply.expected import ExpectedAwsKey, ExpectedGcpKey, ExpectedState
from keyplane.postapply.match import Matched

DOCS_URL = "https://github.com/keyplane/keyplane/blob/main/docs/checks.md"

# The command's sections, by the check areas they run.
SECTION_OF_AREA = {"rotation": "rotation", "drift": "drift", "access": "access-review",
                   "discover": "discover"}


@dataclass(frozen=True, slots=True)
class Subject:
    """What a result is about: a resource the cloud knows, and the declaration behind it."""

    resource: str
    cloud: Cloud
    tier: Tier
    key: str | None = None  # the declared key: `name` or `name@gN`
    region: str | None = None
    address: str | None = None
    construct_path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """What a check says about one subject: FAIL or UNKNOWN (a pass says nothing)."""

    status: Status
    subject: Subject
    reason: str
    expected: Any = None
    actual: Any = None
    days_left: int | None = None
    # the subject is already on its way out (e.g. an undeclared key pending deletion): the
    # pack's reduced severity for the check (`packs.REDUCED`) applies
    reduced: bool = False


def fail(subject: Subject, reason: str, *, expected: Any = None, actual: Any = None,
         days_left: int | None = None, reduced: bool = False) -> Result:
    """A failure of the check on `subject`."""
    return Result(status=Status.FAIL, subject=subject, reason=reason, expected=expected,
                  actual=actual, days_left=days_left, reduced=reduced)


def unknown(subject: Subject, reason: str) -> Result:
    """The check could not judge `subject`."""
    return Result(status=Status.UNKNOWN, subject=subject, reason=reason)


@dataclass(frozen=True, slots=True)
class AwsKeyPair:
    """A declared AWS key (one generation) and the key read for it."""

    expected: ExpectedAwsKey
    observed: ObservedAwsKey
    subject: Subject

    def fail(self, reason: str, **detail: Any) -> Result:
        """A failure about this key."""
        return fail(self.subject, reason, **detail)


@dataclass(frozen=True, slots=True)
class GcpKeyPair:
    """A declared Cloud KMS key and the crypto key read for it."""

    expected: ExpectedGcpKey
    observed: ObservedGcpKey
    subject: Subject

    def fail(self, reason: str, **detail: Any) -> Result:
        """A failure about this key."""
        return fail(self.subject, reason, **detail)


@dataclass
class CheckContext:
    """What a check may read: the expected state, the observed state, their pairing, the time."""

    state: ExpectedState
    observed: Observed
    matched: Matched
    now: dt.datetime
    # the UNKNOWN results the context judged for the check running now (read failures)
    pending: list[Result] = field(default_factory=list)
    # what several checks derive from the same reads, derived once per run (e.g. each key's
    # reach, which six access checks judge): never changed once stored
    memo: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def today(self) -> dt.date:
        """The run's date (UTC)."""
        return self.now.date()

    @property
    def env_name(self) -> str:
        """The environment's name."""
        return self.state.env.name

    def _facets_known(self, subject: Subject, unknown: dict[str, str],
                      facets: tuple[Facet, ...]) -> bool:
        missing = [f for f in facets if f.value in unknown]
        if missing:
            self.pending.append(unknown_result(subject, unknown[missing[0].value]))
            return False
        return True

    def why_unread(self, *, facet: Facet | None = None, resource: str | None = None,
                   default: str) -> str:
        """Why a shared read (a facet's list, or one resource's) is missing: the failed read's
        own reason as the collector recorded it, else why the run stopped, else `default`."""
        recorded = next((u.reason for u in self.observed.unknowns
                         if (facet is None or u.facet == facet.value)
                         and (resource is None or u.resource == resource)), None)
        return recorded or self.observed.stopped or default

    def read(self, pair: AwsKeyPair | GcpKeyPair, *facets: Facet) -> bool:
        """Whether `facets` of a pair the check chose were read (else it is judged UNKNOWN),
        for checks that select their keys before asking for facets."""
        return self._facets_known(pair.subject, pair.observed.unknown, facets)

    def aws_keys(self, *facets: Facet) -> Iterator[AwsKeyPair]:
        """Every matched AWS key whose `facets` were read (the others are judged UNKNOWN)."""
        for exp, obs in self.matched.aws:
            pair = AwsKeyPair(exp, obs, aws_key_subject(exp, obs))
            if self._facets_known(pair.subject, obs.unknown, facets):
                yield pair

    def aws_replicas(self, *facets: Facet) -> Iterator[AwsKeyPair]:
        """Every replica read for a matched multi-Region key, paired with its declaration."""
        for exp, _ in self.matched.aws:
            for _region, rep in sorted(self.matched.replicas.get(exp.id, {}).items()):
                pair = AwsKeyPair(exp, rep, aws_key_subject(exp, rep))
                if self._facets_known(pair.subject, rep.unknown, facets):
                    yield pair

    def aws_keys_and_replicas(self, *facets: Facet) -> Iterator[AwsKeyPair]:
        """`aws_keys` then `aws_replicas`."""
        yield from self.aws_keys(*facets)
        yield from self.aws_replicas(*facets)

    def gcp_keys(self, *facets: Facet) -> Iterator[GcpKeyPair]:
        """Every matched Cloud KMS key whose `facets` were read."""
        for exp, obs in self.matched.gcp:
            pair = GcpKeyPair(exp, obs, gcp_key_subject(exp, obs))
            if self._facets_known(pair.subject, obs.unknown, facets):
                yield pair

    def undeclared(self, resource: str, *, cloud: Cloud, region: str | None = None) -> Subject:
        """A subject for a key nobody declared: judged at the environment's highest tier."""
        return self.shared(resource, cloud=cloud, region=region)

    def shared(self, resource: str, *, cloud: Cloud = Cloud.AWS, address: str | None = None,
               region: str | None = None) -> Subject:
        """A subject for a resource the environment shares (trail, vault, log group, role):
        its tier is the highest tier of the environment's keys on that cloud."""
        keys = self.state.aws_keys if cloud is Cloud.AWS else self.state.gcp_keys
        tier = highest([k.key.tier for k in keys]) or highest(
            [k.tier for k in self.state.env.keys]) or Tier.PRODUCTION
        return Subject(resource=resource, cloud=cloud, tier=tier, address=address,
                       region=region)


def expected_aws_subject(exp: ExpectedAwsKey) -> Subject:
    """The subject of a declared AWS key that was not found: named by its alias or id."""
    return Subject(resource=exp.alias or exp.id, cloud=Cloud.AWS, tier=exp.key.tier, key=exp.id,
                   region=exp.region, address=exp.address, construct_path=exp.construct_path)


def expected_gcp_subject(exp: ExpectedGcpKey) -> Subject:
    """The subject of a declared Cloud KMS key that was not found."""
    return Subject(resource=exp.name, cloud=Cloud.GCP, tier=exp.key.tier, key=exp.key.name,
                   region=exp.location, address=exp.address,
                   construct_path=getattr(exp, "construct_path", None))


def unknown_result(subject: Subject, reason: str) -> Result:
    """UNKNOWN for `subject`, with the reason its read failed."""
    return Result(status=Status.UNKNOWN, subject=subject, reason=reason)


def aws_key_subject(exp: ExpectedAwsKey, obs: ObservedAwsKey) -> Subject:
    """The subject of a matched AWS key."""
    return Subject(resource=obs.key.arn, cloud=Cloud.AWS, tier=exp.key.tier, key=exp.id,
                   region=obs.key.region, address=exp.address,
                   construct_path=exp.construct_path)


def gcp_key_subject(exp: ExpectedGcpKey, obs: ObservedGcpKey) -> Subject:
    """The subject of a matched Cloud KMS key."""
    return Subject(resource=obs.key.name, cloud=Cloud.GCP, tier=exp.key.tier, key=exp.key.name,
                   region=exp.location, address=exp.address,
                   construct_path=getattr(exp, "construct_path", None))


CheckFunc = Callable[[CheckContext], Iterable[Result]]


@dataclass(frozen=True)
class Check:
    """One post-apply check: id, area, title, the control it proves, what it reads, its doc."""

    check_id: str
    area: str
    title: str
    control: Control
    needs: frozenset[Facet]
    func: CheckFunc
    doc: str
    module: str

    @property
    def section(self) -> str:
        """The command section that runs it (rotation, drift, access-review, discover)."""
        return SECTION_OF_AREA[self.area]

    @property
    def summary(self) -> str:
        """The first paragraph of the docstring: the invariant."""
        return self.doc.split("\n\n", 1)[0].replace("\n", " ").strip()

    @property
    def help_uri(self) -> str:
        """The check's section of docs/checks.md."""
        return f"{DOCS_URL}#{self.check_id.replace('.', '')}"


_REGISTRY: dict[str, Check] = {}
_DISCOVERED: list[bool] = []


def check(*, title: str, control: Control, needs: Iterable[Facet] = ()
          ) -> Callable[[CheckFunc], CheckFunc]:
    """Declare a check: `<area>.<function name>` is its id; its docstring its doc."""
    def wrap(func: CheckFunc) -> CheckFunc:
        area = func.__module__.split(".")[-2]
        if area not in SECTION_OF_AREA:
            raise ValueError(f"check {func.__module__} is not under rules/<area>/ "
                             f"({', '.join(SECTION_OF_AREA)})")
        check_id = f"{area}.{func.__name__}"
        _REGISTRY[check_id] = Check(
            check_id=check_id, area=area, title=title, control=control,
            needs=frozenset(needs), func=func, doc=inspect.cleandoc(func.__doc__ or ""),
            module=func.__module__)
        return func
    return wrap


def discover() -> dict[str, Check]:
    """Import every module under keyplane.postapply.rules; the checks, by id."""
    if not _DISCOVERED:
        import keyplane.postapply.rules as pkg

        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}."):
            if not info.ispkg:
                importlib.import_module(info.name)
        _DISCOVERED.append(True)
    return dict(sorted(_REGISTRY.items()))


def checks_for(sections: Iterable[str]) -> list[Check]:
    """The registered checks the given sections run."""
    wanted = set(sections)
    return [c for c in discover().values() if c.section in wanted]


def needs_of(sections: Iterable[str]) -> set[Facet]:
    """Every facet the checks of `sections` read."""
    return set().union(*(c.needs for c in checks_for(sections)))


def run_checks(checks: Iterable[Check], ctx: CheckContext,
               severity: Callable[[str, Tier, bool], Severity | None]) -> list[Finding]:
    """Run `checks` over one context; every result becomes a Finding of the one model.

    `severity(check_id, tier, reduced)` is the pack's severity (None: the check is not in
    that tier's pack, and its results are dropped). A check that raises is an ERROR finding for
    the environment, never silence.
    """
    out: list[Finding] = []
    env = ctx.env_name
    for chk in checks:
        ctx.pending = []
        try:
            results = list(chk.func(ctx))
        except Exception as exc:  # a defect in a check must never read as "no drift"
            subject = ctx.shared(f"keyplane:{chk.check_id}")
            out.append(Finding(rule_id=chk.check_id, status=Status.ERROR,
                               severity=Severity.HIGH, resource=subject.resource,
                               reason=f"check failed: {type(exc).__name__}: {exc}",
                               control=chk.control, cloud=subject.cloud, environment=env,
                               area=chk.area))
            continue
        for r in [*ctx.pending, *results]:
            sev = severity(chk.check_id, r.subject.tier, r.reduced)
            if sev is None:
                continue
            s = r.subject
            out.append(Finding(
                rule_id=chk.check_id, status=r.status, severity=sev, resource=s.resource,
                reason=r.reason, control=chk.control, cloud=s.cloud, environment=env,
                tier=s.tier, address=s.address, construct_path=s.construct_path, key=s.key,
                region=s.region, expected=r.expected, actual=r.actual, days_left=r.days_left,
                area=chk.area, owner=_owner(ctx, s.key)))
    return out


def _owner(ctx: CheckContext, key: str | None) -> str | None:
    """The owner of the declared key `name` or `name@gN` (None: no declared key)."""
    if key is None:
        return None
    try:
        return ctx.state.env.key(key.split("@", 1)[0]).owner
    except KeyError:
        return None
