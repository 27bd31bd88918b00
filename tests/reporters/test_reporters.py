"""keyplane.reporters on post-apply reports, without a cloud: SARIF results per FAIL finding
(located in the synthesized stack when the resource is declared), JUnit cases per finding and
per unknown, and post-apply's own text, json and markdown unchanged."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from keyplane.findings import Cloud, Control, Finding, Severity, Status
from keyplane.model.tiers import Tier
from keyplane.postapply import report as postapply_report
from keyplane.postapply.registry import DOCS_URL, checks_for
from keyplane.postapply.report import Report
from keyplane.reporters import FORMATS, render, renderer, sarif

SECTIONS = ["rotation", "drift", "access-review"]
ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STACK = {"resource": {"aws_kms_key": {"code-signing_g4": {"description": "code-signing"}},
                      "aws_cloudtrail": {"trail": {"name": "keyplane-prod"}}}}


@pytest.fixture(autouse=True)
def _no_repository_above_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git looks for a repository no higher than tmp_path: the machine's layout cannot leak in."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    sarif.git_root.cache_clear()


def finding(rule_id: str, resource: str = ARN, *, status: Status = Status.FAIL,
            severity: Severity = Severity.CRITICAL, **extra: Any) -> Finding:
    fields: dict[str, Any] = {"control": Control.PROTECTION, "cloud": Cloud.AWS,
                              "environment": "prod", "tier": Tier.PRODUCTION,
                              "area": rule_id.split(".")[0]}
    fields.update(extra)
    return Finding(rule_id=rule_id, status=status, severity=severity, resource=resource,
                   reason=f"{rule_id} on {resource}", **fields)


def declared(rule_id: str, **extra: Any) -> Finding:
    return finding(rule_id, key="code-signing@g4", region="us-east-1",
                   address="aws_kms_key.code-signing_g4",
                   construct_path="prod-aws/keys/code-signing/g4", **extra)


def report(*findings: Finding, unknowns: tuple[Finding, ...] = (),
           stopped: str | None = None) -> Report:
    return Report(command="post-apply", environment="prod",
                  started_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC), findings=list(findings),
                  unknowns=list(unknowns), sections=SECTIONS, stopped=stopped,
                  checked=[ARN])


def synth_dir(tmp_path: Path) -> Path:
    stack = tmp_path / "cdktf.out" / "stacks" / "prod-aws" / "cdk.tf.json"
    stack.parent.mkdir(parents=True)
    stack.write_text(json.dumps(STACK, indent=2), encoding="utf-8")
    return tmp_path / "cdktf.out"


def sarif_of(rep: Report, tmp_path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render(rep, "sarif", synth_dir=synth_dir(tmp_path),
                                            root=tmp_path))
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    return doc


def test_a_declared_key_is_located_at_its_address_in_its_stack(tmp_path):
    doc = sarif_of(report(declared("drift.key_disabled")), tmp_path)
    [run] = doc["runs"]
    [res] = run["results"]
    assert (res["ruleId"], res["level"]) == ("drift.key_disabled", "error")
    assert res["message"]["text"] == ("FAIL [production] code-signing@g4 us-east-1: "
                                      f"drift.key_disabled on {ARN}")
    [loc] = res["locations"]
    assert loc["physicalLocation"] == {
        "artifactLocation": {"uri": "cdktf.out/stacks/prod-aws/cdk.tf.json",
                             "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 4}}  # the line of "code-signing_g4": in the stack
    assert loc["logicalLocations"] == [
        {"fullyQualifiedName": "aws_kms_key.code-signing_g4", "kind": "resource",
         "name": "aws_kms_key.code-signing_g4"},
        {"fullyQualifiedName": "prod-aws/keys/code-signing/g4", "kind": "module", "name": "g4"}]
    props = res["properties"]
    assert (props["resource"], props["control"], props["cloud"], props["environment"],
            props["security-severity"]) == (ARN, "protection", "aws", "prod", "9.5")


def test_an_undeclared_resource_is_a_logical_location_only(tmp_path):
    doc = sarif_of(report(finding("drift.undeclared_key", severity=Severity.HIGH)), tmp_path)
    [res] = doc["runs"][0]["results"]
    assert res["locations"] == [{"logicalLocations": [
        {"fullyQualifiedName": ARN, "kind": "resource", "name": ARN}]}]
    assert res["properties"]["security-severity"] == "8.0"


def test_rules_are_the_sections_checks_and_every_result_has_one(tmp_path):
    legacy = finding("rotation.not_a_registered_check", severity=Severity.MEDIUM)
    doc = sarif_of(report(declared("drift.key_disabled"), legacy), tmp_path)
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    for check in checks_for(SECTIONS):
        assert rules[check.check_id]["helpUri"] == check.help_uri
        assert rules[check.check_id]["shortDescription"]["text"] == check.title
        assert check.control.value in rules[check.check_id]["properties"]["tags"]
    assert {r["ruleId"] for r in doc["runs"][0]["results"]} <= set(rules)
    # a check of the jobs not yet moved: still a rule, its help in docs/checks.md
    assert rules["rotation.not_a_registered_check"]["helpUri"] == \
        f"{DOCS_URL}#rotationnot_a_registered_check"
    assert rules["rotation.not_a_registered_check"]["properties"]["security-severity"] == "5.5"


def test_acknowledged_drift_is_suppressed_and_informational_a_note(tmp_path):
    ack = {"resource": ARN, "reason": "migration window", "owner": "pki-team",
           "expires": "2026-07-01"}
    doc = sarif_of(report(declared("drift.key_disabled", acknowledged=ack),
                          finding("access.cross_account", severity=Severity.INFO)), tmp_path)
    acked, info = sorted(doc["runs"][0]["results"], key=lambda r: r["ruleId"], reverse=True)
    assert acked["level"] == "warning"
    assert acked["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "known drift: migration window (owner pki-team, until 2026-07-01)"}]
    assert info["level"] == "note" and "suppressions" not in info


def test_what_could_not_be_judged_is_a_notification_and_a_stop_fails_the_run(tmp_path):
    unknown = finding("read.policy", "aws:us-west-2", status=Status.UNKNOWN,
                      severity=Severity.HIGH)
    doc = sarif_of(report(unknowns=(unknown,), stopped="credentials expired"), tmp_path)
    [invocation] = doc["runs"][0]["invocations"]
    assert doc["runs"][0]["results"] == []
    assert invocation == {"executionSuccessful": False, "toolExecutionNotifications": [
        {"level": "warning", "message": {"text": "UNKNOWN aws:us-west-2: read.policy on "
                                                 "aws:us-west-2"},
         "descriptor": {"id": "read.policy"}},
        {"level": "error", "message": {"text": "stopped: credentials expired"}}]}


def test_a_fingerprint_follows_the_deployed_resource_not_the_checkout(tmp_path):
    def fp(where: Path) -> str:
        where.mkdir()
        res = sarif_of(report(declared("drift.key_disabled")), where)["runs"][0]["results"][0]
        value: str = res["partialFingerprints"]["keyplaneFinding/v2"]
        return value

    assert fp(tmp_path / "a") == fp(tmp_path / "b")


def test_two_failures_of_one_check_on_one_key_are_two_alerts_in_every_run(tmp_path):
    one = declared("drift.grant_not_declared", actual={"grant_id": "g1"})
    two = declared("drift.grant_not_declared", actual={"grant_id": "g2"})
    one.reason, two.reason = "grant g1 is not declared", "grant g2 is not declared"

    def fingerprints(*findings: Finding) -> dict[str, str]:
        where = tmp_path / str(len(list(tmp_path.iterdir())))
        where.mkdir()
        results = sarif_of(report(*findings), where)["runs"][0]["results"]
        return {r["message"]["text"]: r["partialFingerprints"]["keyplaneFinding/v2"]
                for r in results}

    first, second = fingerprints(one, two), fingerprints(two, one)
    assert len(set(first.values())) == 2
    assert first == second  # the read order does not matter


def junit_of(rep: Report) -> ET.Element:
    text = render(rep, "junit")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return ET.fromstring(text.split("\n", 1)[1])


def test_junit_has_a_case_per_finding_and_unknown_and_never_passes_an_unknown():
    ack = {"resource": ARN, "reason": "migration window", "owner": "pki-team",
           "expires": "2026-07-01"}
    rep = report(declared("drift.key_disabled"),
                 declared("drift.grant_not_declared", severity=Severity.HIGH),
                 declared("drift.grant_not_declared", severity=Severity.HIGH),
                 finding("rotation.disabled", "arn:other", acknowledged=ack),
                 unknowns=(finding("read.policy", "aws:us-west-2", status=Status.UNKNOWN),
                           finding("drift.key_disabled", "keyplane:drift.key_disabled",
                                   status=Status.ERROR)))
    root = junit_of(rep)
    assert root.get("name") == "keyplane post-apply prod"
    assert (root.get("tests"), root.get("failures"), root.get("errors"),
            root.get("skipped")) == ("6", "3", "2", "1")
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert len(cases) == 6  # the second grant finding on the same key is told apart
    assert ("keyplane.drift.grant_not_declared", "code-signing@g4 us-east-1 [2]") in cases
    disabled = cases[("keyplane.drift.key_disabled", "code-signing@g4 us-east-1")]
    failure = disabled.find("failure")
    assert failure is not None and failure.get("message") == f"drift.key_disabled on {ARN}"
    assert failure.get("type") == "FAIL" and "severity critical" in (failure.text or "")
    skipped = cases[("keyplane.rotation.disabled", "arn:other")].find("skipped")
    assert skipped is not None and skipped.get("message") == "acknowledged: migration window"
    kinds = {c.get("name"): c.find("error").get("type")  # type: ignore[union-attr]
             for c in root.iter("testcase") if c.find("error") is not None}
    assert kinds == {"aws:us-west-2": "UNKNOWN", "keyplane:drift.key_disabled": "ERROR"}
    suites = [s.get("name") for s in root.iter("testsuite")]
    assert suites == ["keyplane.post-apply.drift", "keyplane.post-apply.read",
                      "keyplane.post-apply.rotation"]


def test_junit_of_a_stopped_run_is_an_error_never_green():
    root = junit_of(report(stopped="credentials expired (ExpiredTokenException)"))
    [case] = root.iter("testcase")
    error = case.find("error")
    assert error is not None and error.get("type") == "STOPPED"
    assert error.get("message") == "stopped: credentials expired (ExpiredTokenException)"


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_post_apply_text_json_and_markdown_are_its_own(fmt):
    rep = report(declared("drift.key_disabled"),
                 unknowns=(finding("read.policy", "aws:us-west-2", status=Status.UNKNOWN),))
    assert render(rep, fmt) == renderer(fmt)(rep) == postapply_report.render(rep, fmt)


def test_every_format_renders_a_post_apply_report():
    rep = report(declared("drift.key_disabled"))
    assert FORMATS == ("text", "json", "sarif", "markdown", "junit")
    for fmt in FORMATS:
        assert render(rep, fmt).strip()
    with pytest.raises(ValueError, match="unknown format 'yaml'"):
        renderer("yaml")
