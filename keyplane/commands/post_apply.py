"""`keyplane post-apply ENV`: rotation + drift + access review, one read, one report, one exit.

Also home of the options and the runner the single-job commands (`rotation`,
`drift`, `access-review`, `discover`) share.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from keyplane.commands.audit_wiring import audit_options, build_audit_log
from keyplane.documents import loads
from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.output import deliver, set_format
from keyplane.postapply.errors import CREDENTIALS_EXPIRED, RESUME_INVALID, SETUP_FAILED, HookSetupError

REPORT_FORMATS = ("text", "json", "markdown", "sarif", "junit")  # post-apply's reports
# The commands whose run also judges the certificates keys declare (its certs section); the
# single-job commands (drift, rotation, access-review, discover) read only their own job.
CERTS_COMMANDS = ("post-apply",)
DRILL_FORMATS = ("text", "json", "markdown")


def connection_options(gcp_project_help: str = "GCP project the credentials act in (default: "
                                               "from the credentials; checked)."
                       ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """How a command reaches the clouds: AWS profile and endpoint, the Google APIs' endpoint
    and project, the sandbox's endpoints, and the AWS retries (post-apply commands, drills,
    csr, incident)."""
    opts = [
        click.option("--profile", help="AWS named profile (default: the credential chain)."),
        click.option("--endpoint-url", help="AWS endpoint (private endpoint or the sandbox)."),
        click.option("--gcp-endpoint", help="host:port of the Google APIs (Cloud KMS, Logging, "
                                            "Monitoring, Resource Manager, CA Service), "
                                            "plaintext: the sandbox."),
        click.option("--gcp-project", help=gcp_project_help),
        click.option("--sandbox", "use_sandbox", is_flag=True,
                     help="Use the endpoints of the running sandbox (see --state-file)."),
        click.option("--state-file", "sandbox_state_file",
                     type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="The sandbox's state file, with --sandbox (default: "
                          "$KEYPLANE_SANDBOX_STATE or .keyplane/sandbox.json)."),
        click.option("--max-attempts", type=click.IntRange(1, 20), default=5, show_default=True,
                     help="Attempts per AWS call, retries included."),
        click.option("--retry-mode", type=click.Choice(["standard", "adaptive"]),
                     default="standard", show_default=True),
    ]

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return apply


def cloud_options(fn: Callable[..., Any], formats: tuple[str, ...] = DRILL_FORMATS,
                  env_required: bool = True) -> Callable[..., Any]:
    """The options of every command that reaches a cloud (post-apply commands and drills)."""
    head = [
        click.argument("env", required=env_required),
        click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
                     default=DEFAULT_DIR, show_default=True, help="Where the inventory is."),
        click.option("--format", "fmt",
                     type=click.Choice(list(formats)),
                     default="text", show_default=True),
        click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
                     help="Write the report to this file (atomically) instead of stdout."),
        click.option("--region", "regions", multiple=True,
                     help="AWS Region to read (repeatable; default: home + replica Regions)."),
    ]
    fn = click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")(fn)
    fn = connection_options()(fn)
    for opt in reversed(head):
        fn = opt(fn)
    return audit_options(fn)


def common_options(fn: Callable[..., Any], env_required: bool = True) -> Callable[..., Any]:
    """The options every read-only post-apply command takes: the cloud options, and how the
    run reads (one cloud, concurrency, the synthesized stacks, a resumed report)."""
    opts = [
        click.option("--cloud", type=click.Choice(["aws", "gcp"]), default=None,
                     help="Read one cloud only: its stack (<env>-aws or <env>-gcp) and its "
                          "credentials (default: every cloud the environment uses)."),
        click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
                     help="Parallel reads."),
        click.option("--synth-dir", type=click.Path(path_type=Path, file_okay=False),
                     default=Path("cdktf.out"), show_default=True,
                     help="Where `keyplane synth` wrote the stacks."),
        click.option("--resume", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     help="A partial json report: skip what it already checked "
                          "(post-apply --all: the estate.json of a run that stopped)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return cloud_options(fn, REPORT_FORMATS, env_required)


def sandbox_endpoints(state_file: Path | None) -> tuple[str, str]:
    """(aws endpoint, gcp endpoint) of the running sandbox named by `state_file`; a coded
    error when its process is gone (a stale state file), never a connection error later."""
    import os

    from keyplane.postapply.errors import SANDBOX_FAILED
    from keyplane.sandbox.state import SandboxState, state_path

    path = state_path(state_file)
    if state_file is not None and not path.exists():
        # a sandbox started without this --state-file is not the one asked for
        raise HookSetupError(f"no sandbox state at {path}: no sandbox was started with "
                             f"`--state-file {path}`; start one with `keyplane sandbox up "
                             f"--background --state-file {path}`, or drop --state-file to use "
                             "the default sandbox", code=SANDBOX_FAILED)
    sb = SandboxState.read(path)
    try:
        os.kill(sb.pid, 0)
    except ProcessLookupError:
        flag = f" --state-file {path}" if state_file is not None else ""
        raise HookSetupError(f"the sandbox of {path} is not running (pid {sb.pid} is gone); "
                             f"start it with `keyplane sandbox up --background{flag}`",
                             code=SANDBOX_FAILED) from None
    except PermissionError:
        pass  # alive, owned by another user
    return sb.aws_endpoint, sb.gcp_endpoint


def known_drift_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--known-drift FILE`."""
    return click.option("--known-drift", type=click.Path(path_type=Path, dir_okay=False,
                                                         exists=True),
                        help="Acknowledged drift: resource, reason, owner, expires.")(fn)


