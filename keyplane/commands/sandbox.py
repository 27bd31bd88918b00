"""`keyplane sandbox up|down|apply|status`: the local playground the post-apply commands can read.

`up` starts moto's server (behind keyplane's fault-injecting front) and an
in-process Cloud KMS fake on 127.0.0.1, in the foreground or `--background`
(endpoints and pid in `.keyplane/sandbox.json`); `apply ENV` creates the
environment's expected state in it through the SDKs; `down` stops it. It is a
local playground and test bed, never a deploy.
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

from keyplane.hooks.errors import SANDBOX_FAILED, HookSetupError
from keyplane.model.loader import DEFAULT_DIR, environment_files, load_estate, resolve_targets
from keyplane.output import set_format

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
    state = SandboxState.read(path)
    if _alive(state.pid):
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _alive(state.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    path.unlink(missing_ok=True)
    click.echo(f"keyplane sandbox stopped (pid {state.pid})")


@sandbox.command()
@click.argument("env")
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True)
@click.option("--synth-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("cdktf.out"), show_default=True)
@click.option("--endpoint-url", help="Default: the running sandbox's.")
@click.option("--gcp-endpoint", help="Default: the running sandbox's.")
@click.option("--state-file", type=click.Path(path_type=Path, dir_okay=False), default=None)
def apply(env: str, environments_dir: Path, synth_dir: Path, endpoint_url: str | None,
          gcp_endpoint: str | None, state_file: Path | None) -> None:
    """Create ENV's expected state in the sandbox (a local playground, not a deploy)."""
    set_format("text")
    from keyplane.hooks.expected import expected_state
    from keyplane.hooks.synth import load_environment_stacks
    from keyplane.sandbox.apply import apply_state
    from keyplane.sandbox.state import SandboxState, state_path

    if not endpoint_url or not gcp_endpoint:
        state = SandboxState.read(state_path(state_file))
        endpoint_url = endpoint_url or state.aws_endpoint
        gcp_endpoint = gcp_endpoint or state.gcp_endpoint
    files = resolve_targets([env], environments_dir)
    scope = environment_files(environments_dir) if environments_dir.is_dir() else []
    environment = load_estate(files, isolation_scope=scope).environments[0]
    stack = load_environment_stacks(environment, synth_dir)
    expected = expected_state(environment, stack)
    try:
        done = apply_state(expected, aws_endpoint=endpoint_url, gcp_endpoint=gcp_endpoint)
    except HookSetupError:
        raise
    except Exception as exc:  # the SDK's own error: one line, no traceback
        raise HookSetupError(f"sandbox apply failed: {type(exc).__name__}: {exc}",
                             code=SANDBOX_FAILED) from None
    click.echo(f"keyplane sandbox apply {environment.name} ({PLAYGROUND})")
    click.echo(f"  expected state from {expected.source}")
    for line in done.aws + done.gcp:
        click.echo(f"  created {line}")
    click.echo(f"  {len(done.aws) + len(done.gcp)} resource(s) created")
