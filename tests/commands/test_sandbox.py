"""`keyplane sandbox up --background | plan | apply | down`, through the real entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_ENVIRONMENTS, REPO, Synthesized

pytestmark = pytest.mark.integration


def keyplane(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=600, env=env)


def _env(state: Path) -> dict[str, str]:
    env = {**os.environ, "KEYPLANE_SANDBOX_STATE": str(state)}
    env.pop("AWS_ACCESS_KEY_ID", None)
    return env


def _needs_terraform() -> None:
    from keyplane.sandbox.terraform import find_plugin_dir

    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH (install terraform >= 1.10)")
    if find_plugin_dir() is None:
        pytest.skip("no hashicorp/aws provider mirror ($KEYPLANE_TF_PLUGIN_DIR or /opt/tf-plugins)")


def test_background_sandbox_plan_apply_post_apply_down(
        tmp_path: Path, synthesized_estate: Synthesized) -> None:
    _needs_terraform()
    state = tmp_path / "sandbox.json"
    env = _env(state)
    synth = str(synthesized_estate.out)
    up = keyplane("sandbox", "up", "--background", env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert "local playground, not a deploy" in up.stdout
        data = json.loads(state.read_text())
        assert data["aws_endpoint"].startswith("http://127.0.0.1:")
        assert data["gcp_endpoint"].startswith("127.0.0.1:")
        plan = keyplane("sandbox", "plan", "dev", "-d", str(EXAMPLE_ENVIRONMENTS), "--synth-dir",
                        synth, "--output", str(tmp_path / "plan.json"), env=env)
        assert plan.returncode == 0, plan.stderr
        doc = json.loads((tmp_path / "plan.json").read_text())
        assert {tuple(rc["change"]["actions"]) for rc in doc["resource_changes"]} == {("create",)}
        gate = keyplane("check", str(tmp_path / "plan.json"), env=env)
        assert gate.returncode == 0, gate.stdout + gate.stderr
        applied = keyplane("sandbox", "apply", "dev", "-d", str(EXAMPLE_ENVIRONMENTS),
                           "--synth-dir", synth, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        resources = sum(len(v) for v in json.loads(
            (synthesized_estate.out / "stacks" / "dev-aws" / "cdk.tf.json").read_text())[
                "resource"].values())
        assert f"dev-aws: {resources} resource(s) applied by terraform" in applied.stdout
        assert "second terraform plan: no changes" in applied.stdout
        again = keyplane("sandbox", "apply", "dev", "-d", str(EXAMPLE_ENVIRONMENTS),
                         "--synth-dir", synth, env=env)  # same sandbox, same state: no change
        assert again.returncode == 0, again.stdout + again.stderr
        post = keyplane("post-apply", "dev", "-d", str(EXAMPLE_ENVIRONMENTS), "--sandbox",
                        "--synth-dir", synth, env=env)
        assert post.returncode == 0, post.stdout + post.stderr
        assert post.stdout.startswith("post-apply dev: CLEAN")
        up_again = keyplane("sandbox", "up", "--background", env=env)
        assert up_again.returncode == 2 and "KP606" in up_again.stderr
    finally:
        down = keyplane("sandbox", "down", env=env)
    assert down.returncode == 0 and not state.exists()


def test_fails_to_apply_without_a_running_sandbox(tmp_path: Path) -> None:
    env = _env(tmp_path / "none.json")
    res = keyplane("sandbox", "apply", "dev", "-d", str(EXAMPLE_ENVIRONMENTS), env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == (f"keyplane: error KP606: no sandbox state at {tmp_path}/none.json;"
                                  " start one with `keyplane sandbox up --background`")


def test_down_with_nothing_running_is_not_an_error(tmp_path: Path) -> None:
    res = keyplane("sandbox", "down", "--state-file", str(tmp_path / "none.json"),
                   env=_env(tmp_path / "other.json"))
    assert (res.returncode, res.stdout.strip()) == (
        0, f"keyplane sandbox: none running (no state file at {tmp_path}/none.json)")


def test_a_dead_sandbox_is_a_coded_error_for_every_command_that_reads_it(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(gone.stdout)
    state = tmp_path / "custom.json"
    state.write_text(json.dumps({"aws_endpoint": "http://127.0.0.1:9", "gcp_endpoint":
                                 "127.0.0.1:9", "pid": pid}))
    env = _env(tmp_path / "default.json")
    want = (f"keyplane: error KP606: the sandbox of {state} is not running (pid {pid} is gone); "
            f"start it with `keyplane sandbox up --background --state-file {state}`")
    for args in (("post-apply", "prod"), ("drill", "prod", "--kind", "sign-canary")):
        res = keyplane(*args, "-d", str(EXAMPLE_ENVIRONMENTS), "--sandbox", "--state-file",
                       str(state), env=env)
        assert (res.returncode, res.stderr.strip()) == (2, want), res.stderr
    down = keyplane("sandbox", "down", "--state-file", str(state), env=env)
    assert down.returncode == 0 and "was not running" in down.stdout and not state.exists()


def test_apply_without_terraform_names_what_to_install(tmp_path: Path,
                                                        synthesized_estate: Synthesized) -> None:
    env = _env(tmp_path / "sandbox.json")
    env["PATH"] = str(Path(sys.executable).parent)  # python and keyplane, no terraform
    env.pop("KEYPLANE_TERRAFORM", None)
    up = keyplane("sandbox", "up", "--background", env=env)
    try:
        assert up.returncode == 0, up.stderr
        res = keyplane("sandbox", "apply", "dev", "-d", str(EXAMPLE_ENVIRONMENTS), "--synth-dir",
                       str(synthesized_estate.out), env=env)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert "KP606" in res.stderr and "terraform is not on PATH" in res.stderr
    finally:
        keyplane("sandbox", "down", env=env)


def test_a_missing_custom_state_file_names_itself_in_the_fix(tmp_path: Path) -> None:
    state = tmp_path / "mine.json"
    res = keyplane("post-apply", "prod", "-d", str(EXAMPLE_ENVIRONMENTS), "--sandbox",
                   "--state-file", str(state), env=_env(tmp_path / "default.json"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        f"keyplane: error KP606: no sandbox state at {state}: no sandbox was started with "
        f"`--state-file {state}`; start one with `keyplane sandbox up --background --state-file "
        f"{state}`, or drop --state-file to use the default sandbox")
