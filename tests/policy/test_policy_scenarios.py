"""SCENARIOS.md items 9-17: the PR gate's faults and bad input, through the CLI."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

import pytest

from keyplane.cli import main
from tests.policy.policy_support import AS_OF, FIXTURES

PLANS = FIXTURES / "plans"
RULES = FIXTURES / "rules"


@dataclass
class Result:
    exit_code: int
    output: str  # stdout and stderr together


@pytest.fixture
def invoke(capsys):
    """Run `keyplane check` through the real entry point (its error handling included)."""
    def run(*args: str) -> Result:
        with pytest.raises(SystemExit) as exc:
            main(["check", "--as-of", AS_OF.isoformat(), *args])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return Result(int(exc.value.code or 0), out + err)
    return run


def test_scenario_09_fails_truncated_plan_with_position(invoke, tmp_path):
    text = (PLANS / "destroy.plan.json").read_text()
    cut = tmp_path / "plan.json"
    cut.write_text(text[: len(text) // 2])
    result = invoke(str(cut), "--format", "json")
    assert result.exit_code == 2
    err = json.loads(result.output)
    assert err["error"] == "KP502"
    assert err["message"] == "truncated json: expecting property name enclosed in double " \
        "quotes; the gate fails closed" or err["message"].startswith("truncated json: ")
    problem = err["problems"][0]
    assert problem["file"] == str(cut) and problem["line"] > 1 and problem["column"] >= 1


def test_scenario_09_fails_non_json_plan(invoke, tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text("Terraform will perform the following actions:\n")
    result = invoke(str(bad))
    assert result.exit_code == 2
    assert f"{bad}:1:1: KP502 not valid json: expecting value; the gate fails closed" \
        in result.output


def test_scenario_10_fails_unsupported_major_format_version(invoke):
    result = invoke(str(PLANS / "major_2.plan.json"), "--format", "json")
    assert result.exit_code == 2
    err = json.loads(result.output)
    assert err["error"] == "KP503"
    assert err["message"] == ("plan format_version 2.0 is not supported; supported: 1.x "
                              "(terraform >= 1.1), 0.1 and 0.2 (terraform 0.12 to 1.0)")


def test_scenario_10_unknown_minor_warns_and_continues(invoke):
    result = invoke(str(PLANS / "future_minor.plan.json"), "--format", "json")
    assert result.exit_code == 1  # the plan was read and checked: its findings fail
    report = json.loads(result.output)
    assert [w["code"] for w in report["warnings"]] == ["KP520"]
    assert report["warnings"][0]["message"] == (
        "plan format_version 1.9 is newer than 1.2; unknown properties are ignored")
    assert report["resources"] == 1
    assert report["summary"]["PASS"] > 0


def test_scenario_11_unknown_kms_iam_types_are_reported(invoke):
    result = invoke(str(RULES / "inventory_resource_type_covered.tf.json"), "--format", "json")
    report = json.loads(result.output)
    hits = {f["address"] for f in report["findings"]
            if f["rule_id"] == "inventory_resource_type_covered" and f["status"] == "FAIL"}
    assert hits == {"aws_kms_ciphertext.fail_ciphertext", "aws_iam_access_key.fail_access_key"}
    assert result.exit_code == 1


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "markdown", "junit"])
def test_scenario_12_sensitive_values_never_printed(invoke, fmt):
    secret = "hunter2-SUPER-secret-value"
    assert secret in (PLANS / "unknown_sensitive.plan.json").read_text()
    result = invoke(str(PLANS / "unknown_sensitive.plan.json"), "--format", fmt)
    assert result.exit_code == 1
    assert secret not in result.output
    assert "hunter2" not in result.output


def test_scenario_13_unknown_after_apply_fails_closed_for_production_only(invoke):
    result = invoke(str(PLANS / "unknown_sensitive.plan.json"), "--format", "json")
    findings = json.loads(result.output)["findings"]
    window = {f["address"]: f for f in findings if f["rule_id"] == "aws_kms_key_deletion_window"}
    prod = window["aws_kms_key.prod_unknown_window"]
    nonprod = window["aws_kms_key.nonprod_unknown_window"]
    assert (prod["status"], prod["fails_gate"]) == ("UNKNOWN", True)
    assert (nonprod["status"], nonprod["fails_gate"]) == ("UNKNOWN", False)
    assert prod["message"] == "deletion_window_in_days is known only after apply"
    # a sensitive key spec reads as UNKNOWN, never as a pass
    spec = [f for f in findings if f["rule_id"] == "aws_kms_key_spec_allowed"
            and f["address"] == "aws_kms_key.prod_sensitive_spec"]
    assert spec[0]["status"] == "UNKNOWN"


def test_scenario_13_untagged_alias_inherits_tier_through_plan_configuration():
    from keyplane.policy.engine import run
    from keyplane.policy.inputs import load_inputs

    loaded = load_inputs([PLANS / "unknown_sensitive.plan.json"])
    run(loaded.resources, on=AS_OF, only=[])
    alias = next(r for r in loaded.resources if r.address == "aws_kms_alias.a")
    assert alias.refs["target_key_id"] == ("aws_kms_key.prod_unknown_window",)
    assert alias.context.inherited_from == "aws_kms_key.prod_unknown_window"


def test_scenario_14_delete_or_replace_of_keys_and_vaults_is_blocked(invoke):
    result = invoke(str(PLANS / "destroy.plan.json"), "--format", "json")
    assert result.exit_code == 1
    blocked = {f["address"] for f in json.loads(result.output)["findings"]
               if f["rule_id"] == "lifecycle_destroy_blocked" and f["fails_gate"]}
    assert blocked == {
        "aws_kms_key.fail_delete", "aws_kms_key.fail_replace",
        "google_kms_crypto_key_version.fail_version_replace",
        "aws_kms_custom_key_store.fail_store_delete", "aws_backup_vault.fail_vault_delete",
        "aws_backup_vault_lock_configuration.fail_lock_replace",
        'module.estate["prod"].aws_kms_key.fail_in_module'}


def test_scenario_14_a_waiver_naming_the_resource_unblocks_it(invoke, tmp_path):
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n"
        "  - rule: lifecycle_destroy_blocked\n"
        "    resource: '*fail_*'\n"
        "    owner: pki-team@acme.example\n"
        "    reason: retiring generation 1 after its overlap window\n"
        "    expires: 2026-07-01\n")
    result = invoke(str(PLANS / "destroy.plan.json"), "--format", "json",
                    "--waivers", str(waivers))
    report = json.loads(result.output)
    gating = [f for f in report["findings"] if f["rule_id"] == "lifecycle_destroy_blocked"
              and f["fails_gate"]]
    assert gating == []
    waived = {f["waived_by"] for f in report["findings"] if f["waived_by"]}
    assert waived == {"lifecycle_destroy_blocked:*fail_*"}


def test_scenario_15_admin_lockout_and_bypass_fail(invoke):
    result = invoke(str(RULES / "aws_kms_key_policy_admin_keeps_put_key_policy.tf.json"),
                    "--format", "json")
    lock = {f["address"]: f["message"] for f in json.loads(result.output)["findings"]
            if f["rule_id"] == "aws_kms_key_policy_admin_keeps_put_key_policy"
            and f["status"] == "FAIL"}
    assert lock["aws_kms_key.fail_no_admin"] == (
        "no statement grants kms:PutKeyPolicy to the key-admin role: administrators would be "
        "locked out")
    assert lock["aws_kms_key.fail_denied"].startswith("Statement[1] denies kms:PutKeyPolicy")
    result = invoke(str(RULES / "aws_kms_key_policy_lockout_check_not_bypassed.tf.json"),
                    "--format", "json")
    bypass = {f["address"] for f in json.loads(result.output)["findings"]
              if f["status"] == "FAIL"
              and f["rule_id"] == "aws_kms_key_policy_lockout_check_not_bypassed"}
    assert bypass == {"aws_kms_key.fail_bypassed", "aws_kms_key_policy.fail_policy_bypassed"}


def test_scenario_16_wildcards_evaluated_with_their_conditions(invoke):
    result = invoke(str(RULES / "aws_kms_key_policy_no_public_principal.tf.json"),
                    "--format", "json")
    found = {f["address"]: (f["status"], f["message"]) for f in
             json.loads(result.output)["findings"]
             if f["rule_id"] == "aws_kms_key_policy_no_public_principal"}
    assert found["aws_kms_key.pass_org_pinned"][0] == "PASS"
    assert found["aws_kms_key.pass_caller_account"][0] == "PASS"
    assert found["aws_kms_key.fail_via_service_only"] == (
        "FAIL", "Statement[1] allows any principal without an aws:PrincipalOrgID, "
        "aws:PrincipalAccount or kms:CallerAccount condition (kms:ViaService alone does not "
        "pin the caller's account)")
    assert found["aws_kms_key.fail_if_exists"][0] == "FAIL"
    result = invoke(str(RULES / "gcp_kms_iam_no_public_or_primitive.tf.json"), "--format", "json")
    public = {f["address"]: f["message"] for f in json.loads(result.output)["findings"]
              if f["status"] == "FAIL"}
    assert public["google_kms_crypto_key_iam_member.fail_all_users"] == (
        "grants roles/cloudkms.cryptoKeyEncrypterDecrypter to allUsers")
    assert public["google_kms_key_ring_iam_binding.fail_all_authenticated"] == (
        "grants roles/cloudkms.viewer to allAuthenticatedUsers")


def _waivers(tmp_path, body: str):
    path = tmp_path / "waivers.yaml"
    path.write_text(body)
    return path


def test_scenario_17_fails_waiver_without_expiry(invoke, tmp_path):
    path = _waivers(tmp_path, "- rule: lifecycle_destroy_blocked\n  resource: aws_kms_key.x\n"
                              "  owner: a@x\n  reason: r\n")
    result = invoke(str(PLANS / "destroy.plan.json"), "--waivers", str(path))
    assert result.exit_code == 2
    assert (f"{path}:1:3: KP510 waiver is missing 'expires'; every waiver names rule, "
            "resource, owner, reason, expires") in result.output


def test_scenario_17_fails_waiver_with_unknown_rule_and_bad_date(invoke, tmp_path):
    path = _waivers(tmp_path, "- rule: no_such_rule\n  resource: x\n  owner: a\n  reason: r\n"
                              "  expires: 2026-01-01\n"
                              "- rule: lifecycle_destroy_blocked\n  resource: x\n  owner: a\n"
                              "  reason: r\n  expires: soon\n")
    result = invoke(str(PLANS / "destroy.plan.json"), "--waivers", str(path))
    assert result.exit_code == 2
    assert (f"{path}:1:3: KP510 unknown rule 'no_such_rule'; see `keyplane check "
            "--list-rules`") in result.output
    assert f"{path}:10:3: KP510 expires must be a date (yyyy-mm-dd), got 'soon'" \
        in result.output


def test_scenario_17_fails_malformed_waiver_yaml(invoke, tmp_path):
    path = _waivers(tmp_path, "- rule: [unclosed\n")
    result = invoke(str(PLANS / "destroy.plan.json"), "--waivers", str(path))
    assert result.exit_code == 2
    assert f"{path}:2:1: KP510 yaml syntax error" in result.output


def test_scenario_17_expired_waiver_no_longer_applies_and_unused_is_reported(invoke, tmp_path):
    path = _waivers(tmp_path,
                    "- rule: lifecycle_destroy_blocked\n  resource: aws_kms_key.fail_delete\n"
                    "  owner: a@x\n  reason: old\n  expires: 2026-05-31\n"
                    "- rule: lifecycle_destroy_blocked\n  resource: aws_kms_key.nothing\n"
                    "  owner: b@x\n  reason: stale\n  expires: 2027-01-01\n")
    result = invoke(str(PLANS / "destroy.plan.json"), "--format", "json", "--waivers", str(path))
    report = json.loads(result.output)
    assert result.exit_code == 1
    delete = next(f for f in report["findings"] if f["address"] == "aws_kms_key.fail_delete")
    assert delete["fails_gate"] is True and delete["waived_by"] is None
    assert [(w["code"], w["message"]) for w in report["warnings"]] == [
        ("KP521", "waiver lifecycle_destroy_blocked:aws_kms_key.fail_delete (owner a@x) "
                  "expired on 2026-05-31 and no longer applies"),
        ("KP522", "waiver lifecycle_destroy_blocked:aws_kms_key.nothing (owner b@x) matches "
                  "no failing finding; remove it")]


def test_cdktf_out_directory_reads_manifest(invoke, tmp_path):
    out = tmp_path / "cdktf.out"
    stack = out / "stacks" / "prod"
    stack.mkdir(parents=True)
    shutil.copy(RULES / "aws_kms_key_deletion_window.tf.json", stack / "cdk.tf.json")
    (out / "manifest.json").write_text(json.dumps({"version": "0.24.0", "stacks": {"prod": {
        "name": "prod", "constructPath": "prod", "synthesizedStackPath": "stacks/prod/cdk.tf.json",
        "workingDirectory": "stacks/prod"}}}))
    result = invoke(str(out), "--format", "json")
    report = json.loads(result.output)
    assert report["files"] == [str(stack / "cdk.tf.json")]
    assert report["resources"] == 7
