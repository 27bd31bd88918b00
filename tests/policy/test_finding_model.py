"""The gate on keyplane's one Finding model: one class, every rule's control, the fields each
finding carries, one place that decides the gate, and the JSON of schema 1 (with the names
schema 0 used kept beside it)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import keyplane.findings as one
import keyplane.policy.model as gate_model
from keyplane.cli import main
from keyplane.findings import Cloud, Control, Severity, Status
from keyplane.model.tiers import Tier
from keyplane.policy.api import check
from keyplane.policy.engine import gate_fails, regate, run
from keyplane.policy.inputs import load_inputs
from keyplane.policy.registry import discover
from tests.policy.policy_support import AS_OF, FIXTURES

PLAN = FIXTURES / "plans" / "destroy.plan.json"
TIERS = FIXTURES / "rules" / "inventory_tier_context_present.tf.json"

# The control each area proves; the areas that mix controls are listed per rule.
AREA_CONTROL = {"alarms": Control.AUDIT, "audit": Control.AUDIT, "backup": Control.BACKUP,
                "iam": Control.ACCESS, "keypolicy": Control.ACCESS,
                "inventory": Control.PROTECTION, "lifecycle": Control.PROTECTION,
                "secrets": Control.PROTECTION}
RULE_CONTROL = {
    "aws_kms_key_ca_custom_key_store": Control.PROTECTION,
    "aws_kms_key_deletion_window": Control.PROTECTION,
    "aws_kms_key_multi_region_replicas": Control.PROTECTION,
    "aws_kms_key_rotation_enabled": Control.ROTATION,
    "aws_kms_key_rotation_period": Control.ROTATION,
    "aws_kms_key_spec_allowed": Control.PROTECTION,
    "kms_key_generation_age": Control.PROTECTION,
    "gcp_kms_admin_user_separation": Control.ACCESS,
    "gcp_kms_algorithm_allowed": Control.PROTECTION,
    "gcp_kms_destroy_scheduled_duration": Control.PROTECTION,
    "gcp_kms_iam_no_public_or_primitive": Control.ACCESS,
    "gcp_kms_protection_level": Control.PROTECTION,
    "gcp_kms_rotation_period": Control.ROTATION,
}
LEGACY_KEYS = ("status", "message", "address", "fails_gate", "waived_by", "resource_type",
               "construct_path", "attribute", "source", "area")


def test_the_gate_has_no_finding_model_of_its_own():
    assert gate_model.Finding is one.Finding
    assert gate_model.Status is one.Status
    assert gate_model.Severity is one.Severity
    assert not hasattr(gate_model, "Outcome")
    verdict = gate_model.failed("r", "a.b")
    assert (type(verdict), verdict.status, verdict.reason, verdict.attribute) == (
        gate_model.Verdict, Status.FAIL, "r", "a.b")


def test_every_rule_declares_the_control_it_proves():
    rules = discover()
    assert set(RULE_CONTROL) <= set(rules)
    got = {rid: r.control for rid, r in rules.items()}
    want = {rid: RULE_CONTROL.get(rid) or AREA_CONTROL[r.area] for rid, r in rules.items()}
    assert got == want


def test_a_gate_finding_names_its_resource_control_cloud_environment_and_tier():
    findings = {(f.rule_id, f.resource): f for f in check([TIERS], on=AS_OF).findings}
    rotation = findings[("aws_kms_key_rotation_enabled", "aws_kms_key.pass_tagged")]
    assert (rotation.control, rotation.cloud, rotation.environment, rotation.tier) == (
        Control.ROTATION, Cloud.AWS, "prod", Tier.PRODUCTION)
    assert (rotation.address, rotation.resource_type, rotation.area) == (
        "aws_kms_key.pass_tagged", "aws_kms_key", "kms")
    assert rotation.source == str(TIERS)
    gcp = findings[("gcp_kms_rotation_period", "google_kms_crypto_key.pass_gcp")]
    assert (gcp.control, gcp.cloud, gcp.environment) == (Control.ROTATION, Cloud.GCP, "prod")
    # a key without a tier tag has no environment, and is judged as production
    untagged = findings[("aws_kms_key_deletion_window", "aws_kms_key.fail_untagged")]
    assert (untagged.environment, untagged.tier) == (None, Tier.PRODUCTION)
    # the replica inherits its primary's tags
    replica = findings[("inventory_tier_context_present",
                        "aws_kms_replica_key.fail_replica_inherits")]
    assert (replica.environment, replica.tier, replica.control) == (
        "prod", Tier.PRODUCTION, Control.PROTECTION)


@pytest.mark.parametrize("level", list(Severity))
def test_the_gate_flag_is_decided_in_one_place(level):
    rules = discover()
    loaded = load_inputs([PLAN, TIERS])
    findings = run(loaded.resources, rules=rules, on=AS_OF, fail_level=level)
    statuses = {f.status for f in findings}
    assert {Status.FAIL, Status.UNKNOWN, Status.PASS} <= statuses
    assert [f.gate for f in findings] == [gate_fails(f, rules[f.rule_id], level) for f in findings]
    assert [f.gate for f in regate(findings, rules, level)] == [f.gate for f in findings]


def test_check_json_is_schema_1_with_the_names_of_schema_0(tmp_path, capsys):
    target = tmp_path / "report.json"
    with pytest.raises(SystemExit):
        main(["check", "--as-of", AS_OF.isoformat(), str(TIERS), "--format", "json",
              "--output", str(target)])
    capsys.readouterr()
    doc: dict[str, Any] = json.loads(target.read_text())
    assert (doc["schema_version"], doc["kind"], doc["tool"]) == ("1", "check", "keyplane check")
    report = check([TIERS], on=AS_OF)
    assert len(doc["findings"]) == len(report.findings) > 0
    for data, f in zip(doc["findings"], report.findings, strict=True):
        # schema 1 first, exactly as the one model writes it
        schema_1 = f.to_dict()
        assert {k: data[k] for k in schema_1} == schema_1
        assert list(data)[:9] == ["rule_id", "control", "cloud", "environment", "tier",
                                  "resource", "severity", "outcome", "reason"]
        # the names of schema 0, each present (null or not)
        assert all(k in data for k in LEGACY_KEYS)
        assert (data["status"], data["message"], data["address"], data["fails_gate"]) == (
            data["outcome"], data["reason"], f.address, f.gate)
        assert (data["resource_type"], data["area"], data["waived_by"]) == (
            f.resource_type, f.area, None)
    assert one.Finding.from_dict(doc["findings"][0]) == report.findings[0].__class__(
        **{**_fields(report.findings[0]), "gate": False})


def _fields(f: one.Finding) -> dict[str, Any]:
    return {name: getattr(f, name) for name in one.Finding.__dataclass_fields__}
