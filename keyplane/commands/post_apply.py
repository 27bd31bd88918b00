"""`keyplane post-apply ENV`: rotation + drift + access review, one read, one report, one exit.

Also home of the options and the runner the single-job commands (`rotation`,
`drift`, `access-review`, `discover`) share.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from keyplane.commands.audit_wiring import audit_options, build_audit_log
from keyplane.documents import loads
from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.output import deliver, set_format
from keyplane.postapply.errors import CREDENTIALS_EXPIRED, RESUME_INVALID, SETUP_FAILED, HookSetupError

REPORT_FORMATS = ("text", "json", "markdown", "sarif", "junit")  # post-apply's reports
DRILL_FORMATS = ("text", "json", "markdown")


def cloud_options(fn: Callable[..., Any], formats: tuple[str, ...] = DRILL_FORMATS,
                  env_required: bool = True) -> Callable[..., Any]:
    """The options of every command that reaches a cloud (post-apply commands and drills)."""
    opts = [
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
        click.option("--profile", help="AWS named profile (default: the credential chain)."),
        click.option("--endpoint-url", help="AWS endpoint (private endpoint or the sandbox)."),
        click.option("--gcp-endpoint", help="Cloud KMS host:port (plaintext; the sandbox)."),
        click.option("--gcp-project", help="GCP project the credentials act in "
                                           "(default: from the credentials; checked)."),
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
        click.option("--quiet", "-q", is_flag=True, help="No progress on stderr."),
    ]
    for opt in reversed(opts):
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
                     help="A partial json report: skip what it already checked."),
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
    from keyplane.commands.cloud_wiring import (
        CloudOptions,
        aws_clients,
        aws_readers,
        gcp_reader,
        require_credentials,
    )
    from keyplane.postapply import acks as acks_mod
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.run import run
    from keyplane.postapply.stack import load_environment_stacks
    from keyplane.reporters import render

    environment = load_targets([env], environments_dir).environments[0]
    if cloud is not None:
        environment = one_cloud(environment, cloud)
    if use_sandbox:
        sb_aws, sb_gcp = sandbox_endpoints(sandbox_state_file)
        endpoint_url = endpoint_url or sb_aws
        gcp_endpoint = gcp_endpoint or sb_gcp
    acks = acks_mod.load(known_drift) if known_drift else None  # every input checked first
    # The synthesized stacks are the expected state; without them the run refuses (KP609).
    stack = load_environment_stacks(environment, synth_dir)
    state = expected_state(environment, stack)
    previous = None
    if resume is not None:
        try:  # loads: a document too deep to walk is a ValueError too
            previous = loads(resume.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HookSetupError(f"resume file {resume} is not readable json: {exc}",
                                 code=RESUME_INVALID) from None
        if not isinstance(previous, dict):
            raise HookSetupError(f"resume file {resume} is not a keyplane json report: "
                                 f"expected an object, got {type(previous).__name__}",
                                 code=RESUME_INVALID)
    opts = CloudOptions(regions=regions, profile=profile, endpoint_url=endpoint_url,
                        gcp_endpoint=gcp_endpoint, gcp_project=gcp_project,
                        retry_mode=retry_mode, max_attempts=max_attempts,
                        concurrency=concurrency)
    require_credentials(environment, opts)
    aws = aws_readers(state, opts)
    gcp = gcp_reader(state, opts)
    audit = build_audit_log(
        command=command, audit_log=audit_log,
        audit_cloudwatch_log_group=audit_cloudwatch_log_group,
        audit_cloud_logging_log=audit_cloud_logging_log,
        logs_client=(lambda: aws_clients(state, opts).client(
            "logs", environment.aws.region)) if environment.aws else None,
        actor=_actor(aws))
    audit.ensure_writable()  # before anything is read: an unrecorded run does not happen
    audit.emit(action=command, outcome="started", environment=environment.name,
               details={"sections": sections, "regions": sorted(aws)})
    started = time.monotonic()
    bar, update = _progress(sys.stderr.isatty() and not quiet)
    if not quiet and bar is None:  # CI logs: one line for the step, one for its result
        clouds = " and ".join(c for c, on in (("aws", aws), ("gcp", gcp is not None)) if on)
        click.echo(f"keyplane: {command} {environment.name}: reading {clouds}", err=True)
    try:
        if bar is not None:
            bar.start()
        report = run(command=command, sections=sections, state=state, aws=aws, gcp=gcp,
                     now=now, concurrency=concurrency, acks=acks, resume=previous,
                     progress=update)
    finally:
        if bar is not None:
            bar.stop()
    _emit_report(audit, report, int((time.monotonic() - started) * 1000))
    if not quiet:
        click.echo(f"keyplane: {command} {environment.name}: {len(report.checked)} resource(s) "
                   f"read in {time.monotonic() - started:.1f} s", err=True)
    deliver(render(report, fmt, synth_dir=synth_dir), output)
    if report.stopped:
        click.echo(f"keyplane: error {CREDENTIALS_EXPIRED}: {report.stopped}", err=True)
    sys.exit(report.outcome.exit_code)


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


def _env_optional(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`common_options` with ENV optional: `--list-checks` needs none."""
    return common_options(fn, env_required=False)


@click.command("post-apply")
@_env_optional
@known_drift_option
@click.option("--list-checks", is_flag=True,
              help="Print the post-apply checks (markdown: docs/checks.md) and exit.")
def post_apply(list_checks: bool, **kwargs: Any) -> None:
    """Run rotation, drift and access review for ENV after a deploy: one report, one exit code.

    Read-only. Exit 0 clean, 1 findings, 2 bad input or setup error, 3 incomplete
    (something could not be read: never reported as clean).
    """
    if list_checks:
        from keyplane.postapply.docs import checks_markdown, checks_text

        deliver(checks_markdown() if kwargs["fmt"] == "markdown" else checks_text(),
                kwargs["output"])
        return
    execute(command="post-apply", sections=["rotation", "drift", "access-review"], **kwargs)
