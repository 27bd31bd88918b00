"""The CI matrix: one target per environment and cloud, from the inventory, never hand-written.

A workflow's first job runs `keyplane matrix --for pr|drift|drill` and its other jobs fan out
over the result (`strategy.matrix: ${{ fromJSON(...) }}`), so a new environment, account or
Region reaches CI through its YAML file alone. A target carries what a job needs to reach its
cloud: the account (AWS account id or GCP project), the Region (or Cloud KMS location) and
every Region its keys live in, and the role keyplane assumes there when the environment
names one.

For drills, a target lists only the drills that are due today: a drill is due when its tier
drills on a cadence (`TierPolicy.drill_cadence_in_days`) and the evidence holds no run of it,
its newest run did not complete (failed, timed out, errored), or that run is `cadence` days
old or older. The drills themselves are those `keyplane drill` schedules (`drills.runner.plan`),
so what is due and what runs cannot differ.

GitHub runs at most 256 jobs per matrix. Past that (or when asked), the targets are split into
N stable shards (`keyplane.estate.shard`) and the matrix lists the shards instead, each with
its targets, for one job per shard or a second-level matrix per shard (docs/ci.md).

Pure: the environments and evidence records come in, data goes out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyplane.audit.evidence import DrillResult
from keyplane.drills.errors import DrillSetupError
from keyplane.drills.runner import PlannedDrill, plan
from keyplane.estate.errors import ESTATE_TOO_LARGE, EstateError
from keyplane.estate.shard import partition
from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud
from keyplane.model.stacks import stack_name
from keyplane.model.tiers import TIERS, Tier

PURPOSES = ("pr", "drift", "drill")
# docs.github.com, "Running variations of jobs in a workflow": "A matrix will generate a
# maximum of 256 jobs per workflow run."
MAX_MATRIX_JOBS = 256
# A run whose outcome is one of these completed: running it again proves nothing new before
# its cadence is up. Any other outcome (FAILED, TIMED_OUT, ERROR, ...) leaves the drill due.
COMPLETED_OUTCOMES = frozenset({"PASSED", "SKIPPED"})
# The evidence key of the environment's CloudHSM cluster drill (what `drills.runner` records
# for a drill that names no key or resource).
CLUSTER = "cluster"


@dataclass(frozen=True)
class DrillDue:
    """One drill the tier schedules for a target, and whether it is due today (and why)."""

    kind: str
    key: str | None  # the key or backup-plan resource; None for the cluster drill
    tier: Tier
    due: bool
    last: str | None  # the date of its newest run in the evidence, yyyy-mm-dd
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """What a drill job reads: `keyplane drill ENV --kind KIND [--key KEY]`."""
        return {"kind": self.kind, "key": self.key, "tier": self.tier.value, "due": self.due,
                "last": self.last, "reason": self.reason}


@dataclass(frozen=True)
class Target:
    """One matrix entry: an environment on one cloud, with what its job needs to reach it."""

    environment: str
    cloud: Cloud
    account: str  # AWS account id or GCP project id
    region: str  # AWS home Region or the environment's Cloud KMS location
    regions: tuple[str, ...]  # every Region (location) the environment's keys live in
    role_arn: str | None = None  # the role the environment names for CI, when it names one
    evidence_location: str | None = None  # drills: where the run writes its evidence
    clouds: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # drills: see below
    drills: tuple[DrillDue, ...] = ()

    @property
    def shard_key(self) -> str:
        """`prod/aws/us-east-1`: what the shard of this target is hashed from."""
        return shard_key(self.environment, self.cloud.value, self.region)

    def to_dict(self) -> dict[str, Any]:
        """The matrix entry (fields a target does not have are left out, never null)."""
        out: dict[str, Any] = {
            "environment": self.environment, "cloud": self.cloud.value,
            "stack": stack_name(self.environment, self.cloud), "account": self.account,
            "region": self.region, "regions": list(self.regions)}
        if self.role_arn:
            out["role_arn"] = self.role_arn
        if self.drills:
            out["tiers"] = [t.value for t in _by_rank({d.tier for d in self.drills})]
            out["drills"] = [d.to_dict() for d in self.drills]
            out["evidence_location"] = self.evidence_location
            out["clouds"] = {name: dict(section) for name, section in self.clouds.items()}
        return out


def shard_key(environment: str, cloud: str, region: str) -> str:
    """The stable name a target is sharded by; a bulk run (`--shard i/N`) must use the same."""
    return f"{environment}/{cloud}/{region}"


@dataclass(frozen=True)
class Matrix:
    """The matrix a workflow fans out over: targets, or shards of targets."""

    targets: tuple[Target, ...]
    shards: int | None  # None: one entry per target
    groups: tuple[tuple[Target, ...], ...] = ()  # shard i/N is groups[i-1] when sharded

    def include(self) -> list[dict[str, Any]]:
        """`strategy.matrix.include`: targets, or the non-empty shards with their targets."""
        if self.shards is None:
            return [t.to_dict() for t in self.targets]
        return [{"shard": f"{i}/{self.shards}", "size": len(group),
                 "targets": [t.to_dict() for t in group]}
                for i, group in enumerate(self.groups, start=1) if group]

    def to_dict(self) -> dict[str, Any]:
        """`{"include": [...]}`: the only top-level key, since GitHub would read any other key
        as one more matrix dimension."""
        return {"include": self.include()}

    def oversized(self) -> list[tuple[str, int]]:
        """Shards with more targets than one matrix can run, as ("i/N", size)."""
        return [(f"{i}/{self.shards}", len(g)) for i, g in enumerate(self.groups, start=1)
                if len(g) > MAX_MATRIX_JOBS]


# ---- targets ---------------------------------------------------------------------------------

def _by_rank(tiers: Iterable[Tier]) -> list[Tier]:
    """Most sensitive first (ca, production, non-production, ephemeral)."""
    return sorted(tiers, key=lambda t: -t.rank)


def _role_arn(env: Environment) -> str | None:
    """`aws.role_arn`, when this keyplane's model has the field and the environment sets it."""
    value = getattr(env.aws, "role_arn", None) if env.aws is not None else None
    return value if isinstance(value, str) and value else None


