"""`keyplane drill ENV`: restore drills on the tier's schedule, with evidence; `--history` lists them.

The composition root of the drills: it loads the inventory, builds the boto3 /
google-cloud-kms adapters (environment account, drill account, Regions), the lock,
the journal, the evidence store and the audit log, and hands them to
`keyplane.drills.runner`. Exit 0 all passed, 1 a drill failed, 2 bad input or
setup (incl. audit or evidence not writable: fail closed), 3 incomplete (timed out,
transient, already running).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from keyplane.commands.post_apply import (
    check_all_options,
    cloud_options,
    estate_options,
    run_estate,
    sandbox_endpoints,
)
from keyplane.desired import names
from keyplane.drills.waiter import Timing
from keyplane.errors import UsageError
from keyplane.model.loader import load_targets
from keyplane.output import deliver, set_format


def timing() -> Timing:
    """The run's clock and sleep (tests replace this function; nothing else does)."""
    return Timing()


def _evidence(env: Any, aws_clients: Any) -> tuple[Any, Any, Path | None]:
    """(evidence store, journal store, local evidence dir or None)."""
    from keyplane.audit.evidence import LocalEvidenceStore
    from keyplane.drills.journal import LocalJournalStore

    location = env.evidence_location or f"./evidence/{env.name}"
    if location.startswith("s3://"):
        if aws_clients is None:
            raise UsageError(f"evidence location {location} needs an environment with an aws "
                             "section")
        from keyplane.cloud.aws.evidence import S3EvidenceStore, S3JournalStore

        s3 = aws_clients.client("s3", env.aws.region)
        return S3EvidenceStore(s3, location), S3JournalStore(s3, location), None
    root = Path(location)
    return LocalEvidenceStore(root), LocalJournalStore(root / ".journal"), root


def _aws_clients(env: Any, account: str, *, profile: str | None, endpoint_url: str | None,
                 retry_mode: str, max_attempts: int) -> Any:
    from keyplane.commands.cloud_wiring import CloudOptions, build_aws_clients

    return build_aws_clients(account_id=account, region=env.aws.region, opts=CloudOptions(
        profile=profile, endpoint_url=endpoint_url, retry_mode=retry_mode,
        max_attempts=max_attempts), environment=env)


def _history(env: Any, fmt: str, output: Path | None, aws: Any) -> None:
    from keyplane.drills.render import render
    from keyplane.findings import SCHEMA_VERSION

    store, _, _ = _evidence(env, aws)
    results = store.history(env.name)
    deliver(render(fmt, results, title=f"keyplane drill history {env.name} "
                                       f"({len(results)} result(s))",
                   data={"schema_version": SCHEMA_VERSION, "environment": env.name,
                         "results": [r.to_dict() for r in results],
                         "findings": [r.finding().to_dict() for r in results]}),
            output)


def _env_optional(fn: Any) -> Any:
    """The cloud options with ENV optional: `--all` takes none."""
    return cloud_options(fn, env_required=False)


@click.command("drill")
@_env_optional
@click.option("--key", "key_name", help="Drill one key (default: every key of the environment).")
@click.option("--tier", type=click.Choice(["ca", "production", "non-production", "ephemeral"]),
              help="Drill the keys of one tier.")
@click.option("--kind", "kinds", multiple=True,
              type=click.Choice(["sign-canary", "replica", "cloudhsm", "backup", "escrow"]),
              help="Run only these drills (repeatable; default: what the tier schedules).")
@click.option("--history", is_flag=True, help="List past results from the evidence store.")
@click.option("--drill-profile", help="AWS profile of the drill account (restores land there).")
@click.option("--drill-subnet", "drill_subnets", multiple=True,
              help="Subnet of the drill account for a restored CloudHSM cluster (repeatable; "
                   "default: the inventory's HSM subnets).")
@click.option("--checks-only", is_flag=True,
              help="CloudHSM: check the backups, do not restore a cluster.")
@click.option("--evidence-location",
              help="Where evidence is written and read (a directory or s3:// URI; default: the "
                   "inventory's evidence_location).")
