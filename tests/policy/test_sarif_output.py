"""SARIF for code scanning: repository-relative locations, the project's URIs, a rank per
finding that follows its tier and severity, and fingerprints that tell input files apart."""

from __future__ import annotations

import codecs
import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from keyplane.cli import main
from keyplane.findings import Finding, Severity, Status
from keyplane.model.tiers import Tier
from keyplane.policy.engine import Report
from keyplane.policy.registry import discover
from keyplane.reporters import sarif
from tests.policy.policy_support import AS_OF, FIXTURES

PLAN = FIXTURES / "plans" / "destroy.plan.json"
HOMEPAGE = "https://github.com/keyplane/keyplane"


@pytest.fixture(autouse=True)
def _no_repository_above_tmp(tmp_path, monkeypatch):
    """git looks for a repository no higher than tmp_path: the machine's layout cannot leak in."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def run_cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(["check", "--as-of", AS_OF.isoformat(), *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return int(exc.value.code or 0), out + err


def sarif_of(capsys, *args: str) -> dict[str, Any]:
    code, out = run_cli(capsys, *args, "--format", "sarif")
    assert code == 1
    doc: dict[str, Any] = json.loads(out)
    return doc


def locations(doc: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(loc["physicalLocation"]["artifactLocation"]["uri"],
             loc["physicalLocation"]["artifactLocation"].get("uriBaseId"))
            for r in doc["runs"][0]["results"] for loc in r["locations"]}


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", str(path)], check=True)
    return path


def result(doc: dict[str, Any], rule_id: str, address: str) -> dict[str, Any]:
    found = [r for r in doc["runs"][0]["results"] if r["ruleId"] == rule_id
             and r["locations"][0]["logicalLocations"][0]["name"] == address]
    assert len(found) == 1
    return found[0]


# locations


def test_uris_are_relative_to_the_inputs_git_repository_not_the_working_directory(
        tmp_path, capsys, monkeypatch):
    repo = git_repo(tmp_path / "repo")
    plan = repo / "cdktf.out" / "stacks" / "prod-aws" / "plan.json"
    plan.parent.mkdir(parents=True)
    shutil.copy(PLAN, plan)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    doc = sarif_of(capsys, str(plan))
    assert locations(doc) == {("cdktf.out/stacks/prod-aws/plan.json", "%SRCROOT%")}


def test_a_relative_input_is_relative_to_its_repository_too(tmp_path, capsys, monkeypatch):
    repo = git_repo(tmp_path / "repo")
    (repo / "infra").mkdir()
    shutil.copy(PLAN, repo / "infra" / "plan.json")
    monkeypatch.chdir(repo / "infra")
    assert locations(sarif_of(capsys, "plan.json")) == {("infra/plan.json", "%SRCROOT%")}


def test_sarif_root_sets_the_base_without_git(tmp_path, capsys):
    plan = tmp_path / "checkout" / "stacks" / "plan.json"
    plan.parent.mkdir(parents=True)
    shutil.copy(PLAN, plan)
    doc = sarif_of(capsys, str(plan), "--sarif-root", str(tmp_path / "checkout"))
    assert locations(doc) == {("stacks/plan.json", "%SRCROOT%")}


def test_outside_any_repository_the_uri_is_absolute_not_cwd_relative(tmp_path, capsys,
                                                                      monkeypatch):
    plan = tmp_path / "loose" / "plan.json"
    plan.parent.mkdir()
    shutil.copy(PLAN, plan)
    monkeypatch.chdir(tmp_path)
    assert locations(sarif_of(capsys, str(plan))) == {(plan.resolve().as_uri(), None)}


def test_fails_sarif_root_that_does_not_hold_the_inputs(tmp_path, capsys):
    (tmp_path / "root").mkdir()
    code, out = run_cli(capsys, str(PLAN), "--format", "sarif", "--sarif-root",
                        str(tmp_path / "root"))
    assert code == 2
    assert out == (f"keyplane: error KP002: --sarif-root '{tmp_path / 'root'}' does not contain "
                   f"input(s) '{PLAN}'; give the repository root\n")


def test_fails_sarif_root_with_another_format(capsys):
    code, out = run_cli(capsys, str(PLAN), "--format", "json", "--sarif-root", ".")
    assert code == 2
    assert json.loads(out)["message"] == \
        "--sarif-root applies to --format sarif only, got --format json"


def test_a_utf_16_plan_is_located_on_the_same_line_as_its_utf_8_original(tmp_path, capsys):
    wide = tmp_path / "plan.json"
    wide.write_bytes(codecs.BOM_UTF16_LE + PLAN.read_text(encoding="utf-8").encode("utf-16-le"))

    def start_line(path: Path) -> int:
        doc = sarif_of(capsys, str(path), "--sarif-root", str(path.parent))
        line: int = result(doc, "lifecycle_destroy_blocked", "aws_kms_key.fail_delete")[
            "locations"][0]["physicalLocation"]["region"]["startLine"]
        return line

    assert start_line(wide) == start_line(PLAN) > 1


# the tool and its rules


def test_information_uri_is_the_projects_homepage_and_help_uris_sit_under_it(capsys):
    doc = sarif_of(capsys, str(PLAN), "--sarif-root", str(PLAN.parent))
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == HOMEPAGE
    assert driver["semanticVersion"] == metadata.version("keyplane")
    helps = {r["id"]: r["helpUri"] for r in driver["rules"]}
    assert helps == {rid: f"{HOMEPAGE}/blob/main/docs/rules.md#{rid}" for rid in discover()}


def test_the_homepage_comes_from_the_installed_metadata():
    urls = metadata.metadata("keyplane").get_all("Project-URL")
    assert urls == [f"Homepage, {HOMEPAGE}"]
    assert sarif.project_url("Homepage") == HOMEPAGE
    assert sarif.project_url("Changelog") is None


def test_a_rules_default_rank_is_its_lowest_severity_not_its_highest(capsys):
    doc = sarif_of(capsys, str(PLAN), "--sarif-root", str(PLAN.parent))
    ranks = {r["id"]: r["properties"]["security-severity"]
             for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    # (C, C, H, M) by tier, critical with no tier: medium
    assert ranks["lifecycle_destroy_blocked"] == "5.5"
    # (C, C, H, H) by tier, critical with no tier: high
    assert ranks["gcp_kms_iam_no_public_or_primitive"] == "8.0"
    # ca only: critical
    assert ranks["aws_kms_key_ca_custom_key_store"] == "9.5"
    # (H, H, M, L) by tier
    assert ranks["aws_kms_key_deletion_window"] == "3.0"


# a rank per result


def finding(status: Status, severity: Severity, tier: Tier | None, *,
            rule_id: str = "aws_kms_key_rotation_enabled", address: str = "aws_kms_key.k",
            source: str = "plan.json", waived_by: str | None = None) -> Finding:
    return Finding(rule_id=rule_id, status=status, severity=severity, resource=address,
                   address=address, reason="m", tier=tier, source=source, area="kms", waived_by=waived_by)


def rendered(findings: list[Finding], root: Path, *,
             fail_level: Severity = Severity.HIGH) -> list[dict[str, Any]]:
    from keyplane.policy.engine import regate

    rules = discover()
    report = Report(findings=regate(findings, rules, fail_level), rules=rules, files=[],
                    resources=len(findings), fail_level=fail_level)
    results: list[dict[str, Any]] = json.loads(sarif.render(report, root=root))["runs"][0][
        "results"]
    return results


@pytest.mark.parametrize(("status", "severity", "tier", "fail_level", "rank"), [
    (Status.FAIL, Severity.CRITICAL, Tier.PRODUCTION, Severity.HIGH, "9.5"),
    (Status.FAIL, Severity.HIGH, Tier.PRODUCTION, Severity.HIGH, "8.0"),
    # the pack's medium for non-production: medium, whatever the rule's production severity
    (Status.FAIL, Severity.MEDIUM, Tier.NON_PRODUCTION, Severity.HIGH, "5.5"),
    (Status.FAIL, Severity.LOW, Tier.EPHEMERAL, Severity.HIGH, "3.0"),
    # below the fail level a FAIL is still what it is
    (Status.FAIL, Severity.CRITICAL, Tier.PRODUCTION, Severity.INFO, "9.5"),
    # ca and production fail closed on UNKNOWN at or above the fail level: ranked as failures
    (Status.UNKNOWN, Severity.CRITICAL, Tier.CA, Severity.HIGH, "9.5"),
    (Status.UNKNOWN, Severity.HIGH, Tier.PRODUCTION, Severity.HIGH, "8.0"),
    (Status.UNKNOWN, Severity.CRITICAL, Tier.PRODUCTION, Severity.CRITICAL, "9.5"),
    # an UNKNOWN the gate does not fail on ranks low at most
    (Status.UNKNOWN, Severity.HIGH, Tier.NON_PRODUCTION, Severity.HIGH, "3.0"),
    (Status.UNKNOWN, Severity.HIGH, Tier.PRODUCTION, Severity.CRITICAL, "3.0"),
    (Status.UNKNOWN, Severity.CRITICAL, None, Severity.HIGH, "3.0"),
    (Status.UNKNOWN, Severity.INFO, Tier.NON_PRODUCTION, Severity.HIGH, "1.0"),
    # a rule that errored fails the gate: ranked at its severity
    (Status.ERROR, Severity.MEDIUM, Tier.NON_PRODUCTION, Severity.HIGH, "5.5"),
])
def test_each_result_is_ranked_by_its_own_tier_and_severity(tmp_path, status, severity, tier,
                                                             fail_level, rank):
    [res] = rendered([finding(status, severity, tier)], tmp_path, fail_level=fail_level)
    assert res["properties"]["security-severity"] == rank
    assert res["properties"]["severity"] == severity.value


def test_a_waived_unknown_keeps_its_rank_and_is_shown_suppressed(tmp_path):
    [res] = rendered([finding(Status.UNKNOWN, Severity.CRITICAL, Tier.PRODUCTION,
                              waived_by="aws_kms_key_rotation_enabled:aws_kms_key.k")], tmp_path)
    assert res["properties"]["security-severity"] == "9.5"
    assert res["level"] == "warning"
    assert res["suppressions"] == [{"kind": "external", "status": "accepted", "justification":
                                    "waiver aws_kms_key_rotation_enabled:aws_kms_key.k"}]


# fingerprints


def fingerprint(res: dict[str, Any]) -> str:
    fp: str = res["partialFingerprints"]["keyplaneFinding/v2"]
    return fp


def test_the_same_rule_and_address_in_plan_and_synth_json_are_two_alerts(tmp_path):
    stack = tmp_path / "cdktf.out" / "stacks" / "prod-aws"
    results = rendered([
        finding(Status.FAIL, Severity.HIGH, Tier.PRODUCTION, source=str(stack / "plan.json")),
        finding(Status.FAIL, Severity.HIGH, Tier.PRODUCTION, source=str(stack / "cdk.tf.json")),
    ], tmp_path)
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results] \
        == ["cdktf.out/stacks/prod-aws/plan.json", "cdktf.out/stacks/prod-aws/cdk.tf.json"]
    assert fingerprint(results[0]) != fingerprint(results[1])


def test_a_fingerprint_is_the_same_in_every_checkout(tmp_path):
    def fp(checkout: Path) -> str:
        source = checkout / "cdktf.out" / "stacks" / "prod-aws" / "plan.json"
        [res] = rendered([finding(Status.FAIL, Severity.HIGH, Tier.PRODUCTION,
                                  source=str(source))], checkout)
        return fingerprint(res)

    assert fp(tmp_path / "runner-1" / "work") == fp(tmp_path / "runner-2")


def test_fingerprints_tell_rules_and_addresses_apart(tmp_path):
    source = str(tmp_path / "plan.json")
    results = rendered([
        finding(Status.FAIL, Severity.HIGH, Tier.PRODUCTION, source=source),
        finding(Status.FAIL, Severity.HIGH, Tier.PRODUCTION, source=source,
                address="aws_kms_key.other"),
        finding(Status.FAIL, Severity.HIGH, Tier.PRODUCTION, source=source,
                rule_id="aws_kms_key_rotation_period"),
    ], tmp_path)
    assert len({fingerprint(r) for r in results}) == 3
