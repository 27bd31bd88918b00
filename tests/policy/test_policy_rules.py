"""Per-rule fixtures: resources named pass_*, fail_*, unknown_* get exactly that status."""

from __future__ import annotations

import pytest

from keyplane.policy.engine import run
from keyplane.policy.inputs import load_inputs
from keyplane.policy.model import Status
from keyplane.policy.packs import TABLE
from keyplane.policy.registry import discover
from tests.policy.policy_support import AS_OF, FIXTURES

RULE_FIXTURES = sorted((FIXTURES / "rules").glob("*.tf.json"))
PREFIX = {"pass_": Status.PASS, "fail_": Status.FAIL, "unknown_": Status.UNKNOWN}


def _rule_of(path_name: str) -> str:
    return path_name.removesuffix(".tf.json").split("__")[0]


@pytest.mark.parametrize("fixture", RULE_FIXTURES, ids=lambda p: p.name)
def test_rule_fixture_statuses(fixture):
    rule_id = _rule_of(fixture.name)
    loaded = load_inputs([fixture])
    findings = [f for f in run(loaded.resources, on=AS_OF, only=[rule_id])
                if f.rule_id == rule_id]
    by_name = {r.address: r.name for r in loaded.resources}
    for prefix, status in PREFIX.items():
        expected = {r.address for r in loaded.resources if r.name.startswith(prefix)}
        got = {f.address for f in findings if f.status is status}
        assert got == expected, f"{rule_id} {status}: {sorted(got ^ expected)}"
    assert not [f for f in findings if f.status is Status.ERROR]
    # helper resources (ctx_*, na_*) never pass, fail or stay unknown
    for f in findings:
        name = by_name[f.address]
        if not name.startswith(tuple(PREFIX)):
            assert f.status is Status.NOT_APPLICABLE, (f.address, f.status, f.reason)


def test_every_rule_has_fixtures_with_pass_and_fail():
    names: dict[str, set[str]] = {}
    for path in RULE_FIXTURES:
        for res in load_inputs([path]).resources:
            names.setdefault(_rule_of(path.name), set()).add(res.name.split("_")[0])
    names["lifecycle_destroy_blocked"] = {"pass", "fail"}  # a plan fixture, below
    assert set(names) == set(discover())
    for rule_id, prefixes in names.items():
        assert {"pass", "fail"} <= prefixes, rule_id


def test_lifecycle_destroy_blocked_plan_fixture():
    loaded = load_inputs([FIXTURES / "plans" / "destroy.plan.json"])
    findings = run(loaded.resources, on=AS_OF, only=["lifecycle_destroy_blocked"])
    failed = {f.address for f in findings if f.status is Status.FAIL}
    passed = {f.address for f in findings if f.status is Status.PASS}
    assert failed == {r.address for r in loaded.resources if ".fail_" in r.address}
    assert passed == {"aws_kms_key.pass_noop", "aws_kms_key.pass_update",
                      "aws_kms_key.pass_create"}


def test_empty_synth_input_yields_no_findings(tmp_path):
    empty = tmp_path / "cdk.tf.json"
    empty.write_text('{"terraform": {}, "resource": {}}')
    assert run(load_inputs([empty]).resources, on=AS_OF) == []


def test_empty_plan_yields_no_findings():
    loaded = load_inputs([FIXTURES / "plans" / "empty.plan.json"])
    assert loaded.resources == []
    assert run(loaded.resources, on=AS_OF) == []


def test_every_rule_is_in_at_least_one_pack():
    for rule_id in discover():
        assert rule_id in TABLE and any(s is not None for s in TABLE[rule_id]), rule_id