@click.option("--deadline-scale", type=click.FloatRange(0.0001, 1.0), default=1.0,
              show_default=True, help="Scale deadlines and polls (tests and demos only).")
@estate_options
@click.option("--resume", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="With --all: the estate.json of a run that stopped; its finished units "
                   "are kept, the others run.")
def drill(env: str | None, environments_dir: Path, fmt: str, output: Path | None,
          regions: tuple[str, ...], profile: str | None, endpoint_url: str | None,
          gcp_endpoint: str | None, gcp_project: str | None, use_sandbox: bool,
          sandbox_state_file: Path | None, max_attempts: int, retry_mode: str,
          audit_log: Path, audit_cloudwatch_log_group: str | None,
          audit_cloud_logging_log: str | None, key_name: str | None, tier: str | None,
          kinds: tuple[str, ...], history: bool, drill_profile: str | None,
          drill_subnets: tuple[str, ...], checks_only: bool, evidence_location: str | None,
          deadline_scale: float, quiet: bool, all_units: bool, shard: str | None,
          estate_concurrency: int | None, output_dir: Path | None,
          resume: Path | None) -> None:
    """Run ENV's restore drills and record the evidence (or list it with --history).

    Without --kind, runs what the tier table schedules for the selected keys: ca ->
    cloudhsm + sign-canary; production -> sign-canary + replica + backup;
    non-production -> sign-canary (+ escrow for imported keys); ephemeral -> none.
    With --all instead of ENV: the drills of every environment (or of --shard i/N), each
    environment on each cloud one unit, a few at once; one json report per unit in
    --output-dir plus estate.json; evidence goes where each environment's file says (or to
    --evidence-location/<env>).
    Exit 0 all passed, 1 a drill failed, 2 bad input or setup, 3 incomplete.
    """
    set_format(fmt)
    check_all_options(all_units=all_units, env=env, fmt=fmt, shard=shard,
                      estate_concurrency=estate_concurrency, output_dir=output_dir,
                      resume=resume, **{"--key": key_name, "--history": history,
                                        "--drill-subnet": drill_subnets,
                                        "--gcp-project": gcp_project})
    if all_units:
        _drill_all(environments_dir=environments_dir, fmt=fmt, output=output, profile=profile,
                   endpoint_url=endpoint_url, gcp_endpoint=gcp_endpoint,
                   use_sandbox=use_sandbox, sandbox_state_file=sandbox_state_file,
                   max_attempts=max_attempts, retry_mode=retry_mode, audit_log=audit_log,
                   audit_cloudwatch_log_group=audit_cloudwatch_log_group,
                   audit_cloud_logging_log=audit_cloud_logging_log, tier=tier, kinds=kinds,
                   drill_profile=drill_profile, checks_only=checks_only,
                   evidence_location=evidence_location, deadline_scale=deadline_scale,
                   quiet=quiet, shard=shard, estate_concurrency=estate_concurrency,
                   output_dir=output_dir, resume=resume)
        return
    if resume is not None:
        from keyplane.estate.run import EstateRunError

        raise EstateRunError("--resume applies to --all only (a drill of one environment "
                             "finishes or cleans up a stopped run's restores through its "
                             "journal by itself); add --all, or leave it out")
    if not env:
        raise click.UsageError("Missing argument 'ENV'.")
    if key_name and tier:
        raise UsageError(f"--key and --tier select keys in two ways; give one, got --key "
                         f"{key_name} and --tier {tier}")
    environment = load_targets([env], environments_dir).environments[0]
    if evidence_location:
        environment = environment.model_copy(update={"evidence_location": evidence_location})
    if use_sandbox:
        sb_aws, sb_gcp = sandbox_endpoints(sandbox_state_file)
        endpoint_url = endpoint_url or sb_aws
        gcp_endpoint = gcp_endpoint or sb_gcp
    aws = None
    if environment.aws is not None:
        aws = _aws_clients(environment, environment.aws.account_id, profile=profile,
                           endpoint_url=endpoint_url, retry_mode=retry_mode,
                           max_attempts=max_attempts)
    if history:
        _history(environment, fmt, output, aws)
        return
    from keyplane.drills.runner import plan

    planned = plan(environment, key=key_name, tier=tier, kinds=kinds)
    report = _run(environment, planned, aws=aws, fmt=fmt, endpoint_url=endpoint_url,
                  gcp_endpoint=gcp_endpoint, gcp_project=gcp_project, profile=profile,
                  drill_profile=drill_profile, retry_mode=retry_mode,
                  max_attempts=max_attempts, audit_log=audit_log,
                  audit_cloudwatch_log_group=audit_cloudwatch_log_group,
                  audit_cloud_logging_log=audit_cloud_logging_log,
                  drill_subnets=drill_subnets, checks_only=checks_only,
                  deadline_scale=deadline_scale, quiet=quiet)
    from keyplane.drills.render import render

    title = (f"keyplane drill {environment.name} (run {report.run_id}, "
             f"{report.identity})")
    deliver(render(fmt, report.results, title=title, data=report.to_dict(),
                   notes=[*report.notes, *report.already_running]), output)
    for msg in report.already_running:
        click.echo(f"keyplane: {msg}", err=True)
    if report.evidence:
        where = environment.evidence_location or f"./evidence/{environment.name}"
        click.echo(f"keyplane: {len(report.evidence)} evidence record(s) written to {where}",
                   err=True)
    sys.exit(report.exit_code)


