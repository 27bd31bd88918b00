"""Audit events of commands that read a cloud: local file, CloudWatch Logs, Cloud Logging."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from keyplane.audit.events import AuditLog, AuditSinkError
from keyplane.cloud.gcp.audit_sink import CloudLoggingSink
from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import applied_env, aws, key_arn, run_cli, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_post_apply_records_start_findings_and_outcome(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        _audit_log_in_tmp: Path) -> None:
    envs, account, _ = applied_env(sb, tmp_path)
    kms = aws(sb, account, "kms")
    kms.disable_key_rotation(KeyId=key_arn(sb, account, "alias/release-artifacts"))
    code, _, _ = run_cli(capsys, "drift", "prod", "-d", str(envs), "--endpoint-url", sb.aws.url,
                         "--gcp-endpoint", sb.gcp.target)
    assert code == 0  # rotation is the rotation section's business, not drift's
    code, _, _ = run_cli(capsys, "rotation", "prod", "-d", str(envs), "--endpoint-url",
                         sb.aws.url, "--gcp-endpoint", sb.gcp.target)
    assert code == 1
    evs = events(_audit_log_in_tmp)
    runs = {e["run_id"] for e in evs}
    assert len(runs) == 2
    rotation = [e for e in evs if e["command"] == "rotation"]
    assert rotation[0]["outcome"] == "started"
    assert rotation[0]["actor"].startswith("arn:aws:") and account in rotation[0]["actor"]
    finding = next(e for e in rotation if e["outcome"] == "finding" and
                   e["action"] == "rotation.disabled")
    assert finding["environment"] == "prod" and finding["resource"].startswith("arn:aws:kms:")
    assert rotation[-1]["outcome"] == "finding" and rotation[-1]["duration_ms"] >= 0
    assert all(set(e) >= {"run_id", "timestamp", "actor", "command", "environment", "resource",
                          "action", "reason", "outcome", "duration_ms"} for e in evs)
    assert "keyplane-sandbox" not in _audit_log_in_tmp.read_text()


def test_fails_before_reading_when_the_audit_log_cannot_be_written(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, _ = applied_env(sb, tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    code, out, err = run_cli(capsys, "post-apply", "prod", "-d", str(envs), "--endpoint-url",
                             sb.aws.url, "--gcp-endpoint", sb.gcp.target,
                             "--audit-log", str(blocker / "events.jsonl"))
    assert (code, out) == (2, "")
    assert f"keyplane: error KP801: cannot write audit events to {blocker}/events.jsonl" in err


def test_events_also_go_to_cloudwatch_logs(sb: Sandbox, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    envs, account, _ = applied_env(sb, tmp_path)
    logs = aws(sb, account, "logs")
    logs.create_log_group(logGroupName="/keyplane/audit")
    code, _, _ = run_cli(capsys, "access-review", "prod", "-d", str(envs), "--endpoint-url",
                         sb.aws.url, "--gcp-endpoint", sb.gcp.target,
                         "--audit-cloudwatch-log-group", "/keyplane/audit")
    assert code == 0, _
    (stream,) = logs.describe_log_streams(logGroupName="/keyplane/audit")["logStreams"]
    assert stream["logStreamName"].startswith("keyplane/access-review/")
    messages = [json.loads(e["message"]) for e in logs.get_log_events(
        logGroupName="/keyplane/audit", logStreamName=stream["logStreamName"])["events"]]
    assert [m["outcome"] for m in (messages[0], messages[-1])] == ["started", "ok"]


def test_fails_when_the_cloudwatch_group_is_missing(sb: Sandbox, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, _ = applied_env(sb, tmp_path)
    code, _, err = run_cli(capsys, "drift", "prod", "-d", str(envs), "--endpoint-url",
                           sb.aws.url, "--gcp-endpoint", sb.gcp.target,
                           "--audit-cloudwatch-log-group", "/missing")
    assert code == 2
    assert "KP801: cloudwatch logs group /missing does not exist" in err


class _LoggingApi(BaseHTTPRequestHandler):
    """A local stand-in for the Logging API's entries:write, recording request bodies."""

    bodies: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append({"path": self.path, **json.loads(self.rfile.read(length))})
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def logging_api() -> Iterator[str]:
    _LoggingApi.bodies = []
    _LoggingApi.status = 200
    server = HTTPServer(("127.0.0.1", 0), _LoggingApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_cloud_logging_sink_dry_runs_then_writes_entries(logging_api: str) -> None:
    sink = CloudLoggingSink.build(log_name="projects/acme-pki-prod/logs/keyplane-audit",
                                  endpoint=logging_api)
    log = AuditLog(sinks=[sink], command="drill", actor="ci")
    log.ensure_writable()
    log.emit(action="sign-canary", outcome="failed", environment="prod", resource="k",
             reason="signature invalid")
    probe, entry = _LoggingApi.bodies
    assert probe["path"] == "/v2/entries:write" and probe["dryRun"] is True
    assert entry["logName"] == "projects/acme-pki-prod/logs/keyplane-audit"
    (record,) = entry["entries"]
    assert record["severity"] == "ERROR"
    assert record["jsonPayload"]["reason"] == "signature invalid"
    assert entry["labels"]["keyplane_run_id"] == log.run_id


def test_fails_when_cloud_logging_refuses(logging_api: str) -> None:
    _LoggingApi.status = 403
    sink = CloudLoggingSink.build(log_name="projects/acme-pki-prod/logs/keyplane-audit",
                                  endpoint=logging_api)
    with pytest.raises(AuditSinkError) as info:
        sink.ensure_writable()
    assert info.value.message == ("cloud logging refused audit events for "
                                  "projects/acme-pki-prod/logs/keyplane-audit: http 403")


def test_fails_on_a_malformed_cloud_logging_log_name() -> None:
    with pytest.raises(AuditSinkError, match="must look like projects/PROJECT/logs/NAME"):
        CloudLoggingSink(object(), "keyplane-audit")
