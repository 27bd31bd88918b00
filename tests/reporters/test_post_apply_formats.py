"""`keyplane post-apply --format sarif|junit` against the sandbox: the same findings as the
JSON report, as a SARIF log for code scanning and as JUnit for CI test reports."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyplane.postapply.registry import DOCS_URL, checks_for
from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import applied_env, aws, key_arn, run_cli, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _no_repository_above_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git looks for a repository no higher than tmp_path: the machine's layout cannot leak in."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


def drifted(sb: Sandbox, tmp_path: Path) -> tuple[list[str], str]:
    """A prod copy with three kinds of drift; (the command's base arguments, account)."""
    envs, acct, _ = applied_env(sb, tmp_path)
    kms = aws(sb, acct, "kms")
    kms.disable_key_rotation(KeyId=key_arn(sb, acct, "alias/release-artifacts"))
    kms.disable_key(KeyId=key_arn(sb, acct, "alias/code-signing").rsplit("/", 1)[-1])
    kms.create_grant(KeyId=key_arn(sb, acct, "alias/release-artifacts"),
                     GranteePrincipal="arn:aws:iam::999999999999:role/outsider",
                     Operations=["Decrypt"])
    return ["post-apply", "prod", "-d", str(envs), "--endpoint-url", sb.aws.url,
            "--gcp-endpoint", sb.gcp.target, "--quiet"], acct


def test_sarif_has_a_located_result_per_finding_with_the_checks_as_rules(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, _ = drifted(sb, tmp_path)
    code, out, _ = run_cli(capsys, *base, "--format", "json")
    findings = json.loads(out)["findings"]
    code, out, err = run_cli(capsys, *base, "--format", "sarif")
    assert code == 1, err
    doc: dict[str, Any] = json.loads(out)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    [run] = doc["runs"]
    assert run["tool"]["driver"]["name"] == "keyplane"
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    # every registered check of the command's sections is a rule, with its doc and help URI
    for check in checks_for(["rotation", "drift", "access-review"]):
        rule = rules[check.check_id]
        assert rule["shortDescription"]["text"] == check.title
        assert rule["help"]["text"] == check.doc
        assert rule["helpUri"] == check.help_uri
    assert all(r["helpUri"].startswith(f"{DOCS_URL}#") for r in rules.values())
    results = run["results"]
    assert sorted((r["ruleId"], r["properties"]["resource"]) for r in results) == sorted(
        (f["rule_id"], f["resource"]) for f in findings)
    assert all(r["ruleId"] in rules for r in results)
    assert {r["level"] for r in results} == {"error"}
    disabled = next(r for r in results if r["ruleId"] == "drift.key_disabled")
    assert disabled["message"]["text"] == \
        "FAIL [production] code-signing@g4 us-east-1: " + next(
            f["reason"] for f in findings if f["rule_id"] == "drift.key_disabled")
    assert disabled["properties"]["severity"] == "critical"
    assert disabled["properties"]["security-severity"] == "9.5"
    # a declared key: located in the synthesized stack that declares it, at its address
    [loc] = disabled["locations"]
    stack = tmp_path / "cdktf.out" / "stacks" / "prod-aws" / "cdk.tf.json"
    assert loc["physicalLocation"]["artifactLocation"] == {"uri": stack.resolve().as_uri()}
    address = loc["logicalLocations"][0]["fullyQualifiedName"]
    assert address.startswith("aws_kms_key.")
    line = loc["physicalLocation"]["region"]["startLine"]
    text = stack.read_text(encoding="utf-8").splitlines()
    assert json.dumps(address.split(".", 1)[1]) + ":" in text[line - 1]
    construct = loc["logicalLocations"][1]["fullyQualifiedName"]
    assert construct == disabled["properties"]["constructPath"] and construct.startswith("prod-aws/")
    fingerprints = [r["partialFingerprints"]["keyplaneFinding/v2"] for r in results]
    assert len(set(fingerprints)) == len(results)
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_sarif_in_a_repository_checkout_is_relative_to_its_root(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    subprocess.run(["git", "init", "--quiet", str(checkout)], check=True)
    base, _ = drifted(sb, checkout)
    code, out, _ = run_cli(capsys, *base, "--format", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    assert code == 1 and results
    located = [loc["physicalLocation"]["artifactLocation"] for r in results
               for loc in r["locations"] if "physicalLocation" in loc]
    assert located and all(a == {"uri": "cdktf.out/stacks/prod-aws/cdk.tf.json",
                                 "uriBaseId": "%SRCROOT%"} for a in located)


def test_junit_has_a_testcase_per_finding_and_per_unknown(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, acct = drifted(sb, tmp_path)
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="kms",
                                operation="ListKeys", region="us-west-2", account=acct)]
    try:
        code, out, _ = run_cli(capsys, *base, "--format", "json")
        report = json.loads(out)
        target = tmp_path / "out" / "junit.xml"
        code, out, err = run_cli(capsys, *base, "--format", "junit", "--output", str(target))
    finally:
        sb.front.rules = []
    assert (code, out) == (3, ""), err
    text = target.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text.split("\n", 1)[1])
    assert root.get("name") == "keyplane post-apply prod"
    cases = root.findall(".//testcase")
    assert len(cases) == len(report["findings"]) + len(report["unknowns"]) > 0
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [e for c in cases if (e := c.find("error")) is not None]
    assert sorted(str(c.get("classname")) for c in failures) == sorted(
        f"keyplane.{f['rule_id']}" for f in report["findings"])
    assert len(errors) == len(report["unknowns"])
    assert {e.get("type") for e in errors} == {"UNKNOWN"}
    assert {e.get("message") for e in errors} == {u["reason"] for u in report["unknowns"]}
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == (
        str(len(cases)), str(len(failures)), str(len(errors)))
    assert len({(c.get("classname"), c.get("name")) for c in cases}) == len(cases)
