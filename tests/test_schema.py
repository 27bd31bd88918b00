"""keyplane/schema: one JSON Schema per document keyplane writes; real outputs conform to it.

The documents are written by the real commands (check on a recorded Terraform plan,
post-apply and drill against the sandbox, every registered post-apply check on the
recorded read of Terraform-built prod); made-up documents only show what is rejected.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import ValidationError

from keyplane.schema import NAMES, load, validate
from tests.conftest import REPO, Synthesized

REAL_PLAN = REPO / "tests/policy/fixtures/plans/real/prod-aws.plan.json"
SCHEMA_DIR = REPO / "keyplane" / "schema"


@pytest.fixture(scope="module")
def check_doc() -> dict[str, Any]:
    """`keyplane check --format json` of a real plan."""
    proc = subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()", "check",
                           str(REAL_PLAN), "--format", "json"], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


# ---- the schemas themselves ------------------------------------------------------------------

def test_one_schema_file_per_document_each_a_valid_2020_12_schema() -> None:
    from jsonschema import Draft202012Validator

    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(
        f"{n}.schema.json" for n in NAMES)
    for name in NAMES:
        schema = load(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith(f"/{name}.schema.json")
        Draft202012Validator.check_schema(schema)
    # the documents share the one finding definition
    for name in ("check", "post-apply", "drill"):
        assert '"finding.schema.json"' in (SCHEMA_DIR / f"{name}.schema.json").read_text()
    with pytest.raises(KeyError, match="no schema named 'report'"):
        load("report")


def test_the_finding_schema_requires_what_finding_to_dict_always_writes() -> None:
    from keyplane.findings import Finding, Severity, Status

    minimal = Finding(rule_id="r", status=Status.PASS, severity=Severity.LOW, resource="x",
                      reason="ok").to_dict()
    assert set(load("finding")["required"]) == set(minimal)
    validate(minimal, "finding")


# ---- real outputs conform ----------------------------------------------------------------------

def test_check_json_of_a_real_plan_conforms(check_doc: dict[str, Any]) -> None:
    assert (check_doc["schema_version"], check_doc["kind"]) == ("1", "check")
    assert len(check_doc["findings"]) > 400
    validate(check_doc, "check")
    for f in check_doc["findings"][:50]:
        validate(f, "finding")


def test_every_registered_post_apply_check_writes_conforming_findings(
        synthesized_estate: Synthesized) -> None:
    """Each check's fail_* and unknown_* cases on the recorded read of Terraform-built prod, in
    one post-apply report as post-apply writes it."""
    from keyplane.findings import Status
    from keyplane.model import load_estate
    from keyplane.policy.packs import check_severity
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.match import match
    from keyplane.postapply.registry import CheckContext, discover, run_checks
    from keyplane.postapply.report import Report
    from keyplane.postapply.stack import load_environment_stacks
    from tests.conftest import EXAMPLE_ENVIRONMENTS
    from tests.postapply.checks_support import CHECKS, declared, judged_at, observed_for

    assert synthesized_estate.exit_code == 0, synthesized_estate.stderr[-2000:]
    env = load_estate([EXAMPLE_ENVIRONMENTS / "prod.yaml"]).get("prod")
    base = expected_state(env, load_environment_stacks(env, synthesized_estate.out))
    found = []
    for check_id, chk in sorted(discover().items()):
        path = CHECKS / f"{check_id}.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        for name, case in doc["cases"].items():
            if name.startswith("pass_") or (case.get("environment") or doc["environment"]) != \
                    "prod":
                continue
            state = declared(base, case.get("declared", []))
            observed, recorded_at = observed_for("prod", case.get("changes", []))
            ctx = CheckContext(state=state, observed=observed, matched=match(state, observed),
                               now=judged_at(case, recorded_at))
            found += run_checks([chk], ctx, check_severity)
    report = Report(command="post-apply", environment="prod",
                    started_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
                    sections=["rotation", "drift", "access-review"],
                    findings=[f for f in found if f.status is Status.FAIL],
                    unknowns=[f for f in found if f.status is not Status.FAIL])
    data = json.loads(json.dumps(report.to_dict(), default=str))
    assert len(data["findings"]) > 20 and len(data["unknowns"]) > 5
    validate(data, "post-apply")
    assert {f["control"] for f in data["findings"]} >= {"protection", "access", "audit",
                                                        "backup", "rotation"}


@pytest.fixture(scope="module")
def sb() -> Iterator[Any]:
    from tests.sandbox.helpers import start_sandbox

    s = start_sandbox()
    yield s
    s.stop()


@pytest.mark.integration
def test_post_apply_json_against_the_sandbox_conforms(
        sb: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from keyplane.sandbox.aws_front import FaultRule
    from tests.sandbox.helpers import applied_env, aws, key_arn, patch_backoff
    from tests.sandbox.helpers import run_cli as run_hook

    patch_backoff(monkeypatch)
    envs, acct, _ = applied_env(sb, tmp_path)
    kms = aws(sb, acct, "kms")
    kms.disable_key_rotation(KeyId=key_arn(sb, acct, "alias/release-artifacts"))
    kms.create_grant(KeyId=key_arn(sb, acct, "alias/release-artifacts"),
                     GranteePrincipal="arn:aws:iam::999999999999:role/outsider",
                     Operations=["Decrypt"])
    policy_key = key_arn(sb, acct, "alias/code-signing").rsplit("/", 1)[-1]
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="kms",
                                operation="GetKeyPolicy", account=acct, match=policy_key)]
    try:
        out = tmp_path / "post-apply.json"
        code, _, err = run_hook(capsys, "post-apply", "prod", "-d", str(envs), "--format", "json",
                                "--output", str(out), "--endpoint-url", sb.aws.url,
                                "--gcp-endpoint", sb.gcp.target, "--max-attempts", "2")
    finally:
        sb.front.rules = []
    assert code == 3, err
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["findings"] and doc["unknowns"]
    validate(doc, "post-apply")
    # ... and the evidence report reads it: the controls are the findings' own
    from keyplane.audit.report import ReportOptions, build_report
    from keyplane.model import load_estate

    env = load_estate([envs / "prod.yaml"]).get("prod")
    (tmp_path / "no-drills").mkdir()
    data = build_report([env], ReportOptions(as_of=dt.date(2026, 11, 28), post_apply_files=[out],
                                             evidence_dirs=[tmp_path / "no-drills"]))
    keys = {k.name: {c.value: r.mark.value for c, r in k.controls.items()}
            for k in data.environments[0].keys}
    assert keys["release-artifacts"]["rotation"] == "not met"  # rotation.disabled
    assert keys["release-artifacts"]["access"] == "not met"  # the undeclared grant
    assert keys["code-signing"]["access"] == "unknown"  # its key policy could not be read
    assert keys["document-signing"]["access"] == "met"


@pytest.mark.integration
def test_drill_json_and_its_evidence_records_conform(
        sb: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.drills.support import drill, drill_env, use_clock
    from tests.sandbox.helpers import patch_backoff

    patch_backoff(monkeypatch)
    use_clock(monkeypatch, sb)
    envs, _ = drill_env(sb, tmp_path)
    evidence = tmp_path / "evidence"
    code, report, err = drill(capsys, sb, envs, "prod", "--kind", "sign-canary",
                              "--evidence-location", str(evidence))
    assert code == 0, err
    validate(report, "drill")
    records = sorted(evidence.glob("*.json"))
    assert len(records) == len(report["results"]) > 3
    for path in records:
        validate(json.loads(path.read_text(encoding="utf-8")), "drill-evidence")


# ---- invalid documents are rejected ------------------------------------------------------------

def _without(doc: dict[str, Any], name: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    del out["findings"][0][name]
    return out


def _with(doc: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["findings"][0][name] = value
    return out


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: _without(d, "control"), "'control' is a required property"),
    (lambda d: _without(d, "outcome"), "'outcome' is a required property"),
    (lambda d: _with(d, "outcome", "PASSED"), "'PASSED' is not one of"),
    (lambda d: _with(d, "control", "availability"), "'availability' is not one of"),
    (lambda d: _with(d, "severity", None), "None is not one of"),
    (lambda d: {**d, "schema_version": "0"}, "'1' was expected"),
    (lambda d: {**d, "kind": "post-apply"}, "'check' was expected"),
], ids=["no-control", "no-outcome", "drill-outcome", "unknown-control", "no-severity",
        "schema-0", "wrong-kind"])
def test_invalid_check_documents_are_rejected(check_doc: dict[str, Any], change: Any,
                                              message: str) -> None:
    small = {**check_doc, "findings": check_doc["findings"][:3]}
    validate(small, "check")
    with pytest.raises(ValidationError) as exc:
        validate(change(small), "check")
    assert message in exc.value.message


def test_invalid_findings_evidence_and_post_apply_documents_are_rejected(
        check_doc: dict[str, Any]) -> None:
    finding = {k: v for k, v in check_doc["findings"][0].items()
               if k not in ("status", "message", "fails_gate")}
    validate(finding, "finding")
    for bad in ({**finding, "outcome": "fail"}, {**finding, "tier": "prod"},
                {k: v for k, v in finding.items() if k != "control"}):
        with pytest.raises(ValidationError):
            validate(bad, "finding")
    post_apply = {"schema_version": "1", "kind": "post-apply", "command": "post-apply",
                  "environment": "prod", "outcome": "findings", "exit_code": 1,
                  "started_at": "2026-11-20T06:00:00+00:00", "sections": ["drift"],
                  "stopped": None, "summary": {"findings": 1, "acknowledged": 0, "unknown": 0,
                                               "checked": 1},
                  "findings": [{**finding, "outcome": "FAIL", "check": finding["rule_id"],
                                "message": finding["reason"]}],
                  "unknowns": [], "checked": [], "access": [], "matched": {}, "drafts": [],
                  "unmatched_known_drift": [], "notes": []}
    validate(post_apply, "post-apply")
    passed = copy.deepcopy(post_apply)
    passed["findings"][0]["outcome"] = "PASS"  # findings are the failures
    no_alias = copy.deepcopy(post_apply)
    del no_alias["findings"][0]["check"]  # schema 0 readers need `check`
    for bad in (passed, no_alias, {**post_apply, "exit_code": 2}):
        with pytest.raises(ValidationError):
            validate(bad, "post-apply")
    record = {"schema_version": "1", "run_id": "r1", "environment": "prod",
              "kind": "sign-canary", "key": "code-signing", "generation": 4,
              "tier": "production", "started_at": "2026-11-27T01:00:00Z",
              "ended_at": "2026-11-27T01:00:20Z", "outcome": "PASSED", "reason": "verified",
              "identity": "ci", "rto_seconds": 20, "rpo_seconds": None,
              "deadline_seconds": 300, "details": {}, "rule_id": "drill.sign-canary",
              "control": "protection", "cloud": "aws", "severity": "high",
              "resource": "code-signing@g4"}
    validate(record, "drill-evidence")
    for bad in ({**record, "rule_id": "sign-canary"}, {**record, "outcome": "PASS"},
                {k: v for k, v in record.items() if k != "control"}):
        with pytest.raises(ValidationError):
            validate(bad, "drill-evidence")
