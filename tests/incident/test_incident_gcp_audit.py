"""The audit-trail step of `keyplane incident` for a Cloud KMS generation, end to end against
the sandbox: the real google-cloud-kms client signs with the version over gRPC into the
Cloud KMS fake, which records a Data Access audit log entry for each use
(`keyplane.sandbox.gcp_logging_fake`); the incident reads them back with the real
google-cloud-logging client (ListLogEntries) over the same channel.

The workload's identity travels as the sandbox's principal metadata (the sandbox has no
credentials to name a caller by); calls without it are the fixed sandbox principal. Each test
applies its own copy of the example prod environment (own account, project and evidence
bucket).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from keyplane.model.loader import load_environment
from keyplane.sandbox.gcp_fake import GcpFaultRule
from keyplane.sandbox.gcp_logging_fake import PRINCIPAL_METADATA, SANDBOX_PRINCIPAL
from keyplane.sandbox.server import Sandbox
from keyplane.schema import validate
from tests.drills.support import drill_env
from tests.incident.support import audit_events, incident, journal
from tests.sandbox.helpers import gcp, new_ids, run_cli, start_sandbox

pytestmark = pytest.mark.integration

KEY = "release-attestation"  # production, EC_SIGN_P384_SHA384, g1 created 2026-03-10
USE_METHODS = ("AsymmetricSign, MacSign, Encrypt, RawEncrypt, Decrypt, AsymmetricDecrypt, "
               "RawDecrypt, MacVerify")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _no_rules(sb: Sandbox) -> Iterator[None]:
    yield
    sb.kms_fake.rules = []


def pipeline(project: str) -> str:
    """The release pipeline's service account, as the inventory declares its member."""
    return f"release-pipeline@{project}.iam.gserviceaccount.com"


def applied(sb: Sandbox, tmp_path: Path) -> tuple[Path, str, str, str]:
    """(environments dir, account, project, the version of release-attestation@g1)."""
    envs, account = drill_env(sb, tmp_path)
    project = load_environment(envs / "prod.yaml").gcp.project_id  # type: ignore[union-attr]
    crypto_key = f"projects/{project}/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/{KEY}"
    (version,) = [v.name for v in gcp(sb).list_crypto_key_versions(
        request={"parent": crypto_key})]
    return envs, account, project, str(version)


def sign(sb: Sandbox, version: str, times: int, as_: str | None = None) -> None:
    """`times` AsymmetricSign calls with the version, as `as_` (else the sandbox principal)."""
    client = gcp(sb)
    metadata = [(PRINCIPAL_METADATA, as_)] if as_ is not None else []
    for _ in range(times):
        client.asymmetric_sign(request={"name": version, "digest": {
            "sha384": hashlib.sha384(b"provenance of release 4.2").digest()}},
            metadata=metadata)


def documented_filter(project: str, version: str, start: str, end: str) -> str:
    """The filter docs/incident.md documents, written out."""
    crypto_key = version.split("/cryptoKeyVersions/")[0]
    return (
        f'logName="projects/{project}/logs/cloudaudit.googleapis.com%2Fdata_access" AND '
        'protoPayload.serviceName="cloudkms.googleapis.com" AND '
        '(protoPayload.methodName="AsymmetricSign" OR protoPayload.methodName="MacSign" OR '
        'protoPayload.methodName="Encrypt" OR protoPayload.methodName="RawEncrypt" OR '
        'protoPayload.methodName="Decrypt" OR protoPayload.methodName="AsymmetricDecrypt" OR '
        'protoPayload.methodName="RawDecrypt" OR protoPayload.methodName="MacVerify") AND '
        f'(protoPayload.resourceName="{version}" OR protoPayload.resourceName="{crypto_key}") '
        f'AND timestamp>="{start}" AND timestamp<="{end}"')


def requests_for(sb: Sandbox, project: str) -> list[Any]:
    return [r for r in sb.gcp.logging.requests if list(r.resource_names) == [f"projects/{project}"]]