def _progress(enabled: bool) -> tuple[Any, Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal (stderr), nothing otherwise."""
    if not enabled:
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(TextColumn("reading"), BarColumn(), MofNCompleteColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("read", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)
    return bar, update


@dataclass(frozen=True, kw_only=True)
class ReadSettings:
    """What every environment read by one command shares: the command, its sections, the
    cloud options, the expected state's directory, the audit sinks and the known drift."""

    command: str
    sections: list[str]
    regions: tuple[str, ...]
    profile: str | None
    endpoint_url: str | None
    gcp_endpoint: str | None
    gcp_project: str | None
    concurrency: int
    max_attempts: int
    retry_mode: str
    synth_dir: Path
    audit_log: Path
    audit_cloudwatch_log_group: str | None = None
    audit_cloud_logging_log: str | None = None
    acks: list[Any] | None = None
    now: dt.datetime | None = None
    run_id: str | None = None  # one audit run id for every unit of a bulk run


def execute(*, command: str, sections: list[str], env: str, environments_dir: Path, fmt: str,
            output: Path | None, regions: tuple[str, ...], profile: str | None,
            endpoint_url: str | None, gcp_endpoint: str | None, gcp_project: str | None,
            use_sandbox: bool, concurrency: int, max_attempts: int, retry_mode: str,
            synth_dir: Path, resume: Path | None, audit_log: Path,
            audit_cloudwatch_log_group: str | None = None,
            audit_cloud_logging_log: str | None = None, known_drift: Path | None = None,
            cloud: str | None = None, sandbox_state_file: Path | None = None,
            quiet: bool = False, now: dt.datetime | None = None) -> None:
    """Load, wire, run, report; exit 0 clean, 1 findings, 2 setup error, 3 incomplete."""
    if not env:
        raise click.UsageError("Missing argument 'ENV'.")
    set_format(fmt)
    from keyplane.postapply import acks as acks_mod
    from keyplane.reporters import render

    environment = load_targets([env], environments_dir).environments[0]
    if cloud is not None:
        environment = one_cloud(environment, cloud)
    if use_sandbox:
        sb_aws, sb_gcp = sandbox_endpoints(sandbox_state_file)
        endpoint_url = endpoint_url or sb_aws
        gcp_endpoint = gcp_endpoint or sb_gcp
    acks = acks_mod.load(known_drift) if known_drift else None  # every input checked first
    settings = ReadSettings(
        command=command, sections=sections, regions=regions, profile=profile,
        endpoint_url=endpoint_url, gcp_endpoint=gcp_endpoint, gcp_project=gcp_project,
        concurrency=concurrency, max_attempts=max_attempts, retry_mode=retry_mode,
        synth_dir=synth_dir, audit_log=audit_log,
        audit_cloudwatch_log_group=audit_cloudwatch_log_group,
        audit_cloud_logging_log=audit_cloud_logging_log, acks=acks, now=now)
    report = read_environment(environment, settings, resume=resume,
                              bar=sys.stderr.isatty() and not quiet, announce=not quiet)
    deliver(render(report, fmt, synth_dir=synth_dir), output)
    if report.stopped:
        click.echo(f"keyplane: error {CREDENTIALS_EXPIRED}: {report.stopped}", err=True)
    sys.exit(report.outcome.exit_code)


def _load_resume(resume: Path | None) -> dict[str, Any] | None:
    """The report a run resumes from; a coded error when it is not a json object."""
    if resume is None:
        return None
    try:  # loads: a document too deep to walk is a ValueError too
        previous = loads(resume.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HookSetupError(f"resume file {resume} is not readable json: {exc}",
                             code=RESUME_INVALID) from None
    if not isinstance(previous, dict):
        raise HookSetupError(f"resume file {resume} is not a keyplane json report: "
                             f"expected an object, got {type(previous).__name__}",
                             code=RESUME_INVALID)
    return previous


def read_environment(environment: Any, s: ReadSettings, *, resume: Path | None = None,
                     bar: bool = False, announce: bool = False) -> Any:
    """One environment (or one cloud of it) read and judged: its expected state from the
    synthesized stacks, its readers, its audit trail, the run; the Report.

    For post-apply (CERTS_COMMANDS), when the environment declares `certificates` on any
    key, its certificate files are read before anything else (a file that cannot be used is
    bad input, exit 2, before any cloud call), and after the run its certificates are judged
    over the run's own AWS clients and Cloud KMS options and folded into the report as its
    certs section (`keyplane.postapply.certs`). `bar` shows a progress bar (a terminal),
    `announce` the one-line start and end a CI log shows; a bulk run turns both off and says
    per unit what ended. Raises a KeyplaneError (exit 2) for anything that stops the run
    before it reads.
    """
    from keyplane.commands.cloud_wiring import (
        CloudOptions,
        aws_clients,
        gcp_reader,
        require_credentials,
    )
    from keyplane.postapply.certs import declares_certificates
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.run import run
    from keyplane.postapply.stack import load_environment_stacks

    command = s.command
    # The synthesized stacks are the expected state; without them the run refuses (KP609).
    stack = load_environment_stacks(environment, s.synth_dir)
    state = expected_state(environment, stack)
    previous = _load_resume(resume)
    certificate_files = None
    if command in CERTS_COMMANDS and declares_certificates(environment):
        from keyplane.certs.sources import collect_files

        certificate_files = collect_files(environment)  # the repository's part: exit 2 here
    opts = CloudOptions(regions=s.regions, profile=s.profile, endpoint_url=s.endpoint_url,
                        gcp_endpoint=s.gcp_endpoint, gcp_project=s.gcp_project,
                        retry_mode=s.retry_mode, max_attempts=s.max_attempts,
                        concurrency=s.concurrency)
    require_credentials(environment, opts)
    clients = aws_clients(state, opts)  # one credential setup for every AWS call of the run
    aws = _aws_readers(clients, state, opts)
    gcp = gcp_reader(state, opts)
    audit = build_audit_log(
        command=command, audit_log=s.audit_log,
        audit_cloudwatch_log_group=s.audit_cloudwatch_log_group,
        audit_cloud_logging_log=s.audit_cloud_logging_log,
        logs_client=(lambda: clients.client("logs", environment.aws.region))
        if clients is not None else None,
        actor=_actor(aws), run_id=s.run_id)
    audit.ensure_writable()  # before anything is read: an unrecorded run does not happen
    audit.emit(action=command, outcome="started", environment=environment.name,
               details={"sections": s.sections, "regions": sorted(aws)})
    started = time.monotonic()
    progress_bar, update = _progress(bar)
    if announce and progress_bar is None:  # CI logs: one line for the step, one for its result
        clouds = " and ".join(c for c, on in (("aws", aws), ("gcp", gcp is not None)) if on)
        files = (f"; {len(certificate_files)} certificate file(s)"
                 if certificate_files is not None else "")
        click.echo(f"keyplane: {command} {environment.name}: reading {clouds}{files}", err=True)
    try:
        if progress_bar is not None:
            progress_bar.start()
        report = run(command=command, sections=s.sections, state=state, aws=aws, gcp=gcp,
                     now=s.now, concurrency=s.concurrency, acks=s.acks, resume=previous,
                     progress=update)
    finally:
        if progress_bar is not None:
            progress_bar.stop()
    if certificate_files is not None:
        _judge_certificates(report, environment, certificate_files, clients=clients,
                            opts=opts if gcp is not None else None, s=s)
    _emit_report(audit, report, int((time.monotonic() - started) * 1000))
    if announce:
        click.echo(f"keyplane: {command} {environment.name}: {len(report.checked)} resource(s) "
                   f"read in {time.monotonic() - started:.1f} s", err=True)
    return report


def _aws_readers(clients: Any, state: Any, opts: Any) -> dict[str, Any]:
    """One reader per Region to scan, all over `clients` (none without an AWS section)."""
    if clients is None:
        return {}
    from keyplane.cloud.aws.reader import AwsReader

    return {r: AwsReader(clients, r) for r in opts.regions or state.aws_regions}


def _judge_certificates(report: Any, environment: Any, files: list[Any], *, clients: Any,
                        opts: Any, s: ReadSettings) -> None:
    """The certs section of `report`: the certificates judged as `keyplane certs` judges
    them, at the run's own time, over the run's AWS clients (`clients`, None without AWS)
    and Cloud KMS options (`opts`, None without GCP); a run that stopped (its credentials
    expired) leaves them unknown rather than judged on what it could still read."""
    from keyplane.commands.certs import judge_certificates
    from keyplane.postapply.certs import fold, not_judged

    if report.stopped:
        not_judged(report, environment, f"the run stopped ({report.stopped})")
        return
    judged = judge_certificates(environment, files, aws=clients, opts=opts, regions=s.regions,
                                at=report.started_at, started_at=report.started_at)
    fold(report, judged, environment, acks=s.acks)


def one_cloud(environment: Any, cloud: str) -> Any:
    """`environment` reduced to one cloud: its keys there, the other cloud's section gone, so
    only that cloud's stack is read and only its credentials are needed (one CI job per
    stack, least privilege)."""
    from keyplane.model.specs import Cloud

    chosen = Cloud(cloud)
    if not environment.keys_on(chosen):
        raise HookSetupError(f"environment '{environment.name}' has no {cloud} keys; its "
                             f"stacks are {', '.join(c.value for c in Cloud if environment.keys_on(c))}",
                             code=SETUP_FAILED)
    other = Cloud.GCP if chosen is Cloud.AWS else Cloud.AWS
    return environment.model_copy(update={"keys": environment.keys_on(chosen),
                                          other.value: None})


def _actor(aws: dict[str, Any]) -> str | None:
    """The caller identity ARN, when an AWS reader can tell (the run checks it anyway)."""
    for reader in aws.values():
        try:
            return str(reader.caller_arn())
        except Exception:  # the identity check of the run reports the real problem
            return None
    return None


def _emit_report(audit: Any, report: Any, duration_ms: int) -> None:
    """One event per finding and per resource that could not be read, then the outcome."""
    env = report.environment
    for f in report.findings:
        audit.emit(action=f.rule_id, outcome="finding", environment=env, resource=f.resource,
                   reason=f.reason, details={"severity": f.severity.value,
                                              "acknowledged": f.acknowledged is not None})
    for u in report.unknowns:
        audit.emit(action=report.command, outcome="unknown", environment=env,
                   resource=u.resource, reason=u.reason)
    outcome = {"clean": "ok", "findings": "finding"}.get(report.outcome.value, "unknown")
    audit.emit(action=report.command, outcome=outcome, environment=env,
               reason=f"{report.outcome.value}: {len(report.open_findings)} open finding(s), "
                      f"{len(report.unknowns)} unknown, {len(report.checked)} checked",
               duration_ms=duration_ms)


# ---- the whole estate from one runner: `--all` -------------------------------------------------

ALL_FORMATS = ("text", "json", "markdown")  # the summary's; every unit's report is json


def estate_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--all`, `--shard`, `--estate-concurrency`, `--output-dir`: one runner, many units."""
    opts = [
        click.option("--all", "all_units", is_flag=True,
                     help="Run every stack of the inventory (each environment on each cloud "
                          "is one unit), several at once; one json report per unit in "
                          "--output-dir, and estate.json."),
        click.option("--shard", metavar="i/N",
                     help="With --all: only the units of shard i of N, the same ones "
                          "`keyplane matrix --shard i/N` lists (stable: no coordination "
                          "between runners)."),
        click.option("--estate-concurrency", type=click.IntRange(1, 64), default=None,
                     help="With --all: units at once (default 4), each with its own "
                          "--concurrency."),
        click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False),
                     help="With --all: where the units' reports and estate.json go (a new "
                          "directory, or the one of --resume)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def check_all_options(*, all_units: bool, env: str | None, fmt: str, shard: str | None,
                      estate_concurrency: int | None, output_dir: Path | None,
                      resume: Path | None, estate_processes: int | None = None,
                      **others: Any) -> None:
    """Refuse options that do not go together with (or without) `--all`, naming the fix
    (KP940); `others` are options that only a single environment takes."""
    from keyplane.estate.run import EstateRunError
    from keyplane.estate.shard import parse_shard

    if not all_units:
        given = [name for name, value in (("--shard", shard), ("--output-dir", output_dir),
                                          ("--estate-concurrency", estate_concurrency),
                                          ("--estate-processes", estate_processes))
                 if value is not None]
        if given:
            raise EstateRunError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} "
                                 "to --all only; add --all to run every stack")
        return
    if env:
        raise EstateRunError(f"--all runs every stack of the inventory; give ENV or --all, not "
                             f"both (got ENV {env})")
    if fmt not in ALL_FORMATS:
        raise EstateRunError(f"with --all, --format is the summary's and must be one of "
                             f"{', '.join(ALL_FORMATS)}, got {fmt} (each unit's report is json "
                             "in --output-dir)")
    for name, value in others.items():
        if value:
            raise EstateRunError(f"{name} applies to one environment, not to --all (each "
                                 "environment's own file says what it needs): leave it out")
    if output_dir is None and resume is None:
        raise EstateRunError("--all needs --output-dir DIR (a new directory for the units' "
                             "reports), or --resume DIR/estate.json to continue a run")
    if shard is not None:
        parse_shard(shard, option="--shard")


def _open_run_dir(*, command: str, shard: str | None, output_dir: Path | None,
                  resume: Path | None) -> tuple[Path, list[Any]]:
    """(the run's directory, the unit results of the run it resumes, or none).

    A new run needs a directory that holds no run yet, so nothing of an earlier run is
    overwritten or mistaken for this one's (KP941). A resumed run continues in the directory
    of its estate.json, for the same command and shard (KP942).
    """
    from keyplane.estate.run import (
        OUTPUT_DIR_IN_USE,
        RESUME_NOT_A_RUN,
        SUMMARY_FILE,
        EstateRunError,
        read_summary,
    )

    if resume is None:
        assert output_dir is not None
        if (output_dir / SUMMARY_FILE).exists():
            raise EstateRunError(f"{output_dir} already holds a run ({output_dir / SUMMARY_FILE})"
                                 f"; continue it with --resume {output_dir / SUMMARY_FILE}, or "
                                 "give a new --output-dir", code=OUTPUT_DIR_IN_USE)
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EstateRunError(f"cannot create --output-dir {output_dir}: "
                                 f"{exc.strerror or exc}") from None
        return output_dir, []
    run_dir = resume.parent
    if output_dir is not None and output_dir.resolve() != run_dir.resolve():
        raise EstateRunError(f"--resume {resume} continues the run in {run_dir}; --output-dir "
                             f"{output_dir} is another directory (leave it out, or give "
                             f"{run_dir})", code=RESUME_NOT_A_RUN)
    try:
        data = loads(resume.read_text(encoding="utf-8"))
        previous_command, previous_shard, results = read_summary(data, where=str(resume))
    except (OSError, ValueError) as exc:
        raise EstateRunError(f"--resume {resume} cannot be continued: {exc}",
                             code=RESUME_NOT_A_RUN) from None
    if previous_command != command or previous_shard != shard:
        was = f"{previous_command} --all" + (f" --shard {previous_shard}" if previous_shard
                                             else "")
        now = f"{command} --all" + (f" --shard {shard}" if shard else "")
        raise EstateRunError(f"--resume {resume} is a run of `{was}`, not of `{now}`; resume "
                             "it with the same command and shard", code=RESUME_NOT_A_RUN)
    return run_dir, results


def require_any_credentials(environments: list[Any], opts: Any) -> None:
    """Before any unit starts: every cloud the selected units read has some credentials (one
    KP604 naming each missing cloud, instead of one failed unit per stack)."""
    from types import SimpleNamespace

    from keyplane.commands.cloud_wiring import require_credentials

    probe = SimpleNamespace(aws=next((e.aws for e in environments if e.aws), None),
                            gcp=next((e.gcp for e in environments if e.gcp), None))
    require_credentials(probe, opts)


def run_estate(*, command: str, units: list[Any], shard: str | None, output_dir: Path | None,
               resume: Path | None, estate_concurrency: int | None,
               work: Callable[[Any, Path, Path | None], Any], settings: dict[str, Any],
               audit_log: Path, fmt: str, output: Path | None, quiet: bool,
               run_id: str, notes: list[str] | None = None, processes: int = 1,
               process_work: tuple[Callable[..., Any], tuple[Any, ...]] | None = None) -> None:
    """Run `work(unit, run dir, partial report or None)` for every unit, a bounded number at
    once; keep estate.json current after every unit; print the summary; exit with the worst
    unit's code (0 clean, 1 findings, 3 incomplete).

    With `processes` > 1 and `process_work` = (a module-level function, its arguments), the
    units are spread over that many worker processes instead (`keyplane.estate.processes`):
    `fn(unit, partial report or None, *arguments, run dir)` runs in the worker."""
    from keyplane.estate.run import (
        DEFAULT_UNITS_AT_ONCE,
        SUMMARY_FILE,
        Summary,
        carried_over,
        render_markdown,
        render_text,
        run_units,
    )
    from keyplane.output import to_json, write_atomic

    run_dir, previous = _open_run_dir(command=command, shard=shard, output_dir=output_dir,
                                      resume=resume)
    at_once = estate_concurrency or DEFAULT_UNITS_AT_ONCE
    done, partial = carried_over(previous, units, run_dir)
    now = dt.datetime.now(dt.UTC)
    summary = Summary.start(command=command, shard=shard, units=units, now=now, carried=done,
                            settings={**settings, "estate_concurrency": at_once,
                                      "run_id": run_id})
    summary.notes += notes or []
    if done:
        summary.notes.append(f"resumed {resume}: {len(done)} finished unit(s) kept, "
                             f"{len(partial)} continued from their partial report")
    audit = build_audit_log(command=command, audit_log=audit_log, run_id=run_id)
    audit.ensure_writable()  # fail closed before any unit runs
    path = run_dir / SUMMARY_FILE
    last_save = [0.0]

    def save(every: float = 0.0) -> None:
        # At most once a second while units end (an estate of thousands of units would
        # otherwise rewrite a growing file thousands of times); a unit that ended after the
        # last save has its report on disk, and a resumed run simply runs it again.
        if time.monotonic() - last_save[0] >= every:
            write_atomic(path, to_json(summary.to_dict()))
            last_save[0] = time.monotonic()

    save()
    todo = [u for u in units if u.stack not in done]
    audit.emit(action=f"{command}.all", outcome="started",
               details={"units": len(units), "to_run": len(todo), "shard": shard,
                        "estate_concurrency": at_once, "output_dir": str(run_dir)})
    if not quiet:
        spread = f" in {min(processes, len(todo))} processes" \
            if process_work is not None and min(processes, len(todo)) > 1 else ""
        click.echo(f"keyplane: {command} --all: {len(todo)} of {len(units)} unit(s)"
                   f"{f' (shard {shard})' if shard else ''}, {at_once} at once{spread}; "
                   f"reports to {run_dir}", err=True)
    started = time.monotonic()
    ended = [len(done)]

    def on_result(result: Any) -> None:
        summary.results[result.unit.stack] = result
        save(every=1.0)
        ended[0] += 1
        if not quiet:
            what = (f"{result.error['code']} {result.error['message']}" if result.error else
                    ", ".join(f"{v} {k}" for k, v in result.summary.items()))
            click.echo(f"keyplane: {command} {result.unit.stack}: {result.outcome.upper()}, "
                       f"{what} ({result.seconds or 0:.1f} s) [{ended[0]}/{len(units)}]",
                       err=True)

    workers = min(processes, len(todo)) if process_work is not None else 1
    try:
        if workers > 1 and process_work is not None:
            from keyplane.estate.processes import run_units_in_processes

            fn, args = process_work
            run_units_in_processes(todo, fn, args=(*args, run_dir), processes=workers,
                                   per_process=max(1, -(-at_once // workers)),
                                   on_result=on_result, resume_from=partial)
        else:
            run_units(todo, lambda unit, part: work(unit, run_dir, part), concurrency=at_once,
                      on_result=on_result, resume_from=partial)
    finally:
        summary.finished = all(r.outcome != "pending" for r in summary.results.values())
        save()
    outcome = summary.outcome
    audit.emit(action=f"{command}.all",
               outcome={"clean": "ok", "findings": "finding"}.get(outcome, "unknown"),
               reason=f"{outcome}: {len(units)} unit(s)",
               duration_ms=int((time.monotonic() - started) * 1000),
               details={"units": summary.counts(), "summary": summary.added_up()})
    doc = summary.to_dict()
    text = {"json": lambda: to_json(doc), "markdown": lambda: render_markdown(doc, run_dir)
            }.get(fmt, lambda: render_text(doc, run_dir))()
    deliver(text, output)
    sys.exit(summary.exit_code)


def execute_all(*, command: str, sections: list[str], environments_dir: Path, fmt: str,
                output: Path | None, regions: tuple[str, ...], profile: str | None,
                endpoint_url: str | None, gcp_endpoint: str | None, use_sandbox: bool,
                concurrency: int, max_attempts: int, retry_mode: str, synth_dir: Path,
                resume: Path | None, audit_log: Path, audit_cloudwatch_log_group: str | None,
                audit_cloud_logging_log: str | None, known_drift: Path | None,
                cloud: str | None, sandbox_state_file: Path | None, quiet: bool,
                shard: str | None, estate_concurrency: int | None, output_dir: Path | None,
                now: dt.datetime | None = None, estate_processes: int | None = None) -> None:
    """`post-apply --all`: every stack of the inventory (or of one shard), each unit read as
    `post-apply ENV --cloud C` reads it, its json report in the run's directory; the units
    spread over `estate_processes` worker processes (default: `default_processes`)."""
    set_format(fmt)
    from keyplane.audit.events import new_run_id
    from keyplane.commands.cloud_wiring import CloudOptions
    from keyplane.estate.matrix import stack_targets
    from keyplane.estate.run import UnitResult, select, units_of
    from keyplane.postapply import acks as acks_mod

    if shard is not None:
        from keyplane.estate.shard import parse_shard

        parse_shard(shard, option="--shard")  # before the inventory is read: fail fast
    estate = load_targets((), environments_dir)
    environments = {e.name: e for e in estate.environments}
    units = [u for u in units_of(stack_targets(estate.environments))
             if cloud is None or u.cloud == cloud]
    units = select(units, shard)
    if use_sandbox:
        sb_aws, sb_gcp = sandbox_endpoints(sandbox_state_file)
        endpoint_url = endpoint_url or sb_aws
        gcp_endpoint = gcp_endpoint or sb_gcp
    acks = acks_mod.load(known_drift) if known_drift else None
    if units:
        require_any_credentials([one_cloud(environments[u.environment], u.cloud)
                                 for u in units],
                                CloudOptions(regions=regions, profile=profile,
                                             endpoint_url=endpoint_url,
                                             gcp_endpoint=gcp_endpoint))
    base = ReadSettings(command=command, sections=sections, regions=regions, profile=profile,
                        endpoint_url=endpoint_url, gcp_endpoint=gcp_endpoint, gcp_project=None,
                        concurrency=concurrency, max_attempts=max_attempts,
                        retry_mode=retry_mode, synth_dir=synth_dir, audit_log=audit_log,
                        audit_cloudwatch_log_group=audit_cloudwatch_log_group,
                        audit_cloud_logging_log=audit_cloud_logging_log, acks=acks, now=now,
                        run_id=new_run_id())

    def work(unit: Any, run_dir: Path, partial: Path | None) -> UnitResult:
        return post_apply_unit(unit, partial, environments, base, run_dir)

    notes = [] if units else [f"no stack of {environments_dir} is in this selection"]
    processes = estate_processes or default_processes(len(units))
    run_estate(command=command, units=units, shard=shard, output_dir=output_dir, resume=resume,
               estate_concurrency=estate_concurrency, work=work, audit_log=audit_log,
               settings={"sections": sections, "concurrency": concurrency, "cloud": cloud,
                         "environments_dir": str(environments_dir),
                         "synth_dir": str(synth_dir), "estate_processes": processes},
               fmt=fmt, output=output, quiet=quiet, run_id=str(base.run_id), notes=notes,
               processes=processes,
               process_work=(post_apply_unit, (environments, base)))


def default_processes(units: int) -> int:
    """Worker processes of a bulk post-apply when --estate-processes is not given: one per
    core, but no more than one per 10 units (a worker's start costs about a second of CPU),
    so a small estate runs in this process."""
    try:  # the CPUs this process may run on (a container's share, not the host's count)
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity on this platform
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, units // 10))


def post_apply_unit(unit: Any, partial: Path | None, environments: dict[str, Any],
                    base: ReadSettings, run_dir: Path) -> Any:
    """One unit of `post-apply --all`: read and judge it, write its json report to `run_dir`;
    its UnitResult. Module-level, so that a worker process can run it."""
    from keyplane.estate.run import UnitResult, digest
    from keyplane.output import write_atomic
    from keyplane.reporters import render

    started = time.monotonic()
    environment = one_cloud(environments[unit.environment], unit.cloud)
    report = read_environment(environment, base, resume=partial)
    text = render(report, "json", synth_dir=base.synth_dir)
    write_atomic(run_dir / unit.file, text)
    outcome = report.outcome
    return UnitResult(unit=unit, outcome=outcome.value, exit_code=outcome.exit_code,
                      summary=report.summary(), file=unit.file, sha256=digest(text),
                      started_at=report.started_at.isoformat(),
                      seconds=time.monotonic() - started, stopped=report.stopped,
                      resumed=partial is not None)


def _env_optional(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`common_options` with ENV optional: `--list-checks` needs none."""
    return common_options(fn, env_required=False)


@click.command("post-apply")
@_env_optional
@known_drift_option
@estate_options
@click.option("--estate-processes", type=click.IntRange(1, 64), default=None,
              help="With --all: spread the units over this many worker processes (default: "
                   "one per CPU, at most one per 10 units); --estate-concurrency is then the "
                   "units at once across them.")
@click.option("--list-checks", is_flag=True,
              help="Print the post-apply checks (markdown: docs/checks.md) and exit.")
def post_apply(list_checks: bool, all_units: bool, shard: str | None,
               estate_concurrency: int | None, output_dir: Path | None,
               estate_processes: int | None, **kwargs: Any) -> None:
    """Run rotation, drift and access review for ENV after a deploy, and judge the
    certificates its keys declare: one report, one exit code.

    With --all instead of ENV: every stack of the inventory (or of --shard i/N), a few at
    once (--estate-concurrency), one json report per stack in --output-dir plus estate.json,
    the summary on stdout; --resume DIR/estate.json continues a run that was stopped.

    Read-only. Exit 0 clean, 1 findings, 2 bad input or setup error, 3 incomplete
    (something could not be read: never reported as clean; with --all, the worst stack).
    """
    if list_checks:
        from keyplane.postapply.docs import checks_markdown, checks_text

        deliver(checks_markdown() if kwargs["fmt"] == "markdown" else checks_text(),
                kwargs["output"])
        return
    sections = ["rotation", "drift", "access-review"]
    check_all_options(all_units=all_units, env=kwargs["env"], fmt=kwargs["fmt"], shard=shard,
                      estate_concurrency=estate_concurrency, output_dir=output_dir,
                      resume=kwargs["resume"], estate_processes=estate_processes,
                      **{"--gcp-project": kwargs["gcp_project"]})
    if all_units:
        kwargs.pop("env")
        kwargs.pop("gcp_project")
        execute_all(command="post-apply", sections=sections, shard=shard,
                    estate_concurrency=estate_concurrency, output_dir=output_dir,
                    estate_processes=estate_processes, **kwargs)
        return
    execute(command="post-apply", sections=sections, **kwargs)
