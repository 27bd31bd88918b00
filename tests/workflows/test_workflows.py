"""The CI templates users copy: every keyplane call exists with its options, actions are
pinned by commit, and clouds are reached through OIDC, never long-lived keys."""

from __future__ import annotations

import re
import shlex
from typing import Any

import click
import pytest
from ruamel.yaml import YAML

from keyplane.cli import cli
from tests.conftest import EXAMPLE_ENVIRONMENTS, REPO

WORKFLOWS = REPO / ".github" / "workflows"
NAMES = ["keyplane-pr.yml", "keyplane-drift.yml", "keyplane-drill.yml"]
SHA = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
_ARRAY = re.compile(r"^\s*(?:if .*then\s+)?(\w+)\+?=\((.*?)\)", re.M)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((WORKFLOWS / name).read_text())
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def keyplane_calls(script: str) -> list[tuple[str, set[str]]]:
    """(subcommand, options) of each `keyplane ...` line, options from arrays included."""
    arrays: dict[str, set[str]] = {}
    for m in _ARRAY.finditer(script):
        arrays.setdefault(m.group(1), set()).update(
            t for t in shlex.split(m.group(2)) if t.startswith("--"))
    calls = []
    for line in script.splitlines():
        line = line.strip()
        if not line.startswith("keyplane "):
            continue
        tokens = shlex.split(line.split(">>")[0].split(">")[0], posix=True)
        options = {t.split("=")[0] for t in tokens if t.startswith("--")}
        for name, opts in arrays.items():
            if f"${{{name}[@]}}" in line:
                options |= opts
        calls.append((tokens[1], options))
    return calls


def option_names(command: click.Command) -> set[str]:
    return {o for p in command.params if isinstance(p, click.Option) for o in p.opts}


@pytest.mark.parametrize("name", NAMES)
def test_keyplane_calls_exist_with_their_options(name: str) -> None:
    ctx = click.Context(cli)
    calls = [c for s in steps(load(name)) for c in keyplane_calls(s.get("run", ""))]
    assert calls, f"{name} calls no keyplane command"
    for sub, options in calls:
        command = cli.get_command(ctx, sub)
        assert command is not None, f"{name}: keyplane {sub} does not exist"
        unknown = options - option_names(command)
        assert not unknown, f"{name}: keyplane {sub} has no option {sorted(unknown)}"


def test_each_workflow_calls_what_its_job_needs() -> None:
    def subs(name: str) -> set[str]:
        return {c for s in steps(load(name)) for c, _ in keyplane_calls(s.get("run", ""))}

    assert {"synth", "check"} <= subs("keyplane-pr.yml")
    assert {"post-apply", "report"} <= subs("keyplane-drift.yml")
    assert "drill" in subs("keyplane-drill.yml")
    pr = " ".join(s.get("run", "") for s in steps(load("keyplane-pr.yml")))
    assert "terraform plan" in pr and "terraform show -json" in pr
    assert "--format sarif" in pr and "--format markdown" in pr
    uses = {s.get("uses", "").split("@")[0] for s in steps(load("keyplane-pr.yml"))}
    assert "github/codeql-action/upload-sarif" in uses


@pytest.mark.parametrize("name", NAMES)
def test_actions_are_pinned_by_commit(name: str) -> None:
    for step in steps(load(name)):
        if "uses" in step:
            assert SHA.match(step["uses"]), f"{name}: {step['uses']} is not pinned by commit"


@pytest.mark.parametrize("name", NAMES)
def test_clouds_are_reached_through_oidc_only(name: str) -> None:
    workflow = load(name)
    text = (WORKFLOWS / name).read_text()
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "credentials_json",
                      "AWS_SECRET_ACCESS_KEY"):
        assert forbidden not in text
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
        auth = [s for s in job.get("steps", [])
                if s.get("uses", "").startswith(("aws-actions/configure-aws-credentials",
                                                 "google-github-actions/auth"))]
        if auth:
            assert job["permissions"]["id-token"] == "write", job_name
            for step in auth:
                with_ = step["with"]
                assert "role-to-assume" in with_ or "workload_identity_provider" in with_


def test_drills_run_daily_and_keyplane_picks_what_each_tiers_cadence_makes_due() -> None:
    from keyplane.model.tiers import TIERS, Tier

    workflow = load("keyplane-drill.yml")
    (cron,) = [c["cron"] for c in workflow["on"]["schedule"]]
    # every day: a target drilled on the 15th is due 30 days later, not on the 1st
    assert cron.split()[2:] == ["*", "*", "*"]
    plan = " ".join(s.get("run", "") for s in workflow["jobs"]["plan"]["steps"])
    due = [opts for sub, opts in keyplane_calls(plan) if sub == "matrix" and "--today" in opts]
    assert due and all({"--for", "--evidence-dir"} <= opts for opts in due)
    assert "keyplane matrix --for drill" in plan
    assert workflow["jobs"]["drill"]["strategy"]["matrix"] == \
        "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert TIERS[Tier.PRODUCTION].drill_cadence_in_days == 30
    assert TIERS[Tier.CA].drill_cadence_in_days == TIERS[Tier.NON_PRODUCTION].drill_cadence_in_days == 90


def test_parser_sees_options_passed_through_arrays() -> None:
    script = ('waivers=()\n'
              'if [ -f w.yaml ]; then waivers=(--waivers w.yaml); fi\n'
              'keyplane check "${inputs[@]}" "${waivers[@]}" --format sarif --output x.sarif\n'
              'keyplane drill "$E" --history --format markdown >> "$GITHUB_STEP_SUMMARY"\n')
    assert keyplane_calls(script) == [
        ("check", {"--waivers", "--format", "--output"}),
        ("drill", {"--history", "--format"})]


@pytest.mark.parametrize(("name", "purpose"), [("keyplane-pr.yml", "pr"),
                                             ("keyplane-drift.yml", "drift")])
def test_one_job_per_stack_each_reaching_only_its_own_cloud(name: str, purpose: str) -> None:
    import json

    from click.testing import CliRunner

    from keyplane.model import load_estate
    from keyplane.model.specs import Cloud

    estate = load_estate(sorted(EXAMPLE_ENVIRONMENTS.glob("*.yaml")))
    stacks = {(e.name, c.value) for e in estate.environments for c in Cloud if e.keys_on(c)}
    first, job = load(name)["jobs"].values()
    script = " ".join(s.get("run", "") for s in first["steps"])
    assert f"keyplane matrix --for {purpose} " in script
    # the stacks are not listed in the workflow: its first job asks keyplane for them
    assert job["needs"] == "matrix"
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.matrix) }}"
    result = CliRunner().invoke(cli, ["matrix", "--for", purpose, "-d", str(EXAMPLE_ENVIRONMENTS)])
    assert result.exit_code == 0, result.output
    include = json.loads(result.output)["include"]
    assert {(m["environment"], m["cloud"]) for m in include} == stacks
    auth = {s["uses"].split("@")[0]: s.get("if") for s in job["steps"] if "uses" in s}
    assert auth["aws-actions/configure-aws-credentials"] == "matrix.cloud == 'aws'"
    assert auth["google-github-actions/auth"] == "matrix.cloud == 'gcp'"