def test_dry_run_plans_the_audit_log_query_and_reads_no_log(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _account, project, version = applied(sb, tmp_path)
    sign(sb, version, 2, as_=pipeline(project))
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g1")
    assert code == 0, err
    lines = out.splitlines()
    assert "3. list who used it in the exposure window" in lines
    assert f"   Cloud Logging ListLogEntries in the key Region on 1 key(s), for {USE_METHODS}" \
        in lines
    # g1 was created on 2026-03-10: the _Default bucket holds 30 days of it
    assert "   the exposure window starts 2026-03-10T00:00:00Z; the trail holds 30 days: older " \
           "calls are in the trail's log files (a follow-up)" in lines
    assert requests_for(sb, project) == []  # a dry run reads no log
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g1", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    validate(doc, "incident")
    now = dt.datetime.now(dt.UTC)
    start = dt.datetime.fromisoformat(doc["window"]["start"])
    assert (doc["window"]["history_days"], doc["window"]["clamped"]) == (30, True)
    assert dt.timedelta(days=30) <= now - start < dt.timedelta(days=30, minutes=5)
    assert gcp(sb).get_crypto_key_version(request={"name": version}).state.name == "ENABLED"


def test_execute_lists_who_used_the_version_through_the_documented_query(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _account, project, version = applied(sb, tmp_path)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the record keeps seconds
    sign(sb, version, 3, as_=pipeline(project))
    sign(sb, version, 1)
    gcp(sb).get_public_key(request={"name": version})  # a read of the public key, not a use
    other = gcp(sb).list_crypto_key_versions(request={"parent": version.split(
        "/cryptoKeyVersions/")[0].replace(f"/{KEY}", "/mesh-mtls-issuer")}).crypto_key_versions[
        -1].name  # another key's version, used by the same workload: not listed
    gcp(sb).asymmetric_sign(request={"name": other, "digest": {
        "sha256": hashlib.sha256(b"x").digest()}}, metadata=[(PRINCIPAL_METADATA,
                                                              pipeline(project))])
    after = dt.datetime.now(dt.UTC)

    code, out, err = incident(capsys, sb, envs, f"{KEY}@g1", "--execute", "--yes",
                              "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    validate(doc, "incident")
    assert [(s["id"], s["outcome"]) for s in doc["steps"]] == [
        ("disable", "done"), ("revoke-grants", "not-applicable"), ("audit-trail", "done"),
        ("certificates", "not-available"), ("rotate", "done")]
    assert doc["complete"] is True
    assert doc["callers"] == [
        {"principal_arn": pipeline(project), "role_arn": None, "event_name": "AsymmetricSign",
         "consequence": "re-sign", "count": 3, "failed": 0, "first": doc["callers"][0]["first"],
         "last": doc["callers"][0]["last"], "regions": ["us-east1"]},
        {"principal_arn": SANDBOX_PRINCIPAL, "role_arn": None, "event_name": "AsymmetricSign",
         "consequence": "re-sign", "count": 1, "failed": 0, "first": doc["callers"][1]["first"],
         "last": doc["callers"][1]["first"], "regions": ["us-east1"]}]
    events = doc["events"]
    assert [(e["principal_arn"], e["key_ref"], e["source_ip"], e["error_code"])
            for e in events] == [(pipeline(project), version, "127.0.0.1", None)] * 3 + [
        (SANDBOX_PRINCIPAL, version, "127.0.0.1", None)]
    times = [dt.datetime.fromisoformat(e["event_time"]) for e in events]
    assert times == sorted(times) and all(before <= t <= after for t in times)
    assert len({e["event_id"] for e in events}) == 4
    step = doc["steps"][2]
    assert step["summary"] == (f"4 successful call(s) by 2 caller(s), 0 refused, "
                               f"{doc['window']['start']} to {doc['window']['end']}")
    assert (doc["window"]["history_days"], doc["window"]["clamped"]) == (30, True)
    assert (f"Cloud Logging ListLogEntries holds 30 days: query the audit logs the project's "
            f"sink routed to its bucket for {USE_METHODS} on {version} from "
            f"2026-03-10T00:00:00Z to {doc['window']['start']}") in doc["follow_up"]
    # one query, exactly the documented one, over the project's log view, oldest first
    (sent,) = requests_for(sb, project)
    end = re.fullmatch(r'.* AND timestamp<="([^"]+)"', sent.filter)
    assert end is not None
    sent_end = dt.datetime.fromisoformat(end.group(1))
    record_end = dt.datetime.fromisoformat(doc["window"]["end"])
    assert record_end <= sent_end < record_end + dt.timedelta(seconds=1)
    assert sent.filter == documented_filter(project, version, doc["window"]["start"],
                                            end.group(1))
    assert (sent.order_by, sent.page_size) == ("timestamp asc", 1000)
    trail_event = next(e for e in audit_events(envs) if e["action"] == "incident.audit-trail")
    assert trail_event["details"]["callers"] == [
        {"principal_arn": pipeline(project), "event_name": "AsymmetricSign", "count": 3},
        {"principal_arn": SANDBOX_PRINCIPAL, "event_name": "AsymmetricSign", "count": 1}]


def test_a_refused_use_is_listed_with_the_successful_ones_in_text(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _account, project, version = applied(sb, tmp_path)
    sign(sb, version, 2, as_=pipeline(project))
    sb.kms_fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="AsymmetricSign",
                                      times=1)]
    with pytest.raises(gexc.PermissionDenied):  # a caller IAM refuses: it used nothing
        sign(sb, version, 1, as_=pipeline(project))
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g1", "--execute", "--yes")
    assert code == 0, err
    lines = out.splitlines()
    assert "3. list who used it in the exposure window: done" in lines
    assert any(line.startswith("   2 successful call(s) by 1 caller(s), 1 refused, ")
               for line in lines)
    row = next(line for line in lines if line.startswith(f"  {pipeline(project)} "))
    assert re.fullmatch(rf"  {re.escape(pipeline(project))} AsymmetricSign 2/1 "
                        r"\S+Z \.\. \S+Z re-sign", row), row


def test_a_denied_list_log_entries_fails_the_step_and_leaves_the_run_incomplete(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, account, project, version = applied(sb, tmp_path)
    sign(sb, version, 1, as_=pipeline(project))
    sb.kms_fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="ListLogEntries")]
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g1", "--execute", "--yes",
                              "--format", "json")
    assert code == 3, err
    doc = json.loads(out)
    validate(doc, "incident")
    assert [(s["id"], s["outcome"]) for s in doc["steps"]] == [
        ("disable", "done"), ("revoke-grants", "not-applicable"), ("audit-trail", "failed"),
        ("certificates", "not-available"), ("rotate", "done")]
    trail = doc["steps"][2]
    assert trail["summary"] == ("Cloud Logging ListLogEntries: ListLogEntries denied "
                                "(PERMISSION_DENIED): injected by the keyplane sandbox; fix the "
                                "access, then --execute again resumes here")
    assert (trail["details"]["error"], trail["details"]["operation"]) == (
        "PERMISSION_DENIED", "ListLogEntries")
    assert doc["callers"] == [] and doc["events"] == []  # never an empty list read as "nobody"
    assert (doc["complete"], doc["exit_code"]) == (False, 3)
    assert gcp(sb).get_crypto_key_version(request={"name": version}).state.name == "DISABLED"
    assert [e["event"] for e in journal(sb, account, f"{KEY}@g1")][-1] == "settled"
    assert [e["outcome"] for e in audit_events(envs)
            if e["action"] == "incident.audit-trail"] == ["failed"]

    # the incident stays open (never `finished`): the failed step is to be taken again
    assert all(e["event"] != "finished" for e in journal(sb, account, f"{KEY}@g1"))