def _run(environment: Any, planned: list[Any], *, aws: Any, fmt: str,
         endpoint_url: str | None, gcp_endpoint: str | None, gcp_project: str | None,
         profile: str | None, drill_profile: str | None, retry_mode: str, max_attempts: int,
         audit_log: Path, audit_cloudwatch_log_group: str | None,
         audit_cloud_logging_log: str | None, drill_subnets: tuple[str, ...],
         checks_only: bool, deadline_scale: float, quiet: bool = False,
         label: str | None = None) -> Any:
    """Wire the adapters and run (`label` prefixes the progress lines of a unit of --all)."""
    from keyplane.audit.events import new_run_id
    from keyplane.commands.audit_wiring import build_audit_log
    from keyplane.drills.backup import BackupSettings
    from keyplane.drills.base import DrillContext
    from keyplane.drills.lock import FileLock
    from keyplane.drills.runner import DrillPorts, run
    from keyplane.model.specs import Cloud

    env = environment
    prefix = f"{label}: " if label else ""
    t = timing()
    evidence, journal_store, local_root = _evidence(env, aws)
    identity = None
    ports = DrillPorts(lock=FileLock((local_root or Path(".keyplane")) / ".locks"),
                       cloudhsm_full=not checks_only)
    kms_cache: dict[tuple[Cloud, str | None], Any] = {}
    gcp_kms: Any = None
    if aws is not None:
        from keyplane.cloud.aws.drills import (
            AwsBackupDrill,
            AwsCloudHsmDrill,
            DynamoDbLock,
            S3Escrow,
            caller_arn,
        )

        identity = caller_arn(aws)
        region = env.aws.region
        drill_account = env.aws.backup.drill_account_id if env.aws.backup else None
        drill_aws = _aws_clients(env, drill_account or env.aws.account_id,
                                 profile=drill_profile or profile, endpoint_url=endpoint_url,
                                 retry_mode=retry_mode, max_attempts=max_attempts)
        ports.lock = DynamoDbLock(aws, region)
        ports.backup = AwsBackupDrill(aws, drill_aws, region)
        ports.cloudhsm = AwsCloudHsmDrill(aws, drill_aws, region)
        ports.escrow = S3Escrow(aws, region)
        partition = names.partition_of(region)
        # the drill account's names are those of the `<env>-aws-drill` stack
        # (keyplane.desired.aws.plan_drill_account); the drill refuses an undeclared account
        ports.backup_settings = BackupSettings(
            vault=names.backup_vault_name(env.name),
            backup_role_arn=names.role_arn(partition, env.aws.account_id,
                                           names.backup_service_role_name(env.name)),
            restore_role_arn=names.drill_restore_role_arn(
                partition, drill_account or env.aws.account_id, env.name),
            drill_vault=names.drill_vault_name(env.name),
            drill_vault_arn=names.drill_vault_arn(partition, region,
                                                  drill_account or env.aws.account_id,
                                                  env.name))
    if env.gcp is not None:
        from keyplane.cloud.gcp.client import GcpConfig, build_client
        from keyplane.cloud.gcp.drills import GcpKmsDrill
        from keyplane.desired.gcp import plan_environment

        config = GcpConfig(project=gcp_project or env.gcp.project_id, endpoint=gcp_endpoint)
        gcp_kms = GcpKmsDrill(build_client(config), config)
        gcp_plan = plan_environment(env)  # the desired state: where each crypto key lives
        crypto_keys = {k.name: k.resource_name(gcp_plan.project) for k in gcp_plan.keys}
        ports.gcp_crypto_key = lambda k: crypto_keys.get(k.name)

    def kms(cloud: Cloud, region: str | None) -> Any:
        if cloud is Cloud.GCP:
            if gcp_kms is None:
                raise UsageError(f"environment {env.name} has no gcp section")
            return gcp_kms
        if (cloud, region) not in kms_cache:
            from keyplane.cloud.aws.drills import AwsKmsDrill

            kms_cache[(cloud, region)] = AwsKmsDrill(aws, region or env.aws.region)
        return kms_cache[(cloud, region)]

    ports.kms = kms
    run_id = new_run_id(dt.datetime.fromtimestamp(t.clock(), tz=dt.UTC))
    audit = build_audit_log(command="drill", audit_log=audit_log,
                            audit_cloudwatch_log_group=audit_cloudwatch_log_group,
                            audit_cloud_logging_log=audit_cloud_logging_log,
                            logs_client=(lambda: aws.client("logs", env.aws.region))
                            if aws is not None else None,
                            gcp_endpoint=gcp_endpoint, actor=identity, run_id=run_id)
    ctx = DrillContext(env=env, run_id=run_id, identity=identity or audit.actor, audit=audit,
                       journal_store=journal_store, timing=t, deadline_scale=deadline_scale,
                       history=lambda: evidence.history(env.name), drill_subnets=drill_subnets,
                       progress=(lambda _: None) if quiet else
                       (lambda line: click.echo(f"  .. {prefix}{line}", err=True)))
    return run(ctx, planned, ports, evidence)


