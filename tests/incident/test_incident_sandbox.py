"""`keyplane incident` end to end against the sandbox: moto's server behind the front over
HTTP (KMS, STS, IAM, S3, DynamoDB) with the front's CloudTrail event history (moto has no
LookupEvents: `keyplane.sandbox.cloudtrail_fake`), and the real google-cloud-kms client over
gRPC into the Cloud KMS fake.

Each test applies its own copy of the example prod environment (own account and evidence
bucket); the key users sign as AWS would have them: the workload's role assumes the key-user
role keyplane created. The run's clock is the sandbox's.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from keyplane.sandbox.server import Sandbox
from keyplane.schema import validate
from tests.drills.support import drill_env
from tests.incident.support import (
    KEY,
    REPLICA,
    audit_events,
    grants,
    incident,
    issue,
    journal,
    key_arns,
    key_user_credentials,
    records,
    s3_objects,
    sign,
    state,
)
from tests.sandbox.helpers import aws, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


class Clock:
    """The incident's clock: the sandbox's time, moved forward by `advance` (both)."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb

    def now(self) -> float:
        return self.sb.front.clock.now()

    def advance(self, seconds: float) -> None:
        self.sb.front.clock.advance(seconds)


@pytest.fixture
def clock(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Clock:
    import keyplane.commands.incident as cmd

    c = Clock(sb)
    monkeypatch.setattr(cmd, "clock", c.now)
    return c


@pytest.fixture(autouse=True)
def _recorded(sb: Sandbox) -> Iterator[None]:
    sb.front.calls.clear()
    sb.front.record_calls = True
    yield
    sb.front.rules = []
    sb.kms_fake.rules = []


def writes(sb: Sandbox) -> list[tuple[str, str, str]]:
    """The calls recorded so far that change a key, a grant or an object."""
    changing = {"DisableKey", "RevokeGrant", "RetireGrant", "ScheduleKeyDeletion",
                "UpdateCryptoKeyVersion", "PutKeyPolicy"}
    return [c for c in sb.front.calls if c[1] in changing or c[1].startswith("PUT ")]


def test_dry_run_prints_every_step_and_changes_nothing(
        sb: Sandbox, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    envs, account = drill_env(sb, tmp_path)
    primary, replica = key_arns(sb, account, 2)
    grant = aws(sb, account, "kms").create_grant(
        KeyId=primary, GranteePrincipal=f"arn:aws:iam::{account}:role/batch-signer",
        Operations=["Sign"])["GrantId"]
    before = (envs / "prod.yaml").read_text(encoding="utf-8")
    sb.front.calls.clear()

    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"keyplane incident prod {KEY}@g2: DRY RUN, nothing is changed (add " \
                       "--execute to act)"
    numbered = [line.split(" ", 1)[0] for line in lines if line[:2] in ("1.", "2.", "3.", "4.",
                                                                         "5.", "6.")]
    assert numbered == ["1.", "2.", "3.", "4.", "5.", "6."]
    assert f"   {primary} (primary, us-east-1, now Enabled)" in lines
    assert f"   {replica} (replica, {REPLICA}, now Enabled)" in lines
    assert any(grant in line and "batch-signer (Sign)" in line for line in lines)
    assert any(line.startswith("   CloudTrail LookupEvents in us-east-1, us-west-2") for line in lines)
    # the generation was created on 2026-04-01: the event history holds 90 days of it
    assert "   the exposure window starts 2026-04-01T00:00:00Z; the trail holds 90 days: older " \
           "calls are in the trail's log files (a follow-up)" in lines
    assert "   not available: no key of prod declares where its certificates live " \
           f"(`certificates:` in the inventory): find the certificates bound to {KEY}@g2 by " \
           "its public key, or declare them and run `keyplane certs prod`" in lines
    assert "     prod/document-signing: generation 2 -> 3 (reason: compromise)" in lines
    assert "impact: g2 is the current generation" in out
    me = aws(sb, account, "sts").get_caller_identity()["Arn"]
    assert f"acting as: {me} (sandbox: the account's own credentials; --break-glass-role-arn " \
           "or --mfa-serial/--mfa-token assume " \
           f"arn:aws:iam::{account}:role/keyplane-prod-break-glass)" in lines
    # nothing changed: the keys, the grant, the inventory, the evidence
    assert (state(sb, account, primary), state(sb, account, replica)) == ("Enabled", "Enabled")
    assert grants(sb, account, primary) == [grant]
    assert (envs / "prod.yaml").read_text(encoding="utf-8") == before
    assert writes(sb) == []
    assert s3_objects(sb, account, "drills/incidents/") == {}
    assert s3_objects(sb, account, "drills/journal/incident/") == {}
    assert [e["action"] for e in audit_events(envs)] == ["incident.plan"]


def test_dry_run_json_is_a_schema_valid_plan(
        sb: Sandbox, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _account = drill_env(sb, tmp_path)
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--format", "json",
                              "--since", "2026-11-01")
    assert code == 0, err
    doc = json.loads(out)
    validate(doc, "incident")
    assert (doc["mode"], doc["incident_id"], doc["complete"]) == ("dry-run", None, False)
    assert [s["outcome"] for s in doc["steps"]] == ["planned"] * 5
    assert doc["window"] == {"since": "2026-11-01T00:00:00Z", "start": "2026-11-01T00:00:00Z",
                             "end": None, "history_days": 90, "clamped": False}


def test_execute_disables_revokes_lists_callers_rotates_and_records(
        sb: Sandbox, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    envs, account = drill_env(sb, tmp_path)
    primary, replica = key_arns(sb, account, 2)
    creds = key_user_credentials(sb, account, "invoice-run-17")
    sign(sb, creds, f"alias/{KEY}", 3)  # through the alias: CloudTrail names the key's ARN
    sign(sb, creds, replica, 1, region=REPLICA)
    sign(sb, creds, f"alias/{KEY}/g2", 1)
    kms = aws(sb, account, "kms")
    g1 = kms.create_grant(KeyId=primary, Operations=["Sign"],
                          GranteePrincipal=f"arn:aws:iam::{account}:role/batch-signer")["GrantId"]
    g2 = aws(sb, account, "kms", REPLICA).create_grant(
        KeyId=replica, Operations=["Sign", "Verify"],
        GranteePrincipal=f"arn:aws:iam::{account}:role/dr-signer")["GrantId"]
    today = dt.datetime.fromtimestamp(clock.now(), tz=dt.UTC).date().isoformat()

    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes",
                              "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    validate(doc, "incident")
    assert [(s["id"], s["outcome"]) for s in doc["steps"]] == [
        ("disable", "done"), ("revoke-grants", "done"), ("audit-trail", "done"),
        ("certificates", "not-available"), ("rotate", "done")]
    assert doc["complete"] is True and doc["exit_code"] == 0
    # 1. both keys that hold the material are disabled, and a signer is now refused
    assert (state(sb, account, primary), state(sb, account, replica)) == ("Disabled", "Disabled")
    with pytest.raises(ClientError, match="DisabledException"):
        sign(sb, creds, primary, 1)
    # 2. the grants are revoked, in both Regions
    assert grants(sb, account, primary) == [] and grants(sb, account, replica) == []
    assert sorted(g["grant_id"] for g in doc["grants_revoked"]) == sorted([g1, g2])
    # 3. the callers, with their ARNs as STS names them, per Region
    user = f"arn:aws:sts::{account}:assumed-role/keyplane-prod-user-docsign-service/" \
           "invoice-run-17"
    signs = [c for c in doc["callers"] if c["principal_arn"] == user and c["event_name"] == "Sign"]
    assert len(signs) == 1
    assert (signs[0]["count"], signs[0]["failed"], signs[0]["consequence"]) == (5, 0, "re-sign")
    assert sorted(signs[0]["regions"]) == ["us-east-1", REPLICA]
    assert signs[0]["role_arn"] == f"arn:aws:iam::{account}:role/keyplane-prod-user-docsign-service"
    user_events = [e for e in doc["events"] if e["principal_arn"] == user]
    assert sorted((e["key_ref"], e["region"]) for e in user_events) == sorted(
        [(primary, "us-east-1")] * 4 + [(replica, REPLICA)])
    assert doc["window"]["clamped"] is True and doc["window"]["history_days"] == 90
    assert any("holds 90 days: query the trail's log files" in f for f in doc["follow_up"])
    # 4. the certificates step says what to run, it is not silently skipped
    assert doc["steps"][3]["summary"].startswith("no key of prod declares where its "
                                                 "certificates live")
    assert doc["certificates"] is None
    # 5. the rotation is in the inventory, as `keyplane rotate --reason compromise` writes it
    from keyplane.model.loader import load_environment

    key = load_environment(envs / "prod.yaml").key(KEY)
    assert key.generation == 3
    assert [(g.generation, str(g.created_on), g.verify_until and str(g.verify_until), g.enabled)
            for g in key.generations] == [(3, today, None, True), (2, "2026-04-01", today, False)]
    assert "# rotated: compromise" in (envs / "prod.yaml").read_text(encoding="utf-8")
    # the record is where drill evidence goes, and the journal beside it says it finished
    (stored,) = records(sb, account)
    assert stored == doc
    events = journal(sb, account, f"{KEY}@g2")
    assert [e["event"] for e in events] == ["started"] + ["intent", "settled"] * 5 + ["finished"]
    assert {e["incident_id"] for e in events} == {doc["incident_id"]}
    assert [e["action"] for e in audit_events(envs)] == [
        "incident.started", "incident.disable", "incident.revoke-grants", "incident.audit-trail",
        "incident.certificates", "incident.rotate", "incident.finished"]
    # no secret material anywhere: no message, signature or access key in the record
    text = json.dumps(doc)
    assert creds["AccessKeyId"] not in text and creds["SecretAccessKey"] not in text


def test_a_second_execute_finds_everything_done(
        sb: Sandbox, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    envs, account = drill_env(sb, tmp_path)
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes", "--since",
                            "2026-11-20")
    assert code == 0, err
    sb.front.calls.clear()
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes", "--since",
                              "2026-11-20", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert [(s["id"], s["outcome"]) for s in doc["steps"]] == [
        ("disable", "already-done"), ("revoke-grants", "done"), ("audit-trail", "done"),
        ("certificates", "not-available"), ("rotate", "already-done")]
    assert [c for c in sb.front.calls if c[1] in ("DisableKey", "RevokeGrant")] == []
    assert len(records(sb, account)) == 2


def _kill_after_disable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies after the disable, before any grant is revoked, and (as a SIGKILL
    would) leaves its lock behind."""
    from keyplane.cloud.aws.drills import DynamoDbLock
    from keyplane.cloud.aws.incident import AwsIncidentKms

    def killed(self: Any, grant: Any) -> bool:
        raise KeyboardInterrupt
    monkeypatch.setattr(AwsIncidentKms, "revoke", killed)
    monkeypatch.setattr(DynamoDbLock, "release", lambda self, name, owner: None)


def test_a_killed_execute_is_resumed_by_the_next(
        sb: Sandbox, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from keyplane.drills.lock import LEASE_SECONDS

    envs, account = drill_env(sb, tmp_path)
    primary, replica = key_arns(sb, account, 2)
    aws(sb, account, "kms").create_grant(
        KeyId=primary, Operations=["Sign"],
        GranteePrincipal=f"arn:aws:iam::{account}:role/batch-signer")
    with monkeypatch.context() as m:
        _kill_after_disable(m)
        code, _, _ = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes")
    assert code == 130
    assert state(sb, account, primary) == "Disabled" and len(grants(sb, account, primary)) == 1
    first = journal(sb, account, f"{KEY}@g2")
    assert [(e["event"], e.get("step")) for e in first] == [
        ("started", None), ("intent", "disable"), ("settled", "disable"),
        ("intent", "revoke-grants")]
    assert records(sb, account) == []

    # a dry run now shows what the next --execute will resume
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2")
    assert code == 0, err
    assert f"resumes incident {first[0]['incident_id']} (runs {first[0]['run_id']}; settled " \
           "steps: disable)" in out
    assert f"1. disable the generation now [done by run {first[0]['run_id']}]" in out
    # a second run while the dead one's lease lasts is refused: it might still be alive
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes")
    assert code == 3 and "KP702" in err and "already running" in err

    clock.advance(LEASE_SECONDS + 1)
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes",
                              "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    validate(doc, "incident")
    assert doc["incident_id"] == first[0]["incident_id"]
    assert doc["runs"] == [first[0]["run_id"], doc["run_id"]]
    assert [(s["id"], s["outcome"], s["adopted"]) for s in doc["steps"]] == [
        ("disable", "done", True), ("revoke-grants", "done", False),
        ("audit-trail", "done", False), ("certificates", "not-available", False),
        ("rotate", "done", False)]
    assert doc["steps"][0]["run_id"] == first[0]["run_id"]
    assert grants(sb, account, primary) == []
    assert any("took over the lock" in n for n in doc["notes"])
    # the keys were disabled once, by the first run; the window is the first run's
    trail = sb.front.trail.events(account, "us-east-1") + sb.front.trail.events(account, REPLICA)
    disabled = [e["Resources"][0]["ResourceName"] for e in trail
                if e["EventName"] == "DisableKey"]
    assert sorted(r for r in disabled if r in (primary, replica)) == sorted([primary, replica])
    assert [e["event"] for e in journal(sb, account, f"{KEY}@g2")][-1] == "finished"
    assert len(records(sb, account)) == 1


def test_a_verify_only_generation_ends_its_overlap_instead_of_rotating(
        sb: Sandbox, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    from keyplane.model.loader import load_environment

    envs, account = drill_env(sb, tmp_path)
    g3 = aws(sb, account, "kms").describe_key(KeyId="alias/code-signing/g3")["KeyMetadata"]["Arn"]
    g4 = aws(sb, account, "kms").describe_key(KeyId="alias/code-signing/g4")["KeyMetadata"]["Arn"]
    code, out, err = incident(capsys, sb, envs, "code-signing@g3", "--execute", "--yes",
                              "--since", "2026-11-01", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["current"] is False
    assert doc["inventory_change"]["kind"] == "retire"
    today = dt.datetime.fromtimestamp(clock.now(), tz=dt.UTC).date()
    key = load_environment(envs / "prod.yaml").key("code-signing")
    assert key.generation == 4  # g4 was not compromised: it stays current
    assert [(g.generation, g.verify_until, g.enabled) for g in key.generations] == [
        (4, None, True), (3, today, False)]
    assert "enabled: false  # compromised: keyplane incident" in \
        (envs / "prod.yaml").read_text(encoding="utf-8")
    assert state(sb, account, g3) == "Disabled" and state(sb, account, g4) == "Enabled"


def test_a_cloud_kms_version_is_disabled_and_its_audit_logs_are_read(
        sb: Sandbox, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.sandbox.helpers import gcp

    envs, account = drill_env(sb, tmp_path)
    from keyplane.model.loader import load_environment

    project = load_environment(envs / "prod.yaml").gcp.project_id  # type: ignore[union-attr]
    client = gcp(sb)
    crypto_key = f"projects/{project}/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/" \
                 "release-attestation"
    (version,) = [v.name for v in client.list_crypto_key_versions(request={"parent": crypto_key})]
    code, out, err = incident(capsys, sb, envs, "release-attestation@g1", "--execute", "--yes",
                              "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    validate(doc, "incident")
    assert [(s["id"], s["outcome"]) for s in doc["steps"]] == [
        ("disable", "done"), ("revoke-grants", "not-applicable"),
        ("audit-trail", "done"), ("certificates", "not-available"), ("rotate", "done")]
    assert doc["keys"] == [{"ref": version, "region": None, "state": "ENABLED",
                            "role": "version"}]
    got = client.get_crypto_key_version(request={"name": version})
    assert got.state.name == "DISABLED"
    # who used it: Cloud Audit Logs (tests/incident/test_incident_gcp_audit.py)
    assert doc["steps"][2]["details"]["trail"] == "Cloud Logging ListLogEntries"
    assert len(records(sb, account)) == 1  # where drill evidence goes, as for AWS keys


def test_the_certificates_bound_to_the_generation_are_listed_before_it_is_disabled(
        sb: Sandbox, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    # document-signing declares a directory of certificates: one over g2's public key, one
    # over another key's (code-signing@g4), which the incident must not list
    envs, account = drill_env(sb, tmp_path, **{
        "    users: [docsign-service]\n":
        "    users: [docsign-service]\n    certificates:\n      files: [../certs]\n"})
    kms = aws(sb, account, "kms")
    ours = issue(kms.get_public_key(KeyId=f"alias/{KEY}/g2")["PublicKey"], "docsign.acme.example")
    other = issue(kms.get_public_key(KeyId="alias/code-signing/g4")["PublicKey"],
                  "release.acme.example")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "docsign.pem").write_bytes(ours[0])
    (tmp_path / "certs" / "release.pem").write_bytes(other[0])
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes", "--since",
                              "2026-11-01", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    step = doc["steps"][3]
    assert (step["id"], step["outcome"]) == ("certificates", "done")
    assert step["summary"] == f"1 certificate(s) bound to {KEY}@g2: revoke them"
    assert [(c["source"], c["subject"], c["serial"]) for c in doc["certificates"]] == [
        ("file certs/docsign.pem", "CN=docsign.acme.example", ours[1])]
    assert f"revoke CN=docsign.acme.example serial {ours[1]} (file certs/docsign.pem)" in \
        doc["follow_up"]
    assert state(sb, account, key_arns(sb, account, 2)[0]) == "Disabled"