def test_max_events_keeps_the_oldest_and_says_the_list_is_truncated(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _account, project, version = applied(sb, tmp_path)
    sign(sb, version, 1, as_=pipeline(project))
    sign(sb, version, 2)
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g1", "--execute", "--yes",
                              "--max-events", "2", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["events_truncated"] is True
    assert [e["principal_arn"] for e in doc["events"]] == [pipeline(project), SANDBOX_PRINCIPAL]
    assert "more than 2 events: the record lists the first 2; query the trail's log files for " \
           "the rest" in doc["follow_up"]


def test_without_data_access_logs_the_step_says_so_and_reads_no_log(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """staging's only GCP key is non-production: keyplane's stack leaves Cloud KMS's Data
    Access logs off there, so an empty answer from Cloud Logging would prove nothing."""
    from keyplane.desired.gcp import plan_environment
    from tests.conftest import EXAMPLE_ENVIRONMENTS

    _, project = new_ids()
    envs = tmp_path / "environments"
    envs.mkdir()
    (envs / "staging.yaml").write_text((EXAMPLE_ENVIRONMENTS / "staging.yaml").read_text(
        encoding="utf-8").replace("acme-pki-staging", project), encoding="utf-8")
    env = load_environment(envs / "staging.yaml")
    planned = plan_environment(env).key("staging-mesh-issuer")
    client = gcp(sb)
    ring = client.create_key_ring(request={
        "parent": f"projects/{project}/locations/{planned.ring.location}",
        "key_ring_id": planned.ring.name})
    client.create_crypto_key(request={"parent": ring.name, "crypto_key_id": planned.name,
                                      "crypto_key": {"purpose": "ASYMMETRIC_SIGN",
                                                     "version_template": {
                                                         "algorithm": planned.algorithm}}})
    version = f"{planned.resource_name(project)}/cryptoKeyVersions/1"
    code, out, err = run_cli(capsys, "incident", "staging", "staging-mesh-issuer@g1",
                             "--reason", "laptop stolen", "-d", str(envs), "--gcp-endpoint",
                             sb.gcp.target, "--evidence-location", str(tmp_path / "evidence"),
                             "--audit-log", str(tmp_path / "audit.jsonl"), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    (plan_line,) = doc["steps"][2]["plan"]
    assert plan_line.startswith(
        f"not available: Cloud KMS Data Access logs are off in {project}: keyplane's GCP stack "
        "turns them on for environments with a ca or production key on GCP, and its highest "
        "GCP tier is non-production; Cloud Logging holds no record of the version's uses "
        "unless they were turned on outside keyplane; list the version's uses in Cloud "
        "Logging: ")
    assert f'(protoPayload.resourceName="{version}" OR ' in plan_line
    assert plan_line.endswith('timestamp>="2026-01-20T00:00:00Z"')
    assert doc["window"]["history_days"] is None
    assert requests_for(sb, project) == []


# --- the adapter's reading of entries, without a server ---------------------------------------


def _entry(audit_log: Any, *, type_url: str | None = None) -> Any:
    from google.cloud.logging_v2.types import LogEntry
    from google.protobuf import any_pb2

    payload = any_pb2.Any()
    payload.Pack(audit_log)
    if type_url is not None:
        payload.type_url = type_url
    return LogEntry(insert_id="abc123", proto_payload=payload,
                    timestamp=dt.datetime(2026, 11, 2, 8, 30, tzinfo=dt.UTC))


def test_an_entry_names_the_federated_subject_and_any_status_code() -> None:
    from google.cloud.audit import audit_log_pb2

    from keyplane.cloud.gcp.incident import _event

    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
    log = audit_log_pb2.AuditLog(method_name="Decrypt", resource_name=key)
    log.authentication_info.principal_subject = \
        "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/x"
    log.status.code = 4242  # not a google.rpc.Code: kept as its number, never dropped
    event = _event(_entry(log))
    assert (event.event_name, event.key_ref, event.region, event.error_code, event.source_ip) == (
        "Decrypt", key, "europe-west1", "4242", None)
    assert event.principal_arn.startswith("principal://iam.googleapis.com/")
    assert event.event_time == dt.datetime(2026, 11, 2, 8, 30, tzinfo=dt.UTC)


def test_fails_an_entry_that_holds_no_audit_log() -> None:
    from google.cloud.audit import audit_log_pb2

    from keyplane.cloud.gcp.incident import _event
    from keyplane.cloudcall import CloudCallError

    entry = _entry(audit_log_pb2.AuditLog(method_name="AsymmetricSign"),
                   type_url="type.googleapis.com/google.cloud.audit.PolicyViolationInfo")
    with pytest.raises(CloudCallError) as info:
        _event(entry)
    assert (info.value.operation, info.value.code) == ("ListLogEntries", "UnexpectedPayload")
    assert "entry abc123 holds type.googleapis.com/google.cloud.audit.PolicyViolationInfo" in \
        info.value.message