def _placement(env: Environment, cloud: Cloud) -> tuple[str, str, tuple[str, ...]] | None:
    """(account, home Region, every Region) of `env` on `cloud`; None without that section."""
    if cloud is Cloud.AWS:
        if env.aws is None:
            return None
        more = {*env.aws.replica_regions,
                *(r for k in env.keys_on(Cloud.AWS) for r in k.replica_regions or ())}
        home = env.aws.region
        return env.aws.account_id, home, (home, *sorted(more - {home}))
    if env.gcp is None:
        return None
    home = env.gcp.location
    more = {k.location for k in env.keys_on(Cloud.GCP) if k.location}
    return env.gcp.project_id, home, (home, *sorted(more - {home}))


def _target(env: Environment, cloud: Cloud, **extra: Any) -> Target | None:
    placed = _placement(env, cloud)
    if placed is None:
        return None
    account, region, regions = placed
    return Target(environment=env.name, cloud=cloud, account=account, region=region,
                  regions=regions, role_arn=_role_arn(env) if cloud is Cloud.AWS else None,
                  **extra)


def stack_targets(environments: Iterable[Environment]) -> list[Target]:
    """One target per stack: every environment and cloud it holds keys on (what `keyplane
    synth` writes as `<env>-<cloud>`), by environment then cloud."""
    out = []
    for env in sorted(environments, key=lambda e: e.name):
        for cloud in Cloud:
            if env.keys_on(cloud):
                target = _target(env, cloud)
                if target is not None:
                    out.append(target)
    return out


# ---- drills that are due ---------------------------------------------------------------------

def _subject(drill: PlannedDrill) -> str:
    """The name a drill's evidence records stand under: the key, the resource, the cluster."""
    if drill.key is not None:
        return drill.key.name
    return drill.resource.name if drill.resource is not None else CLUSTER


def _cloud_of(drill: PlannedDrill) -> Cloud:
    """Key drills run on their key's cloud; the cluster and backup drills are AWS's."""
    return drill.key.cloud if drill.key is not None else Cloud.AWS


def _records_of(drill: PlannedDrill, records: Sequence[DrillResult]) -> list[DrillResult]:
    """The evidence records of `drill`: same kind, and its key (`name`, `name@region`) or, for
    the cluster drill, any record of the environment's one cluster."""
    subject = _subject(drill)
    return [r for r in records if r.kind == drill.kind and (
        drill.kind == "cloudhsm" or (r.key or "").split("@", 1)[0] == subject)]


def _day(timestamp: str) -> dt.date | None:
    """The UTC day of an RFC 3339 timestamp, as the evidence writes them; None if unreadable."""
    try:
        return dt.date.fromisoformat(timestamp[:10])
    except ValueError:
        return None


