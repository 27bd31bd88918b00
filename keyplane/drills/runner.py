"""Planning and running drills: what the tier table schedules, one lock per target, evidence.

`plan()` turns a selection (key, tier, kinds) into drills; `run()` checks that audit
events and evidence can be written (fail closed), then for each target takes the
single-flight lock, runs the drill, emits its events and writes its evidence record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keyplane.audit.evidence import DRILL_KINDS, DrillResult, EvidenceStore
from keyplane.drills import lock as lock_mod
from keyplane.drills.backup import BackupDrill, BackupSettings
from keyplane.drills.base import DrillContext, DrillVerdict, iso
from keyplane.drills.canary import sign_canary
from keyplane.drills.cloudhsm import CloudHsmDrill
from keyplane.drills.errors import AlreadyRunningError, DrillSetupError, TargetRefusedError
from keyplane.drills.escrow import escrow_drill
from keyplane.drills.ports import (
    BackupDrillPort,
    CloudHsmDrillPort,
    EscrowPort,
    KmsDrillPort,
    LockPort,
)
from keyplane.drills.replica import replica_drill
from keyplane.errors import KeyplaneError
from keyplane.findings import SCHEMA_VERSION, Finding, RunOutcome, Status
from keyplane.model.environment import BackedUpResource, Environment, KeyDecl
from keyplane.model.specs import Cloud, Origin
from keyplane.model.tiers import Tier

# What each tier's cadence runs (shared/TIERS.md, "restore drill cadence").
SCHEDULE: dict[Tier, tuple[str, ...]] = {
    Tier.CA: ("cloudhsm", "sign-canary"),
    Tier.PRODUCTION: ("sign-canary", "replica", "backup"),
    Tier.NON_PRODUCTION: ("sign-canary", "escrow"),
    Tier.EPHEMERAL: (),
}


@dataclass(frozen=True, kw_only=True)
class PlannedDrill:
    """One drill to run: its kind, the key (or resource), the tier and the lock target."""

    kind: str
    tier: Tier
    key: KeyDecl | None = None
    resource: BackedUpResource | None = None

    @property
    def target(self) -> str:
        """`sign-canary/code-signing`, `backup/ca-database`, `cloudhsm/cluster`."""
        name = self.key.name if self.key else (self.resource.name if self.resource else "cluster")
        return f"{self.kind}/{name}"


def _applies(kind: str, key: KeyDecl, env: Environment) -> bool:
    if kind == "sign-canary":
        return True
    if kind == "replica":
        return key.cloud is Cloud.AWS and bool(key.replica_regions)
    if kind == "escrow":
        return key.origin is Origin.EXTERNAL and key.escrow is not None
    return False


def plan(env: Environment, *, key: str | None = None, tier: str | None = None,
         kinds: tuple[str, ...] = ()) -> list[PlannedDrill]:
    """The drills for a selection; DrillSetupError when it names nothing that can be drilled."""
    unknown = sorted(set(kinds) - set(DRILL_KINDS))
    if unknown:
        raise DrillSetupError(f"--kind must be one of {', '.join(DRILL_KINDS)}, got "
                              f"{', '.join(unknown)}")
    keys = list(env.keys)
    backed_up = list(env.aws.backup.resources) if env.aws and env.aws.backup else []
    resource = next((r for r in backed_up if r.name == key), None)
    if resource is not None and key not in {k.name for k in env.keys}:
        # --key names a protected resource of the backup plan: its backup drill only
        return [PlannedDrill(kind="backup", tier=Tier.PRODUCTION, resource=resource)]
    if key is not None:
        try:
            keys = [env.key(key)]
        except KeyError:
            raise DrillSetupError(f"key {key} is not declared in environment {env.name}; "
                                  f"declared: {', '.join(k.name for k in env.keys)}") from None
    if tier is not None:
        keys = [k for k in keys if k.tier.value == tier]
    out: list[PlannedDrill] = []
    for k in keys:
        wanted = kinds or SCHEDULE[k.tier]
        out += [PlannedDrill(kind=kd, tier=k.tier, key=k) for kd in wanted
                if kd in ("sign-canary", "replica", "escrow") and _applies(kd, k, env)]
    tiers = {k.tier for k in keys}
    env_level = key is None or bool(kinds)
    if env.aws is not None and env_level:
        if env.aws.cloudhsm is not None and ("cloudhsm" in kinds or (
                not kinds and Tier.CA in tiers)):
            out.append(PlannedDrill(kind="cloudhsm", tier=Tier.CA))
        backup_tier = Tier.PRODUCTION if Tier.PRODUCTION in tiers or not tiers else max(
            tiers, key=lambda t: t.rank)
        if env.aws.backup is not None and ("backup" in kinds or (
                not kinds and Tier.PRODUCTION in tiers)):
            out += [PlannedDrill(kind="backup", tier=backup_tier, resource=r)
                    for r in env.aws.backup.resources]
    if not out:
        what = f"key {key}" if key else (f"tier {tier}" if tier else "the environment")
        ask = f" for --kind {', '.join(kinds)}" if kinds else " on the tier schedule"
        raise DrillSetupError(f"no drill applies to {what} of {env.name}{ask} (ephemeral keys "
                              "are never drilled; replica needs a multi-region key, escrow an "
                              "external key, cloudhsm a cluster, backup backed-up resources)")
    return out


@dataclass(kw_only=True)
class DrillPorts:
    """The adapters a run uses, built by the composition root."""

    lock: LockPort
    kms: Callable[[Cloud, str | None], KmsDrillPort] | None = None  # (cloud, region)
    backup: BackupDrillPort | None = None
    cloudhsm: CloudHsmDrillPort | None = None
    escrow: EscrowPort | None = None
    backup_settings: BackupSettings | None = None
    gcp_crypto_key: Callable[[KeyDecl], str | None] = lambda k: None
    cloudhsm_full: bool = True


@dataclass
class DrillReport:
    """The results of one run and what could not run."""

    environment: str
    run_id: str
    identity: str
    results: list[DrillResult] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. a dead run's lock taken over

    def findings(self) -> list[Finding]:
        """One finding per result."""
        return [r.finding() for r in self.results]

    @property
    def outcome(self) -> RunOutcome:
        """findings when a drill failed; incomplete when one could not finish or was locked."""
        statuses = {f.status for f in self.findings()}
        if Status.FAIL in statuses:
            return RunOutcome.FINDINGS
        if statuses & {Status.UNKNOWN, Status.ERROR} or self.already_running:
            return RunOutcome.INCOMPLETE
        return RunOutcome.CLEAN

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 a drill failed, 3 incomplete (timed out, transient, locked)."""
        return self.outcome.exit_code

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the evidence records and, of schema 1, their findings."""
        return {"schema_version": SCHEMA_VERSION, "environment": self.environment,
                "run_id": self.run_id, "identity": self.identity, "exit_code": self.exit_code,
                "results": [r.to_dict() for r in self.results],
                "findings": [f.to_dict() for f in self.findings()],
                "already_running": self.already_running, "evidence": self.evidence,
                "notes": self.notes}


def _execute(ctx: DrillContext, drill: PlannedDrill, ports: DrillPorts) -> list[DrillVerdict]:
    env = ctx.env
    key = drill.key
    if drill.kind in ("sign-canary", "replica", "escrow"):
        assert key is not None
        if ports.kms is None:
            raise DrillSetupError(f"no kms adapter for {key.cloud.value}")
        region = env.aws.region if key.cloud is Cloud.AWS and env.aws else None
        kms = ports.kms(key.cloud, region)
        if drill.kind == "sign-canary":
            return sign_canary(ctx, key, kms, alias=key.alias,
                               crypto_key=ports.gcp_crypto_key(key))
        if drill.kind == "replica":
            kms_of = ports.kms
            return replica_drill(ctx, key, kms, lambda r: kms_of(Cloud.AWS, r), alias=key.alias)
        assert key.escrow is not None and ports.escrow is not None
        wrapping = env.key(key.escrow.wrapping_key)
        return [escrow_drill(ctx, key, kms, ports.escrow, alias=key.alias,
                             wrapping_alias=wrapping.alias or wrapping.name)]
    assert env.aws is not None
    drill_account = env.aws.backup.drill_account_id if env.aws.backup else None
    if drill.kind == "cloudhsm":
        if ports.cloudhsm is None:
            raise DrillSetupError("no cloudhsm adapter")
        return [CloudHsmDrill(ctx, ports.cloudhsm).run(drill_account, full=ports.cloudhsm_full)]
    assert drill.resource is not None
    if ports.backup is None or ports.backup_settings is None:
        raise DrillSetupError("no backup adapter")
    return [BackupDrill(ctx, ports.backup, ports.backup_settings, drill.tier)
            .run(drill.resource, drill_account)]


def _no_beat() -> None:
    """No lock is held: nothing to renew."""


def run(ctx: DrillContext, drills: list[PlannedDrill], ports: DrillPorts,
        evidence: EvidenceStore) -> DrillReport:
    """Run `drills`: fail closed on the sinks, one lock per target, one record per result."""
    ctx.audit.ensure_writable()
    try:
        evidence.ensure_writable()
    except KeyplaneError as exc:  # the refusal itself is on record where the audit log is
        ctx.step("run", None, outcome="refused", reason=f"{exc.code}: {exc.message}")
        raise
    report = DrillReport(environment=ctx.env.name, run_id=ctx.run_id, identity=ctx.identity)
    ctx.step("run", None, outcome="started", drills=[d.target for d in drills])
    for drill in drills:
        started = ctx.now()
        try:
            with lock_mod.held(ports.lock, env=ctx.env.name, target=drill.target,
                               owner=f"{ctx.run_id} {ctx.identity}",
                               clock=ctx.timing.clock) as lease:
                if lease.taken_over:
                    ctx.step(f"{drill.kind}.lock_taken_over", drill.target, outcome="ok",
                             reason=lease.taken_over)
                    report.notes.append(f"{drill.target}: {lease.taken_over}")
                ctx.heartbeat = lease.beat
                ctx.step(f"{drill.kind}.start", drill.target, outcome="started")
                try:
                    outcomes = _execute(ctx, drill, ports)
                except TargetRefusedError as exc:
                    ctx.step(f"{drill.kind}.refused", drill.target, outcome="refused",
                             reason=f"{exc.code}: {exc.message}")
                    raise
                finally:
                    ctx.heartbeat = _no_beat
        except AlreadyRunningError as exc:
            ctx.step(f"{drill.kind}.locked", drill.target, outcome="skipped", reason=exc.message)
            report.already_running.append(exc.message)
            continue
        ended = ctx.now()
        for o in outcomes:
            result = DrillResult(
                run_id=ctx.run_id, environment=ctx.env.name, kind=drill.kind,
                key=o.target or (drill.key.name if drill.key else drill.target.split("/", 1)[1]),
                generation=o.generation, tier=drill.tier.value, started_at=iso(started),
                ended_at=iso(ended), outcome=o.outcome, reason=o.reason,
                identity=ctx.identity, rto_seconds=o.rto_seconds, rpo_seconds=o.rpo_seconds,
                deadline_seconds=o.deadline_seconds, details=o.details,
                cloud=drill.key.cloud.value if drill.key else Cloud.AWS.value,
            ).with_finding_fields()
            ctx.step(f"{drill.kind}.result", drill.target,
                     outcome="ok" if o.outcome in ("PASSED", "SKIPPED") else "failed",
                     reason=o.reason, drill_outcome=o.outcome, generation=o.generation,
                     rto_seconds=o.rto_seconds, rpo_seconds=o.rpo_seconds,
                     rule_id=result.rule_id, subject=result.resource,
                     severity=result.severity)
            report.evidence.append(evidence.put(result))
            report.results.append(result)
    ctx.step("run", None, outcome="ok" if report.exit_code == 0 else "failed",
             exit_code=report.exit_code)
    return report
