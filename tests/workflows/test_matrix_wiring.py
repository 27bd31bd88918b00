"""The CI templates take their stacks and drills from `keyplane matrix`, never from a list in
the YAML: the wiring (outputs, needs, empty matrices), and the step scripts themselves, run
in bash with the real keyplane and fakes of `aws` (and of `keyplane drill`) on PATH."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import EXAMPLE_ENVIRONMENTS, REPO
from tests.estate.support import at, drill_with_the_runner, example_estate, write_estate

WORKFLOWS = REPO / ".github" / "workflows"
NAMES = ["keyplane-pr.yml", "keyplane-drift.yml", "keyplane-drill.yml"]
PURPOSE = {"keyplane-pr.yml": "pr", "keyplane-drift.yml": "drift", "keyplane-drill.yml": "drill"}
VENV_BIN = Path(sys.executable).parent

needs_tools = pytest.mark.skipif(
    shutil.which("jq") is None or shutil.which("bash") is None
    or not (VENV_BIN / "keyplane").exists(),
    reason="the step scripts need bash, jq and the keyplane console script")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((WORKFLOWS / name).read_text())
    return data


def step(name: str, job: str, ident: str) -> dict[str, Any]:
    """The step of `job` whose id or name is `ident`."""
    found: dict[str, Any] = next(s for s in load(name)["jobs"][job]["steps"]
                                 if ident in (s.get("id"), s.get("name")))
    return found


def strings(value: Any) -> list[str]:
    """Every string inside a parsed YAML value (keys and values)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def run_step(name: str, job: str, ident: str, cwd: Path, env: dict[str, str],
             fake_bin: Path | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                     dict[str, str], str]:
    """Run one step's script as GitHub runs it (`bash -e`), with its environment variables
    given here (the values its `${{ }}` expressions would have): (process, step outputs,
    job summary)."""
    script = cwd / f".step-{ident.replace(' ', '-')}.sh"
    script.write_text(step(name, job, ident)["run"], encoding="utf-8")
    outputs, summary = cwd / ".github-output", cwd / ".step-summary"
    outputs.write_text("", encoding="utf-8")
    summary.write_text("", encoding="utf-8")
    path = [str(fake_bin)] if fake_bin else []
    path += [str(VENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]
    proc = subprocess.run(["bash", "-e", str(script)], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300, env={
                              "PATH": os.pathsep.join(path), "HOME": str(cwd),
                              "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary),
                              "KEYPLANE_AUDIT_LOG": str(cwd / "audit.jsonl"), **env})
    pairs = [line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines()]
    return proc, {k: v for k, v in pairs}, summary.read_text(encoding="utf-8")


def workspace(tmp_path: Path, environments: Path = EXAMPLE_ENVIRONMENTS) -> Path:
    """A checkout as a job sees it: environments/ at the root."""
    shutil.copytree(environments, tmp_path / "environments")
    return tmp_path


def fake(bin_dir: Path, name: str, script: str) -> None:
    """An executable `name` in `bin_dir` running `script` (bash)."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + script, encoding="utf-8")
    path.chmod(0o755)


# ---- the YAML ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_no_estate_is_written_into_the_workflows(name: str) -> None:
    jobs = load(name)["jobs"]
    names = {e.name for e in example_estate()}
    values = strings(jobs)
    for value in values:
        # whole words (not a piece of a path such as /dev/null), and stacks such as prod-aws
        words = set(re.findall(r"(?<![\w./-])[a-z0-9]+(?:-[a-z0-9]+)*(?![\w./-])", value))
        named = names | {f"{n}-{c}" for n in names for c in ("aws", "gcp")}
        assert not words & named, f"{name}: an environment is named in {value!r}"
        assert not re.search(r"\b[a-z]{2}-[a-z]+-[0-9]\b", value), f"{name}: a Region in {value!r}"
        assert not re.search(r"\b[0-9]{12}\b", value), f"{name}: an account in {value!r}"
    for job in jobs.values():
        if "strategy" in job:
            assert isinstance(job["strategy"]["matrix"], str), "a hand-written matrix"
            assert job["strategy"]["matrix"].startswith("${{ fromJSON(needs.")
    aws_regions = [s["with"]["aws-region"] for j in jobs.values() for s in j.get("steps", [])
                   if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")]
    assert aws_regions and all(r.startswith("${{ ") for r in aws_regions)


@pytest.mark.parametrize("name", NAMES)
def test_no_expression_is_expanded_inside_a_script(name: str) -> None:
    # matrix values come from the inventory, inputs from whoever dispatches: they reach the
    # shell as environment variables, never spliced into its text
    for job in load(name)["jobs"].values():
        for s in job.get("steps", []):
            assert "${{" not in s.get("run", ""), s.get("name") or s.get("id")


@pytest.mark.parametrize("name", NAMES)
def test_every_fan_out_reads_its_matrix_job_and_is_skipped_when_it_is_empty(name: str) -> None:
    jobs = load(name)["jobs"]
    fan_outs = {n: j for n, j in jobs.items() if "strategy" in j}
    assert len(fan_outs) == 1
    ((job_name, job),) = fan_outs.items()
    source = job["needs"]
    assert job["strategy"]["matrix"] == f"${{{{ fromJSON(needs.{source}.outputs.matrix) }}}}"
    assert job["if"] == f"needs.{source}.outputs.jobs != '0'"
    assert jobs[source]["outputs"] == {"matrix": "${{ steps.matrix.outputs.matrix }}",
                                       "jobs": "${{ steps.matrix.outputs.jobs }}"}
    assert f"keyplane matrix --for {PURPOSE[name]} " in step(name, source, "matrix")["run"]
    assert job_name != source


# ---- the matrix step --------------------------------------------------------------------------

@needs_tools
@pytest.mark.parametrize("name", ["keyplane-pr.yml", "keyplane-drift.yml"])
def test_the_matrix_step_publishes_the_matrix_and_its_size(name: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from keyplane.cli import cli

    job = next(iter(load(name)["jobs"]))
    proc, outputs, summary = run_step(name, job, "matrix", workspace(tmp_path), {})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = CliRunner().invoke(cli, ["matrix", "--for", PURPOSE[name], "-d",
                                        str(EXAMPLE_ENVIRONMENTS)]).output
    assert json.loads(outputs["matrix"]) == json.loads(expected)
    assert outputs["jobs"] == str(len(json.loads(expected)["include"])) == "6"
    assert summary.startswith(f"### keyplane matrix --for {PURPOSE[name]}\n")


@needs_tools
def test_the_matrix_step_stops_an_estate_too_large_for_one_matrix(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_estate(root / "environments", 130)  # 260 stacks
    proc, outputs, _ = run_step("keyplane-pr.yml", "matrix", "matrix", root, {})
    assert proc.returncode == 1
    assert "::error::more than 256 stacks do not fit one matrix; split this workflow into " \
           "shards (docs/ci.md)" in proc.stdout
    assert "matrix" not in outputs


# ---- the drill workflow's plan job ----------------------------------------------------------

FAKE_AWS = """\
cat > /dev/null  # what a command that reads stdin would do inside the step's loop
echo "$*" >> "$FAKE_LOG"
[ "$1 $2" = "s3 sync" ] || exit 2
src="${3#s3://}"
mkdir -p "$4"
for f in "$FAKE_S3/$src"*.json; do
  if [ -e "$f" ]; then cp "$f" "$4"; fi
done
"""


@pytest.fixture
def plan_job(tmp_path: Path) -> dict[str, Any]:
    """A checkout with the example estate, a fake S3 holding yesterday's prod drills (written
    by keyplane's drill runner), and a fake `aws` that syncs from it."""
    root = workspace(tmp_path / "ws")
    s3 = tmp_path / "s3"
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    prod = next(e for e in example_estate() if e.name == "prod")
    drill_with_the_runner(prod, tmp_path / "written", at(yesterday))
    bucket = s3 / "acme-keyplane-evidence-prod" / "drills"
    shutil.copytree(tmp_path / "written" / "prod", bucket)
    fake(tmp_path / "bin", "aws", FAKE_AWS)
    env = {"FAKE_S3": str(s3), "FAKE_LOG": str(tmp_path / "aws.log"),
           "INPUT_ENV": "", "INPUT_TIER": "", "INPUT_ALL": "",
           "EVIDENCE_ROLE": "arn:aws:iam::999999999999:role/evidence-reader"}
    return {"root": root, "bin": tmp_path / "bin", "env": env, "log": tmp_path / "aws.log"}


def run_plan(plan: dict[str, Any], **env: str) -> tuple[subprocess.CompletedProcess[str],
                                                         dict[str, str], str]:
    """The plan job's steps in order, stopping at the first that fails."""
    outputs: dict[str, str] = {}
    for ident in ("Check the inputs", "scheduled", "Fetch the drill evidence", "matrix"):
        proc, out, summary = run_step("keyplane-drill.yml", "plan", ident, plan["root"],
                                      {**plan["env"], **env}, plan["bin"])
        outputs.update(out)
        if proc.returncode != 0:
            return proc, outputs, summary
    return proc, outputs, summary


@needs_tools
def test_the_plan_job_reads_the_evidence_and_lists_only_the_drills_due(
        plan_job: dict[str, Any]) -> None:
    proc, outputs, summary = run_plan(plan_job)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["s3"] == "2" and outputs["aws_region"] == "eu-west-1"
    log = plan_job["log"].read_text(encoding="utf-8").splitlines()
    assert log == [
        f"s3 sync s3://acme-keyplane-evidence-{loc} evidence/{env}/ --exclude * --include "
        "*.json --exclude */* --only-show-errors"
        for env, loc in (("prod", "prod/drills/"), ("staging", "nonprod/staging/"))]
    matrix = json.loads(outputs["matrix"])
    # prod drilled yesterday: not due; staging has no evidence; dev's is on the runner's disk
    assert [e["stack"] for e in matrix["include"]] == ["dev-aws", "staging-aws", "staging-gcp"]
    assert outputs["jobs"] == "3"
    assert all(d["due"] and d["reason"] == "no drill recorded"
               for e in matrix["include"] for d in e["drills"])
    assert "**due**: escrow partner-test-signing (non-production): no drill recorded" in summary


@needs_tools
def test_a_manual_run_can_drill_one_tier_of_one_environment_due_or_not(
        plan_job: dict[str, Any]) -> None:
    proc, outputs, _ = run_plan(plan_job, INPUT_ENV="prod", INPUT_TIER="ca", INPUT_ALL="true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (entry,) = json.loads(outputs["matrix"])["include"]
    assert entry["stack"] == "prod-aws"
    assert [(d["kind"], d["key"], d["due"]) for d in entry["drills"]] == [
        ("sign-canary", "pki-root-ca", False), ("sign-canary", "pki-issuing-ca", False),
        ("cloudhsm", None, False)]


@needs_tools
def test_the_plan_job_refuses_to_guess_without_the_evidence_role(
        plan_job: dict[str, Any]) -> None:
    proc, outputs, _ = run_plan(plan_job, EVIDENCE_ROLE="")
    assert proc.returncode == 1
    assert "::error::prod keeps its drill evidence at s3://acme-keyplane-evidence-prod/drills/: " \
           "set KEYPLANE_AWS_EVIDENCE_ROLE_ARN" in proc.stdout
    assert "matrix" not in outputs


@needs_tools
@pytest.mark.parametrize("value", ["-dfoo", "--help", "prod staging", "Prod", "a" * 64])
def test_the_environment_input_must_be_a_name(plan_job: dict[str, Any], value: str) -> None:
    proc, _, _ = run_plan(plan_job, INPUT_ENV=value)
    assert proc.returncode == 1
    assert "::error::the environment input must be an environment name" in proc.stdout
    assert not plan_job["log"].exists()  # stopped before anything was read


# ---- the drill step -------------------------------------------------------------------------

FAKE_KEYPLANE = """\
cat > /dev/null  # what a command that reads stdin would do inside the step's loop
echo "$*" >> "$FAKE_LOG"
for a in "$@"; do if [ "$a" = "--history" ]; then echo "history"; exit 0; fi; done
kind=""; key="cluster"
while [ $# -gt 0 ]; do
  case "$1" in --kind) kind="$2"; shift ;; --key) key="$2"; shift ;; esac
  shift
done
code=0
if [ -f "$FAKE_EXITS/$kind-$key" ]; then code=$(cat "$FAKE_EXITS/$kind-$key"); fi
exit "$code"
"""

DRILLS = [{"kind": "sign-canary", "key": "code-signing", "tier": "production", "due": True},
          {"kind": "replica", "key": "code-signing", "tier": "production", "due": True},
          {"kind": "cloudhsm", "key": None, "tier": "ca", "due": True},
          {"kind": "backup", "key": "ca database", "tier": "production", "due": True}]


@needs_tools
@pytest.mark.parametrize(("exits", "status"), [
    ({}, "0"), ({"replica-code-signing": 3}, "3"),
    ({"replica-code-signing": 3, "cloudhsm-cluster": 1}, "1"),
    ({"sign-canary-code-signing": 1, "backup-ca database": 2}, "2"),
    ({"cloudhsm-cluster": 70, "replica-code-signing": 1}, "70"),
])
def test_the_drill_step_runs_each_listed_drill_and_reports_the_worst_exit(
        tmp_path: Path, exits: dict[str, int], status: str) -> None:
    exit_dir = tmp_path / "exits"
    exit_dir.mkdir()
    for target, code in exits.items():
        (exit_dir / target).write_text(str(code), encoding="utf-8")
    fake(tmp_path / "bin", "keyplane", FAKE_KEYPLANE)
    ws = tmp_path / "ws"
    ws.mkdir()
    proc, outputs, summary = run_step(
        "keyplane-drill.yml", "drill", "drill", ws,
        {"ENVIRONMENT": "prod", "STACK": "prod-aws", "DRILLS": json.dumps(DRILLS),
         "DRILL_PROFILE": "drill-account", "FAKE_LOG": str(tmp_path / "calls.log"),
         "FAKE_EXITS": str(exit_dir)}, tmp_path / "bin")
    assert proc.returncode == 0, proc.stderr  # the Result step decides, from the status
    assert outputs == {"status": status}
    assert (tmp_path / "calls.log").read_text(encoding="utf-8").splitlines() == [
        "drill prod --kind sign-canary --key code-signing --drill-profile drill-account "
        "--format json --output drills/drill-prod-aws-sign-canary-code-signing.json",
        "drill prod --kind replica --key code-signing --drill-profile drill-account "
        "--format json --output drills/drill-prod-aws-replica-code-signing.json",
        "drill prod --kind cloudhsm --drill-profile drill-account "
        "--format json --output drills/drill-prod-aws-cloudhsm-cluster.json",
        "drill prod --kind backup --key ca database --drill-profile drill-account "
        "--format json --output drills/drill-prod-aws-backup-ca_database.json",
        "drill prod --history --format markdown"]
    assert summary == "history\n"
