"""`keyplane sandbox up --background | apply | down`, through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_ENVIRONMENTS, REPO

pytestmark = pytest.mark.integration


def keyplane(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=180, env=env)


def test_background_sandbox_apply_post_apply_down(tmp_path: Path) -> None:
    import os

    state = tmp_path / "sandbox.json"
    env = {**os.environ, "KEYPLANE_SANDBOX_STATE": str(state)}
    env.pop("AWS_ACCESS_KEY_ID", None)
    up = keyplane("sandbox", "up", "--background", env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert "local playground, not a deploy" in up.stdout
        data = json.loads(state.read_text())
        assert data["aws_endpoint"].startswith("http://127.0.0.1:")
        assert data["gcp_endpoint"].startswith("127.0.0.1:")
        applied = keyplane("sandbox", "apply", "dev", "-d", str(EXAMPLE_ENVIRONMENTS), env=env)
        assert applied.returncode == 0, applied.stderr
        assert "created kms key ci-job-data" in applied.stdout
        post = keyplane("post-apply", "dev", "-d", str(EXAMPLE_ENVIRONMENTS), "--sandbox",
                        env=env)
        assert post.returncode == 0, post.stdout + post.stderr
        assert post.stdout.startswith("post-apply dev: CLEAN")
        again = keyplane("sandbox", "up", "--background", env=env)
        assert again.returncode == 2 and "KP606" in again.stderr
    finally:
        down = keyplane("sandbox", "down", env=env)
    assert down.returncode == 0 and not state.exists()


def test_fails_to_apply_without_a_running_sandbox(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "KEYPLANE_SANDBOX_STATE": str(tmp_path / "none.json")}
    res = keyplane("sandbox", "apply", "dev", "-d", str(EXAMPLE_ENVIRONMENTS), env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == (f"keyplane: error KP606: no sandbox state at {tmp_path}/none.json;"
                                  " start one with `keyplane sandbox up --background`")
