"""The output formats: SARIF 2.1.0, Markdown for PR comments, JUnit, JSON, exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from keyplane.cli import main
from keyplane.findings import Finding, Severity, Status
from keyplane.policy.api import check
from keyplane.reporters import markdown
from tests.conftest import REPO
from tests.policy.policy_support import AS_OF, FIXTURES

PLAN = FIXTURES / "plans" / "destroy.plan.json"


def run_cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(["check", "--as-of", AS_OF.isoformat(), *args])
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out + err


def test_sarif_is_2_1_0_with_rules_and_located_results(capsys):
    code, out = run_cli(capsys, str(PLAN), "--format", "sarif", "--sarif-root", str(REPO))
    assert code == 1
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    run = sarif["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "lifecycle_destroy_blocked" in rules
    rule = rules["lifecycle_destroy_blocked"]
    assert rule["shortDescription"]["text"] == \
        "Plans do not delete or replace keys, key stores or vaults"
    assert rule["helpUri"] == \
        "https://github.com/keyplane/keyplane/blob/main/docs/rules.md#lifecycle_destroy_blocked"
    assert rule["help"]["text"]
    result = next(r for r in run["results"] if r["ruleId"] == "lifecycle_destroy_blocked"
                  and "fail_delete" in r["message"]["text"])
    assert result["level"] == "error"
    loc = result["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"] == {
        "uri": "tests/policy/fixtures/plans/destroy.plan.json", "uriBaseId": "%SRCROOT%"}
    # the first line naming the address (resource_changes; planned_values omits deletions)
    assert loc["physicalLocation"]["region"] == {"startLine": 159}
    assert loc["logicalLocations"][0]["fullyQualifiedName"] == "aws_kms_key.fail_delete"
    assert all(r["ruleId"] in rules for r in run["results"])


def test_junit_has_one_testcase_per_rule_and_resource(capsys):
    code, out = run_cli(capsys, str(PLAN), "--format", "junit")
    assert code == 1
    root = ET.fromstring(out.split("\n", 1)[1])
    cases = root.findall(".//testcase")
    pairs = {(c.get("classname"), c.get("name")) for c in cases}
    assert len(pairs) == len(cases)
    failure = [c for c in cases if c.get("name") == "aws_kms_key.fail_delete"
               and c.get("classname", "").endswith("lifecycle_destroy_blocked")]
    assert failure[0].find("failure").get("message") == "the plan would delete this aws_kms_key"
    assert int(root.get("failures")) == len(root.findall(".//failure"))


def test_markdown_has_summary_and_collapsed_details(capsys):
    code, out = run_cli(capsys, str(PLAN), "--format", "markdown")
    assert code == 1
    assert out.startswith("## ❌ keyplane check: gate failed")
    assert "| area | FAIL | UNKNOWN | ERROR | PASS | NOT_APPLICABLE |" in out
    assert "<details><summary><b>lifecycle</b>" in out


def test_markdown_is_truncated_for_a_pr_comment():
    report = check([PLAN], on=AS_OF)
    many = [Finding(rule_id="lifecycle_destroy_blocked", status=Status.FAIL,
                    severity=Severity.CRITICAL, resource=f"aws_kms_key.k{i}",
                    address=f"aws_kms_key.k{i}",
                    reason="the plan would delete this aws_kms_key " + "x" * 80,
                    area="lifecycle", gate=True) for i in range(2000)]
    report.findings = many
    text = markdown.render(report)
    assert len(text.encode()) <= markdown.MAX_BYTES + 300
    assert "**Truncated:**" in text and "more finding(s) not shown" in text


def test_output_file_is_written_and_fail_level_critical(tmp_path, capsys):
    target = tmp_path / "report.json"
    code, _ = run_cli(capsys, str(FIXTURES / "rules" / "aws_cloudtrail_multi_region.tf.json"),
                      "--format", "json", "--output", str(target), "--fail-level", "critical")
    assert code == 0  # its failures are high, below critical
    report = json.loads(target.read_text())
    assert report["gate"] == "pass"
    assert sum(f["status"] == "FAIL" and f["rule_id"] == "aws_cloudtrail_multi_region"
               for f in report["findings"]) == 2


def test_exit_0_on_clean_input(tmp_path, capsys):
    clean = tmp_path / "cdk.tf.json"
    clean.write_text(json.dumps({"resource": {"aws_s3_bucket": {"b": {"bucket": "x"}}}}))
    code, out = run_cli(capsys, str(clean))
    assert code == 0
    assert out.strip().endswith("gate passed (fail level high)")


def test_a_raising_rule_is_an_error_that_fails_the_gate():
    from keyplane.policy.engine import run
    from keyplane.policy.inputs import load_inputs
    from keyplane.policy.registry import Rule

    def broken(res, ctx):
        raise RuntimeError("boom")

    rule = Rule(rule_id="broken", area="test", title="t", severity=Severity.LOW,
                resource_types=frozenset({"aws_kms_key"}), func=broken, doc="d",
                module="m", needs_tier=False)
    loaded = load_inputs([FIXTURES / "rules" / "inventory_tier_context_present.tf.json"])
    findings = run([r for r in loaded.resources if r.name == "fail_untagged"],
                   rules={"broken": rule}, on=AS_OF)
    assert [(f.status, f.gate, f.reason) for f in findings] == [
        (Status.ERROR, True, "rule errored (KP530): RuntimeError: boom")]