# ---- every environment: `drill --all` -----------------------------------------------------------

def _cloud_of(drill: Any) -> str:
    """Key drills run on their key's cloud; the cluster and backup drills are AWS's."""
    return str(drill.key.cloud.value) if drill.key is not None else "aws"


def drill_units(environments: Any, *, tier: str | None, kinds: tuple[str, ...]
                ) -> tuple[list[Any], dict[str, list[Any]], list[str]]:
    """(units, the drills of each unit by stack, notes): every environment on every cloud
    that has a drill for this selection (`drill ENV --tier T --kind K`, split by cloud as
    `keyplane matrix --for drill` splits it), by environment then cloud."""
    from keyplane.drills.errors import DrillSetupError
    from keyplane.drills.runner import plan
    from keyplane.estate.run import Unit

    units: list[Any] = []
    planned: dict[str, list[Any]] = {}
    notes: list[str] = []
    for env in sorted(environments, key=lambda e: e.name):
        try:
            drills = plan(env, tier=tier, kinds=kinds)
        except DrillSetupError as exc:
            notes.append(f"{env.name}: {exc.message}")
            continue
        for cloud, section in (("aws", env.aws), ("gcp", env.gcp)):
            mine = [d for d in drills if _cloud_of(d) == cloud]
            if not mine or section is None:
                continue
            account, region = ((section.account_id, section.region) if cloud == "aws"
                               else (section.project_id, section.location))
            unit = Unit(environment=env.name, cloud=cloud, account=account, region=region)
            units.append(unit)
            planned[unit.stack] = mine
    return units, planned, notes


def _evidence_under(location: str, env: str) -> str:
    """`--evidence-location L` of a bulk run: each environment's records under L/<env> (what
    `keyplane report --evidence-dir L` and `keyplane matrix --evidence-dir L` read)."""
    return f"{location.rstrip('/')}/{env}" + ("/" if location.startswith("s3://") else "")


