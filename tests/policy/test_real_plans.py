"""The gate on plans made by real Terraform, not by keyplane.

`fixtures/plans/real/<stack>.plan.json` is `terraform show -json` of a real `terraform plan`
(Terraform 1.11, hashicorp/aws 5.100.0 from the mirror) of the example estate's AWS stacks,
made by `scripts/regenerate_real_plans.py` against the local sandbox. These tests run on
every machine, Terraform or not, so the gate is always tested on the real format: every
create, every "known after apply", the configuration block as Terraform writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyplane.policy.api import check
from keyplane.policy.model import Status
from tests.conftest import Synthesized

REAL = Path(__file__).parent / "fixtures" / "plans" / "real"
STACKS = sorted(p.name.removesuffix(".plan.json") for p in REAL.glob("*.plan.json"))


def _plan(stack: str) -> dict:
    return json.loads((REAL / f"{stack}.plan.json").read_text(encoding="utf-8"))


def test_the_fixtures_are_real_terraform_plans_of_the_example_stacks() -> None:
    # staging-aws: version skew with 5.100 (README)
    assert STACKS == ["dev-aws", "prod-aws", "prod-aws-hsm"]
    for stack in STACKS:
        plan = _plan(stack)
        assert plan["format_version"] == "1.2" and plan["terraform_version"].startswith("1.")
        assert plan["configuration"]["provider_config"]["aws"]["full_name"] == \
            "registry.terraform.io/hashicorp/aws"
        actions = {tuple(rc["change"]["actions"]) for rc in plan["resource_changes"]}
        assert actions == {("create",)}  # a new environment's first pull request
        # what makes the gate's job hard is there: values known only after apply
        assert any(rc["change"]["after_unknown"].get("cluster_id" if stack.endswith("-hsm")
                                                      else "arn")
                   for rc in plan["resource_changes"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_gate_passes_the_real_plan_of_the_example_estate(stack: str) -> None:
    report = check([REAL / f"{stack}.plan.json"])
    statuses = {f.status for f in report.findings}
    failing = [(f.rule_id, f.address, f.reason) for f in report.findings if f.gate]
    assert failing == []
    assert Status.UNKNOWN not in statuses  # what the configuration decides is not unknown
    # the cluster's stack is small: the cluster and its two hsms
    assert sum(f.status is Status.PASS for f in report.findings) > (
        5 if stack.endswith("-hsm") else 100)
    kms = {f.address for f in report.findings if f.rule_id == "aws_kms_key_rotation_enabled"}
    assert kms >= {rc["address"] for rc in _plan(stack)["resource_changes"]
                   if rc["type"] == "aws_kms_key"}


@pytest.mark.parametrize("stack", STACKS)
def test_plan_and_synth_of_a_stack_judge_each_resource_alike(
        stack: str, synthesized_estate: Synthesized) -> None:
    synth = synthesized_estate.out / "stacks" / stack / "cdk.tf.json"
    assert synthesized_estate.exit_code == 0, synthesized_estate.stderr[-2000:]

    from keyplane.policy.registry import discover

    both = {r for r, rule in discover().items() if {"plan", "synth"} <= rule.inputs}

    def outcomes(path: Path) -> dict[tuple[str, str], str]:
        # rules that read only one format (prevent_destroy is not in plan JSON) are left out
        return {(f.rule_id, f.address): f.status.value for f in check([path]).findings
                if f.rule_id in both}

    from_plan, from_synth = outcomes(REAL / f"{stack}.plan.json"), outcomes(synth)
    # the fixture is current: regenerate it (scripts/regenerate_real_plans.py) when the
    # constructs change what a stack holds
    assert {a for _, a in from_plan} == {a for _, a in from_synth}
    differ = {k: (from_plan.get(k), v) for k, v in from_synth.items()
              if from_plan.get(k) != v and v != "NOT_APPLICABLE"}
    assert differ == {}


EXCERPTS = Path(__file__).parent / "fixtures" / "plans" / "real_excerpts"
# One resource change cut from a real plan of an earlier prod-aws (Terraform 1.11, hashicorp/aws
# 5.100.0), when the custom key store was a Terraform resource reading the kmsuser password
# from SSM: the password is in the plan file, and would be in state.
KEY_STORE_EXCERPT = EXCERPTS / "prod-aws-key-store.plan.json"


def test_no_real_plan_of_the_example_estate_carries_the_kmsuser_password() -> None:
    for stack in STACKS:
        text = (REAL / f"{stack}.plan.json").read_text(encoding="utf-8")
        plan = json.loads(text)
        assert not [rc for rc in plan["resource_changes"]
                    if rc["type"] == "aws_kms_custom_key_store"]
        assert "kmsuser" not in text and "aws_ssm_parameter" not in text
    # the ca keys find the store connected by `keyplane keystore connect`, known at plan time
    prod = _plan("prod-aws")
    ca = [rc["change"]["after"]["custom_key_store_id"] for rc in prod["resource_changes"]
          if rc["type"] == "aws_kms_key" and rc["change"]["after"].get("custom_key_store_id")]
    assert ca and all(v.startswith("cks-") for v in ca)
    reads = [r["address"] for r in prod["prior_state"]["values"]["root_module"]["resources"]]
    assert reads == [a for a in reads if a.startswith("data.aws_kms_custom_key_store.")] != []
    hsm = _plan("prod-aws-hsm")
    assert sorted({rc["type"] for rc in hsm["resource_changes"]}) == [
        "aws_cloudhsm_v2_cluster", "aws_cloudhsm_v2_hsm"]


def test_the_gate_fails_a_key_store_resource_that_takes_the_password() -> None:
    report = check([KEY_STORE_EXCERPT])
    failing = {(f.rule_id, f.severity.value) for f in report.findings if f.gate}
    assert failing == {("no_secret_in_state", "critical")}


def test_sensitive_values_of_the_real_plan_never_reach_a_report(tmp_path: Path) -> None:
    from keyplane.reporters import renderer

    plan = json.loads(KEY_STORE_EXCERPT.read_text(encoding="utf-8"))
    secret_paths = [rc for rc in plan["resource_changes"]
                    if rc["type"] == "aws_kms_custom_key_store"]
    assert secret_paths and secret_paths[0]["change"]["after_sensitive"].get(
        "key_store_password") is True
    secret = secret_paths[0]["change"]["after"].get("key_store_password")
    report = check([KEY_STORE_EXCERPT])
    for fmt in ("text", "json", "sarif", "markdown", "junit"):
        out = renderer(fmt)(report)
        assert isinstance(secret, str) and len(secret) >= 7
        assert secret not in out
