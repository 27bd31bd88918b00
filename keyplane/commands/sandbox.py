"""`keyplane sandbox up|down|apply|status`: the local playground the post-apply commands can read.

`up` starts moto's server (behind keyplane's fault-injecting front) and an
in-process Cloud KMS fake on 127.0.0.1, in the foreground or `--background`
(endpoints and pid in `.keyplane/sandbox.json`); `apply ENV` builds the
environment's synthesized stacks in it (AWS with real Terraform, GCP through
google-cloud-kms); `down` stops it. It is a local playground and test bed, never a
deploy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click

from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.output import set_format
from keyplane.postapply.errors import SANDBOX_FAILED, HookSetupError

PLAYGROUND = "local playground, not a deploy: nothing here reaches AWS or Google Cloud"


@click.group()
def sandbox() -> None:
    """A local AWS endpoint (moto) and Cloud KMS fake for demos and tests; never a deploy."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _require_sandbox_extra() -> None:
    """moto's server (and werkzeug, which it brings) come with `keyplane[sandbox]` or the dev
    extra, not with `pip install keyplane`: say so before anything starts."""
    from keyplane.sandbox import missing_extra

    why = missing_extra()
    if why:
        raise HookSetupError(f"the sandbox needs keyplane[sandbox]: pip install "
                             f"'keyplane[sandbox]' ({why})", code=SANDBOX_FAILED)


@sandbox.command()
@click.option("--background", is_flag=True, help="Detach; write the state file and return.")
@click.option("--latency-ms", type=click.FloatRange(0, 5000), default=0.0, show_default=True,
              help="Fixed delay per request (makes concurrency measurable locally).")
@click.option("--aws-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="0: an OS-assigned port.")
@click.option("--gcp-port", type=click.IntRange(0, 65535), default=0, show_default=True)
@click.option("--state-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Default: $KEYPLANE_SANDBOX_STATE or .keyplane/sandbox.json.")
def up(background: bool, latency_ms: float, aws_port: int, gcp_port: int,
       state_file: Path | None) -> None:
    """Start the sandbox on 127.0.0.1 and print its endpoints."""
    _require_sandbox_extra()
    from keyplane.sandbox.state import SandboxState, state_path

    path = state_path(state_file)
    if path.exists():
        try:
            old = SandboxState.read(path)
            if _alive(old.pid):
                raise HookSetupError(f"a sandbox is already running (pid {old.pid}, "
                                     f"{old.aws_endpoint}); stop it with `keyplane sandbox down`",
                                     code=SANDBOX_FAILED)
        except HookSetupError as exc:
            if "already running" in exc.message:
                raise
    if background:
        cmd = [sys.executable, "-c", "from keyplane.cli import main; main()", "sandbox", "up",
               "--latency-ms", str(latency_ms), "--aws-port", str(aws_port),
               "--gcp-port", str(gcp_port), "--state-file", str(path)]
        path.unlink(missing_ok=True)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists():
                state = SandboxState.read(path)
                click.echo(f"keyplane sandbox ({PLAYGROUND})\n  aws endpoint: {state.aws_endpoint}"
                           f"\n  gcp endpoint: {state.gcp_endpoint}\n  pid: {state.pid}\n"
                           f"  state file: {path}")
                return
            if proc.poll() is not None:
                raise HookSetupError(f"the sandbox exited with code {proc.returncode} while "
                                     "starting", code=SANDBOX_FAILED)
            time.sleep(0.1)
        proc.terminate()
        raise HookSetupError("the sandbox did not start within 60 s", code=SANDBOX_FAILED)
    from keyplane.sandbox.server import Sandbox

    sb = Sandbox(latency_ms=latency_ms, aws_port=aws_port, gcp_port=gcp_port)
    try:
        aws_url, gcp_target = sb.start()
    except OSError as exc:
        raise HookSetupError(f"cannot start the sandbox: {exc}", code=SANDBOX_FAILED) from None
    SandboxState(aws_endpoint=aws_url, gcp_endpoint=gcp_target, pid=os.getpid(),
                 latency_ms=latency_ms).write(path)
    click.echo(f"keyplane sandbox ({PLAYGROUND})\n  aws endpoint: {aws_url}\n"
               f"  gcp endpoint: {gcp_target}\n  latency: {latency_ms:g} ms per request\n"
               "  stop with Ctrl-C or `keyplane sandbox down`")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
        path.unlink(missing_ok=True)


@sandbox.command()
@click.option("--state-file", type=click.Path(path_type=Path, dir_okay=False), default=None)
def down(state_file: Path | None) -> None:
    """Stop the background sandbox named in the state file."""
    from keyplane.sandbox.state import SandboxState, state_path

    path = state_path(state_file)
    if not path.exists():
        click.echo(f"keyplane sandbox: none running (no state file at {path})")
        return
    state = SandboxState.read(path)
    if not _alive(state.pid):
        path.unlink(missing_ok=True)
        click.echo(f"keyplane sandbox: pid {state.pid} was not running; removed the stale "
                   f"state file {path}")
        return
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    path.unlink(missing_ok=True)
    click.echo(f"keyplane sandbox stopped (pid {state.pid})")


def _target(state_file: Path | None, aws_endpoint: str | None, gcp_endpoint: str | None,
            *, need_gcp: bool = True) -> tuple[Path, str | None, str | None, dict[str, object]]:
    """(work root, aws endpoint, gcp endpoint, sandbox identity) of `sandbox plan|apply`:
    endpoints given on the command line win; the rest come from the running sandbox's state
    file, which is read only when something is missing."""
    from keyplane.sandbox.state import SandboxState, state_path

    path = state_path(state_file)
    missing = not aws_endpoint or (need_gcp and not gcp_endpoint)
    state = SandboxState.read(path) if missing else None
    aws = aws_endpoint or (state.aws_endpoint if state else None)
    gcp = gcp_endpoint or (state.gcp_endpoint if state else None)
    return path.parent / "sandbox", aws, gcp, {"aws_endpoint": aws,
                                               "pid": state.pid if state else None}


@sandbox.command()
@click.argument("env")
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True)
@click.option("--synth-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("cdktf.out"), show_default=True,
              help="Where `keyplane synth` wrote the stacks.")