def _drill_all(*, environments_dir: Path, fmt: str, output: Path | None,
               profile: str | None, endpoint_url: str | None,
               gcp_endpoint: str | None, use_sandbox: bool, sandbox_state_file: Path | None,
               max_attempts: int, retry_mode: str, audit_log: Path,
               audit_cloudwatch_log_group: str | None, audit_cloud_logging_log: str | None,
               tier: str | None, kinds: tuple[str, ...], drill_profile: str | None,
               checks_only: bool, evidence_location: str | None, deadline_scale: float,
               quiet: bool, shard: str | None, estate_concurrency: int | None,
               output_dir: Path | None, resume: Path | None) -> None:
    """`drill --all`: each unit drilled as `drill ENV` drills it, its json report in the
    run's directory."""
    import time

    from keyplane.estate.run import UnitResult, digest, select
    from keyplane.output import write_atomic

    estate = load_targets((), environments_dir)
    environments = {e.name: e for e in estate.environments}
    units, planned, notes = drill_units(estate.environments, tier=tier, kinds=kinds)
    units = select(units, shard)
    if use_sandbox:
        sb_aws, sb_gcp = sandbox_endpoints(sandbox_state_file)
        endpoint_url = endpoint_url or sb_aws
        gcp_endpoint = gcp_endpoint or sb_gcp

    def work(unit: Any, run_dir: Path, _partial: Path | None) -> UnitResult:
        from keyplane.drills.render import render

        started = time.monotonic()
        stamp = dt.datetime.now(dt.UTC).isoformat()
        env = environments[unit.environment]
        if evidence_location:
            env = env.model_copy(update={
                "evidence_location": _evidence_under(evidence_location, env.name)})
        aws = None
        if env.aws is not None:
            aws = _aws_clients(env, env.aws.account_id, profile=profile,
                               endpoint_url=endpoint_url, retry_mode=retry_mode,
                               max_attempts=max_attempts)
        report = _run(env, planned[unit.stack], aws=aws, fmt="json", endpoint_url=endpoint_url,
                      gcp_endpoint=gcp_endpoint, gcp_project=None, profile=profile,
                      drill_profile=drill_profile, retry_mode=retry_mode,
                      max_attempts=max_attempts, audit_log=audit_log,
                      audit_cloudwatch_log_group=audit_cloudwatch_log_group,
                      audit_cloud_logging_log=audit_cloud_logging_log, drill_subnets=(),
                      checks_only=checks_only, deadline_scale=deadline_scale, quiet=quiet,
                      label=unit.stack)
        text = render("json", report.results, title=f"keyplane drill {unit.stack}",
                      data=report.to_dict())
        write_atomic(run_dir / unit.file, text)
        from keyplane.audit.evidence import DRILL_STATUS
        from keyplane.findings import Status

        statuses = [DRILL_STATUS.get(r.outcome, Status.UNKNOWN) for r in report.results]
        summary = {"drills": len(statuses), "passed": statuses.count(Status.PASS),
                   "failed": statuses.count(Status.FAIL),
                   "incomplete": statuses.count(Status.UNKNOWN) + len(report.already_running),
                   "evidence": len(report.evidence)}
        return UnitResult(unit=unit, outcome=report.outcome.value, exit_code=report.exit_code,
                          summary=summary, file=unit.file, sha256=digest(text),
                          started_at=stamp, seconds=time.monotonic() - started)

    if not units:
        notes.append(f"no environment of {environments_dir} has a drill in this selection")
    from keyplane.audit.events import new_run_id

    run_estate(command="drill", units=units, shard=shard, output_dir=output_dir, resume=resume,
               estate_concurrency=estate_concurrency, work=work, audit_log=audit_log,
               settings={"tier": tier, "kinds": list(kinds), "checks_only": checks_only,
                         "environments_dir": str(environments_dir),
                         "evidence_location": evidence_location},
               fmt=fmt, output=output, quiet=quiet, run_id=new_run_id(), notes=notes)
