"""`keyplane drill` end to end against the sandbox: outputs, history, exit codes, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.sandbox.server import Sandbox
from tests.drills.support import drill, drill_env, use_clock
from tests.sandbox.helpers import run_cli, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    s.front.backup.configure({"backup_seconds": 60, "restore_seconds": 300})
    s.front.cloudhsm.control({"cluster_seconds": 600, "hsm_seconds": 300})
    yield s
    s.stop()


def test_full_schedule_passes_writes_evidence_and_lists_history(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    code, report, err = drill(capsys, sb, envs, "prod")
    assert code == 0, err
    kinds = sorted({r["kind"] for r in report["results"]})
    assert kinds == ["backup", "cloudhsm", "replica", "sign-canary"]
    assert {r["outcome"] for r in report["results"]} == {"PASSED"}
    assert len(report["evidence"]) == len(report["results"]) == 15
    assert all(e.startswith(f"s3://evidence-{acct}/drills/") for e in report["evidence"])
    inv = next(r for r in report["results"] if r["key"] == "certificate-inventory")
    assert inv["rto_seconds"] == 300.0 and inv["details"]["manifest_count"] == 6
    assert {r["identity"] for r in report["results"]} == {f"arn:aws:sts::{acct}:user/moto"}
    # every result is also a finding of schema 1, its fields written into the evidence record
    findings = report["findings"]
    assert report["schema_version"] == "1" and len(findings) == 15
    assert {f["outcome"] for f in findings} == {"PASS"}
    assert {f["rule_id"]: f["control"] for f in findings} == {
        "drill.sign-canary": "protection", "drill.replica": "backup", "drill.backup": "backup",
        "drill.cloudhsm": "backup"}
    assert [(f["rule_id"], f["resource"], f["environment"]) for f in findings] == [
        (r["rule_id"], r["resource"], "prod") for r in report["results"]]
    inv_f = next(f for f in findings if f["resource"] == "certificate-inventory")
    assert (inv_f["cloud"], inv_f["tier"], inv_f["severity"]) == ("aws", "production", "critical")
    assert {f["cloud"] for f in findings if f["rule_id"] == "drill.sign-canary"} == {"aws", "gcp"}
    replicas = [f for f in findings if f["rule_id"] == "drill.replica"]
    assert replicas and all(f["resource"] == f"{f['key'].split('@')[0]}@{f['region']}"
                            for f in replicas)
    signed = {f["resource"] for f in findings if f["rule_id"] == "drill.sign-canary"}
    assert "code-signing@g4" in signed
    events = [json.loads(line) for line in (envs.parent / "ev.jsonl").read_text().splitlines()]
    assert {e["run_id"] for e in events} == {report["run_id"]}
    assert "drill.backup.validate" in {e["action"] for e in events}
    code, out, err = run_cli(capsys, "drill", "prod", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--history", "--format", "json")
    assert code == 0, err
    listed = json.loads(out)
    assert len(listed["results"]) == 15 and listed["schema_version"] == "1"
    assert sorted(listed["findings"], key=json.dumps) == sorted(findings, key=json.dumps)
    code, out, _ = run_cli(capsys, "drill", "prod", "-d", str(envs), "--endpoint-url",
                           sb.aws.url, "--history", "--format", "markdown")
    assert out.startswith("### keyplane drill history prod (15 result(s))\n\n| kind | target |")


def test_text_output_for_a_local_evidence_environment(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, _ = drill_env(sb, tmp_path, **{
        "evidence_location: s3://": f"evidence_location: {tmp_path}/ev-local #"})
    use_clock(monkeypatch, sb)
    code, out, err = run_cli(capsys, "drill", "prod", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--gcp-endpoint", sb.gcp.target, "--key",
                             "code-signing", "--kind", "sign-canary",
                             "--audit-log", str(tmp_path / "ev.jsonl"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("keyplane drill prod (run ")
    assert lines[1].split() == ["kind", "target", "gen", "outcome", "rto", "rpo", "reason"]
    assert lines[2].split()[:4] == ["sign-canary", "code-signing", "g4", "PASSED"]
    records = [json.loads(p.read_text(encoding="utf-8"))
               for p in sorted((tmp_path / "ev-local").glob("*.json"))]
    assert [(r["schema_version"], r["rule_id"], r["control"], r["cloud"], r["severity"])
            for r in records] == [("1", "drill.sign-canary", "protection", "aws", "critical")] * 2
    assert sorted(r["resource"] for r in records) == ["code-signing@g3", "code-signing@g4"]
    # live progress, one line per step, and where the evidence went (stderr; stdout is the report)
    progress = err.splitlines()
    assert "  .. sign-canary.start sign-canary/code-signing: started" in progress
    assert progress[-1] == f"keyplane: 2 evidence record(s) written to {tmp_path}/ev-local"
    code, _, quiet = run_cli(capsys, "drill", "prod", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--gcp-endpoint", sb.gcp.target, "--key",
                             "code-signing", "--kind", "sign-canary", "--quiet",
                             "--audit-log", str(tmp_path / "ev.jsonl"))
    assert code == 0 and not [ln for ln in quiet.splitlines() if ln.startswith("  .. ")]


@pytest.mark.parametrize(("args", "message"), [
    (["--key", "code-signing", "--tier", "production"],
     "--key and --tier select keys in two ways; give one, got --key code-signing and --tier "
     "production"),
    (["--key", "nope"], "key nope is not declared in environment prod; declared: pki-root-ca, "
                        "pki-issuing-ca, code-signing, document-signing, release-artifacts, "
                        "release-attestation, mesh-mtls-issuer, inventory-records"),
    (["--key", "code-signing", "--kind", "escrow"],
     "no drill applies to key code-signing of prod for --kind escrow (ephemeral keys are never "
     "drilled; replica needs a multi-region key, escrow an external key, cloudhsm a cluster, "
     "backup backed-up resources)"),
])
def test_fails_bad_selection_exits_2_with_the_reason(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    from tests.sandbox.helpers import prod_copy

    envs = prod_copy(tmp_path, "700000000999", "acme-pki-t0999")
    code, out, _err = run_cli(capsys, "drill", "prod", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--format", "json", *args)
    assert code == 2
    assert json.loads(out)["message"] == message