@click.option("--endpoint-url", help="Default: the running sandbox's.")
@click.option("--gcp-endpoint", help="Default: the running sandbox's.")
@click.option("--state-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Default: $KEYPLANE_SANDBOX_STATE or .keyplane/sandbox.json.")
def apply(env: str, environments_dir: Path, synth_dir: Path, endpoint_url: str | None,
          gcp_endpoint: str | None, state_file: Path | None) -> None:
    """Build ENV's synthesized stacks in the sandbox: the AWS stack with real Terraform,
    then a second plan that must be empty (a local playground, not a deploy).

    Needs terraform on PATH (and the hashicorp/aws provider, from $KEYPLANE_TF_PLUGIN_DIR or
    /opt/tf-plugins when it is there). Exit 0 applied, 2 setup error or unfaithful sandbox.
    """
    set_format("text")
    from keyplane.sandbox.stack_apply import apply_environment

    work_root, endpoint_url, gcp_endpoint, sandbox_id = _target(state_file, endpoint_url,
                                                                gcp_endpoint)
    environment = load_targets([env], environments_dir).environments[0]
    click.echo(f"keyplane sandbox apply {environment.name} ({PLAYGROUND})")
    try:
        done = apply_environment(
            environment, synth_dir=synth_dir, work_root=work_root,
            aws_endpoint=endpoint_url, gcp_endpoint=gcp_endpoint, sandbox_id=sandbox_id,
            progress=lambda step: click.echo(f"  .. {step}"))
    except HookSetupError:
        raise
    except Exception as exc:  # an SDK's own error: one line, no traceback
        raise HookSetupError(f"sandbox apply failed: {type(exc).__name__}: {exc}",
                             code=SANDBOX_FAILED) from None
    if done.hsm_stack is not None:
        click.echo(f"  {done.hsm_stack.parent.name}: {done.hsm_resources} resource(s) applied "
                   f"by terraform from {done.hsm_stack}")
    if done.key_store is not None:
        ks = done.key_store
        click.echo(f"  keystore connect: {ks['name']} ({ks['custom_key_store_id']}) "
                   f"{ks['connection_state']} on {ks['cluster_id']}")
    if done.aws_stack is not None:
        click.echo(f"  {done.aws_stack.parent.name}: {done.aws_resources} resource(s) applied "
                   f"by terraform from {done.aws_stack}")
        click.echo("  second terraform plan: no changes (the sandbox matches the stack)")
        click.echo(f"  terraform state and logs: {done.work_dir}")
    for line in done.parameters:
        click.echo(f"  seeded ssm parameter {line}")
    for line in done.seeded:
        click.echo(f"  seeded for drills: {line}")
    for line in done.gcp:
        click.echo(f"  created (gcp, through google-cloud-kms) {line}")


@sandbox.command()
@click.argument("env")
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True)
@click.option("--synth-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("cdktf.out"), show_default=True,
              help="Where `keyplane synth` wrote the stacks.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write `terraform show -json` of the plan (atomically).")
@click.option("--endpoint-url", help="Default: the running sandbox's.")
@click.option("--state-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Default: $KEYPLANE_SANDBOX_STATE or .keyplane/sandbox.json.")
def plan(env: str, environments_dir: Path, synth_dir: Path, output: Path,
         endpoint_url: str | None, state_file: Path | None) -> None:
    """Plan ENV's AWS stack with real Terraform against the sandbox and write the plan JSON
    (`terraform show -json`), the input `keyplane check` reads in a pull request."""
    set_format("text")
    import json

    from keyplane.model.specs import Cloud
    from keyplane.output import write_atomic
    from keyplane.sandbox.stack_apply import plan_aws_stack

    work_root, endpoint_url, _, sandbox_id = _target(state_file, endpoint_url, None,
                                                     need_gcp=False)
    environment = load_targets([env], environments_dir).environments[0]
    if environment.aws is None or not environment.keys_on(Cloud.AWS) or not endpoint_url:
        raise HookSetupError(f"environment '{environment.name}' has no aws stack to plan",
                             code=SANDBOX_FAILED)
    click.echo(f"keyplane sandbox plan {environment.name} ({PLAYGROUND})", err=True)
    doc, done = plan_aws_stack(
        environment, synth_dir=synth_dir, work_root=work_root, aws_endpoint=endpoint_url,
        sandbox_id=sandbox_id, progress=lambda step: click.echo(f"  .. {step}", err=True))
    write_atomic(output, json.dumps(doc, indent=1) + "\n")
    changes = doc.get("resource_changes") or []
    click.echo(f"  {len(changes)} resource change(s) planned by terraform "
               f"{doc.get('terraform_version')} -> {output}", err=True)
    click.echo(f"  terraform logs: {done.work_dir}", err=True)