def judge(drill: PlannedDrill, records: Sequence[DrillResult], today: dt.date,
          unread: str | None = None) -> DrillDue:
    """Whether `drill` is due on `today`, from the records of its environment.

    The newest run counts (all records sharing its start time: a run writes one per
    generation or Region). Due when there is none, when one of its records did not complete,
    when a replica Region has no record in it, or when it is `cadence` days old or older, the
    day the evidence report would otherwise call the drill stale the next morning.
    """
    cadence = TIERS[drill.tier].drill_cadence_in_days
    key = None if drill.kind == "cloudhsm" else _subject(drill)

    def verdict(due: bool, last: str | None, reason: str) -> DrillDue:
        return DrillDue(kind=drill.kind, key=key, tier=drill.tier, due=due, last=last,
                        reason=reason)

    if cadence is None:
        return verdict(False, None, f"the {drill.tier.value} tier schedules no drills")
    mine = _records_of(drill, records)
    if not mine:
        why = f"no evidence read ({unread})" if unread else "no drill recorded"
        return verdict(True, None, why)
    newest = max(r.started_at for r in mine)
    run = [r for r in mine if r.started_at == newest]
    ended = max((r.ended_at or r.started_at) for r in run)
    day = _day(ended)
    last = day.isoformat() if day is not None else None
    unfinished = sorted({r.outcome for r in run} - COMPLETED_OUTCOMES)
    if unfinished:
        return verdict(True, last, f"newest run ({last or newest}) ended {', '.join(unfinished)}")
    if drill.kind == "replica" and drill.key is not None:
        seen = {r.key for r in run}
        missing = [r for r in drill.key.replica_regions or ()
                   if f"{drill.key.name}@{r}" not in seen]
        if missing:
            return verdict(True, last, f"newest run ({last}) did not drill "
                                       f"{', '.join(missing)}")
    if day is None:
        return verdict(True, None, f"newest run's time {ended!r} is not a date")
    age = (today - day).days
    if age >= cadence:
        return verdict(True, last, f"last run {last}, {age} days ago; the {drill.tier.value} "
                                   f"tier drills every {cadence} days")
    return verdict(False, last, f"last run {last}; next due "
                                f"{(day + dt.timedelta(days=cadence)).isoformat()}")


def _reach(env: Environment) -> dict[str, dict[str, str]]:
    """What a drill run of `env` reaches, whichever cloud's keys it drills: `keyplane drill`
    takes its identity, lock and evidence through the AWS account and builds the Cloud KMS
    client whenever the environment declares the section, so its job needs both."""
    out: dict[str, dict[str, str]] = {}
    if env.aws is not None:
        aws = {"account": env.aws.account_id, "region": env.aws.region}
        role = _role_arn(env)
        if role:
            aws["role_arn"] = role
        out["aws"] = aws
    if env.gcp is not None:
        out["gcp"] = {"project": env.gcp.project_id, "location": env.gcp.location}
    return out


def drill_targets(environments: Iterable[Environment],
                  evidence: Mapping[str, Sequence[DrillResult]], today: dt.date, *,
                  tiers: Iterable[Tier] = (), every: bool = False,
                  unread: Mapping[str, str] | None = None) -> list[Target]:
    """One target per environment and cloud with a drill due on `today` (every scheduled
    drill with `every`), each listing its drills; `tiers` narrows to those tiers.

    `evidence` holds each environment's records by name; `unread` says, per environment,
    why its evidence could not be read (its drills are then due, never skipped).
    """
    wanted = set(tiers)
    unread = unread or {}
    out = []
    for env in sorted(environments, key=lambda e: e.name):
        try:
            planned = plan(env)
        except DrillSetupError:  # nothing the tiers drill (only ephemeral keys, say)
            continue
        records = evidence.get(env.name, ())
        by_cloud: dict[Cloud, list[DrillDue]] = {}
        for drill in planned:
            if wanted and drill.tier not in wanted:
                continue
            judged = judge(drill, records, today, unread.get(env.name))
            if judged.due or (every and TIERS[drill.tier].drill_cadence_in_days is not None):
                by_cloud.setdefault(_cloud_of(drill), []).append(judged)
        for cloud in Cloud:
            if cloud not in by_cloud:
                continue
            target = _target(env, cloud, drills=tuple(by_cloud[cloud]), clouds=_reach(env),
                             evidence_location=env.evidence_location or
                             f"./evidence/{env.name}")
            if target is not None:
                out.append(target)
    return out


# ---- the matrix ------------------------------------------------------------------------------

def auto_shard_count(targets: Sequence[Target]) -> int:
    """The fewest shards, from ceil(targets / 256) up, in which every shard fits one matrix;
    EstateError (KP927) when not even 256 shards do."""
    first = max(1, math.ceil(len(targets) / MAX_MATRIX_JOBS))
    for count in range(first, MAX_MATRIX_JOBS + 1):
        sizes = [len(g) for g in partition(targets, count, key=lambda t: t.shard_key)]
        if max(sizes) <= MAX_MATRIX_JOBS:
            return count
    raise EstateError(f"{len(targets)} targets do not fit {MAX_MATRIX_JOBS} shards of "
                      f"{MAX_MATRIX_JOBS} jobs (a two-level matrix); split the estate into "
                      "several workflows by environment", code=ESTATE_TOO_LARGE)


def build_matrix(targets: Iterable[Target], *, shards: int | None = None) -> Matrix:
    """The matrix of `targets`: one entry each while they fit one matrix and no shard count is
    asked for; otherwise `shards` (or the fewest that fit) stable shards of them."""
    ordered = tuple(sorted(targets, key=lambda t: (t.environment, t.cloud.value)))
    if shards is None and len(ordered) <= MAX_MATRIX_JOBS:
        return Matrix(targets=ordered, shards=None)
    count = shards if shards is not None else auto_shard_count(ordered)
    groups = partition(ordered, count, key=lambda t: t.shard_key)
    return Matrix(targets=ordered, shards=count, groups=tuple(tuple(g) for g in groups))
