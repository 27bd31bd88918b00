"""`keyplane synth` end to end: stacks and manifest written, bad inventory refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BASE_ENV, EXAMPLE_ENVIRONMENTS, REPO, Synthesized, write_env


def run(*args: str, cwd: Path = REPO) -> tuple[int, str, str]:
    """The real entry point in a subprocess (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def synthesized(synthesized_estate: Synthesized) -> tuple[Path, int, str, str]:
    """The session's synthesized example estate, as (out, exit code, stdout, stderr)."""
    s = synthesized_estate
    return s.out, s.exit_code, s.stdout, s.stderr


@pytest.mark.synth
def test_synth_writes_every_stack_and_the_manifest(synthesized) -> None:
    out, code, stdout, stderr = synthesized
    assert code == 0, stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == ["dev-aws", "dev-gcp", "prod-aws", "prod-aws-drill",
                                          "prod-aws-hsm", "prod-gcp", "staging-aws",
                                          "staging-aws-drill", "staging-gcp"]
    for env in ("dev", "prod", "staging"):
        aws = json.loads((out / "stacks" / f"{env}-aws" / "cdk.tf.json").read_text())
        gcp = json.loads((out / "stacks" / f"{env}-gcp" / "cdk.tf.json").read_text())
        assert aws["//"]["metadata"]["stackName"] == f"{env}-aws"
        # one cloud per stack: an AWS plan needs neither GCP credentials nor its provider
        assert {t.split("_")[0] for t in aws["resource"]} == {"aws"}
        assert {t.split("_")[0] for t in gcp["resource"]} == {"google"}
        assert list(aws["terraform"]["required_providers"]) == ["aws"]
        assert list(gcp["terraform"]["required_providers"]) == ["google"]
        assert f"{env}-aws: " in stdout and f"{env}-gcp: " in stdout
    assert "Traceback" not in stderr


@pytest.mark.synth
def test_synth_selects_environments(tmp_path: Path) -> None:
    envs = tmp_path / "environments"
    envs.mkdir()
    dev = (EXAMPLE_ENVIRONMENTS / "dev.yaml").read_text()
    entry = ("  - name: per-deploy-data\n    tier: ephemeral\n"
             "    owner: ci-platform@acme.example\n    cloud: gcp\n"
             "    usage: encrypt\n    users: [ci-runner]\n    rotation_period_in_days: 7\n")
    assert entry in dev  # dev's only gcp key: without it dev has no gcp stack
    dev = dev.replace(entry, "")
    (envs / "dev.yaml").write_text(dev)
    (envs / "staging.yaml").write_text((EXAMPLE_ENVIRONMENTS / "staging.yaml").read_text())
    out = tmp_path / "not" / "yet" / "out"  # parents that do not exist are made
    code, stdout, stderr = run("synth", "dev", "--out-dir", str(out), "-d", str(envs),
                               "--format", "json")
    assert code == 0, stderr[-3000:]
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == ["dev-aws"]
    written = json.loads(stdout)  # stdout is the JSON document alone; progress is on stderr
    assert written["stacks"] == [{"stack": "dev-aws", "path": str(out / "stacks" / "dev-aws" /
                                                                  "cdk.tf.json"),
                                  "resources": written["stacks"][0]["resources"]}]
    assert written["stacks"][0]["resources"] > 10
    # not a terminal: one plain line per step, for CI logs
    assert stderr.splitlines()[:3] == [
        "keyplane: starting CDK Terrain (Node and the provider bindings)",
        "keyplane: building the stacks of 1 environment(s)", "  built dev-aws"]
    code, _, quiet = run("synth", "dev", "--out-dir", str(out), "-d", str(envs), "--quiet")
    assert (code, quiet) == (0, "")


def test_fails_invalid_inventory_exits_2_with_located_problems(env_dir: Path,
                                                               tmp_path: Path) -> None:
    write_env(env_dir, BASE_ENV.replace("tier: production\n    cloud: aws\n    usage: encrypt",
                                        "tier: gold\n    cloud: aws\n    usage: encrypt", 1))
    out = tmp_path / "out"
    code, _stdout, stderr = run("synth", "--out-dir", str(out), "-d", str(env_dir))
    assert code == 2
    assert "prod.yaml:" in stderr and "KP104" in stderr and "tier must be one of" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_fails_unknown_environment(env_dir: Path) -> None:
    write_env(env_dir, BASE_ENV)
    code, _, stderr = run("synth", "nope", "-d", str(env_dir))
    assert code == 2
    assert "keyplane: error KP003: unknown environment 'nope'" in stderr


@pytest.mark.synth
def test_synthesized_estate_passes_keyplanes_own_gate(synthesized) -> None:
    out, code, _, stderr = synthesized
    assert code == 0, stderr[-3000:]
    gate, stdout, stderr = run("check", str(out), "--format", "json", "--fail-level", "low")
    report = json.loads(stdout)
    failing = [f for f in report["findings"] if f["status"] in ("FAIL", "ERROR", "UNKNOWN")]
    assert failing == []
    assert gate == 0, stderr


def test_fails_an_out_dir_that_cannot_be_made_before_node_starts(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, stdout, stderr = run("synth", "dev", "--out-dir", str(blocker / "out"), "-d",
                               str(EXAMPLE_ENVIRONMENTS))
    assert code == 2 and stdout == "" and "Traceback" not in stderr
    assert f"keyplane: error KP002: cannot create --out-dir {blocker / 'out'}" in stderr
    assert "starting CDK Terrain" not in stderr
