"""How errors reach a terminal: each problem once, located, then a summary only if it adds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import BASE_ENV, REPO, write_env


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_one_problem_is_printed_once(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text("Terraform will perform the following actions:\n")
    res = _run("check", str(bad))
    assert res.returncode == 2
    assert res.stderr.splitlines() == [
        f"{bad}:1:1: KP502 not valid json: expecting value; the gate fails closed"]


def test_several_problems_end_with_their_summary(env_dir: Path) -> None:
    text = BASE_ENV.replace("tier: production\n    cloud: aws\n    usage: encrypt",
                            "tier: gold\n    cloud: aws\n    usage: encrypt", 1)
    path = write_env(env_dir, text.replace("region: us-east-1", "region: mars-1", 1))
    res = _run("validate", "-d", str(env_dir))
    lines = res.stderr.splitlines()
    assert res.returncode == 2 and len(lines) == 3
    assert [line.split(": ")[1].split()[0] for line in lines[:2]] == ["KP104", "KP104"]
    assert lines[2] == f"keyplane: 2 problem(s) in {path}"
