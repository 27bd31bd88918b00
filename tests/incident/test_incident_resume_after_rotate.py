"""Resuming `keyplane incident` after its own rotate step changed the inventory.

The first `--execute` fails at the audit-trail step (a fault rule on ListLogEntries or
LookupEvents) and goes on to write the rotation into the environment file: g(N+1) is now
declared current and gN disabled there, while the cloud still holds only gN's key. The
second `--execute` must adopt the open incident and act on the keys its first run
journaled, never on keys re-derived from the inventory it changed itself: on Cloud KMS the
version order mapped onto the inventory's generations would name the only version g(N+1).

End to end against the sandbox: the real google-cloud-kms and google-cloud-logging clients
over gRPC into the Cloud KMS and Cloud Logging fakes; moto behind the front over HTTP, with
the front's CloudTrail event history (moto has no LookupEvents). Each test applies its own
copy of the example prod environment (own account, project and evidence bucket).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyplane.drills.ports import KeyTarget
from keyplane.incident.errors import JournalConflictError, NotDeployedError
from keyplane.incident.identity import locate, locate_journaled
from keyplane.model.environment import Environment
from keyplane.model.loader import load_environment
from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.gcp_fake import GcpFaultRule
from keyplane.sandbox.gcp_logging_fake import PRINCIPAL_METADATA
from keyplane.sandbox.server import Sandbox
from keyplane.schema import validate
from tests.drills.support import drill_env
from tests.incident.support import (
    KEY,
    audit_events,
    grants,
    incident,
    journal,
    key_arns,
    key_user_credentials,
    records,
    sign,
    state,
)
from tests.sandbox.helpers import aws, gcp, start_sandbox

pytestmark = pytest.mark.integration

GCP_KEY = "release-attestation"  # production on Cloud KMS, one generation (g1), one version
CHANGING_CALLS = {"DisableKey", "RevokeGrant", "RetireGrant", "ScheduleKeyDeletion",
                  "PutKeyPolicy", "TagResource", "UntagResource"}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def _recorded(sb: Sandbox) -> Iterator[None]:
    sb.front.calls.clear()
    sb.front.record_calls = True
    yield
    sb.front.rules = []
    sb.kms_fake.rules = []
    sb.kms_fake.record_calls = False
    sb.kms_fake.calls.clear()


def gcp_applied(sb: Sandbox, tmp_path: Path) -> tuple[Path, str, str, str]:
    """(environments dir, account, project, the only version of release-attestation)."""
    envs, account = drill_env(sb, tmp_path)
    project = load_environment(envs / "prod.yaml").gcp.project_id  # type: ignore[union-attr]
    crypto_key = (f"projects/{project}/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/"
                  f"{GCP_KEY}")
    (version,) = [v.name for v in gcp(sb).list_crypto_key_versions(
        request={"parent": crypto_key})]
    return envs, account, project, str(version)


def gcp_sign(sb: Sandbox, version: str, times: int, as_: str) -> None:
    """`times` AsymmetricSign calls with the version, as the principal `as_`."""
    client = gcp(sb)
    for _ in range(times):
        client.asymmetric_sign(request={"name": version, "digest": {
            "sha384": hashlib.sha384(b"provenance of release 4.2").digest()}},
            metadata=[(PRINCIPAL_METADATA, as_)])


def generations(envs: Path, key: str) -> list[tuple[int, bool]]:
    """(generation, enabled) of a key as the environment file declares it now."""
    return [(g.generation, g.enabled) for g in load_environment(envs / "prod.yaml")
            .key(key).generations]


def steps(doc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(id, outcome, adopted) of each step of a record."""
    return [(s["id"], s["outcome"], s["adopted"]) for s in doc["steps"]]


def actions(envs: Path) -> list[str]:
    """The audit events' actions, in order."""
    return [e["action"] for e in audit_events(envs)]


def test_a_cloud_kms_incident_resumes_after_its_rotation_was_written(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, account, project, version = gcp_applied(sb, tmp_path)
    pipeline = f"release-pipeline@{project}.iam.gserviceaccount.com"
    gcp_sign(sb, version, 2, as_=pipeline)
    sb.kms_fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="ListLogEntries")]
    code, out, err = incident(capsys, sb, envs, f"{GCP_KEY}@g1", "--execute", "--yes",
                              "--format", "json")
    assert code == 3, err
    first = json.loads(out)
    assert [(s, o) for s, o, _ in steps(first)] == [
        ("disable", "done"), ("revoke-grants", "not-applicable"), ("audit-trail", "failed"),
        ("certificates", "not-available"), ("rotate", "done")]
    assert first["current"] is True
    # the rotation is in the inventory: g2 declared current, g1 disabled; the cloud still
    # holds the one version, now disabled
    assert generations(envs, GCP_KEY) == [(2, True), (1, False)]
    rotated = (envs / "prod.yaml").read_text(encoding="utf-8")
    assert gcp(sb).get_crypto_key_version(request={"name": version}).state.name == "DISABLED"

    # a dry run shows what the next --execute resumes (it used to refuse: g1 not deployed)
    sb.kms_fake.rules = []
    code, out, err = incident(capsys, sb, envs, f"{GCP_KEY}@g1")
    assert code == 0, err
    assert f"resumes incident {first['incident_id']}" in out
    assert f"{version} (version, now DISABLED): already unusable, left as is" in out

    sb.kms_fake.calls.clear()
    sb.kms_fake.record_calls = True
    code, out, err = incident(capsys, sb, envs, f"{GCP_KEY}@g1", "--execute", "--yes",
                              "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    validate(doc, "incident")
    assert (doc["incident_id"], doc["runs"]) == (first["incident_id"],
                                                 [first["run_id"], doc["run_id"]])
    assert steps(doc) == [
        ("disable", "done", True), ("revoke-grants", "not-applicable", True),
        ("audit-trail", "done", False), ("certificates", "not-available", True),
        ("rotate", "done", True)]
    assert (doc["complete"], doc["exit_code"]) == (True, 0)
    # the version the first run journaled, not one mapped from the changed inventory
    assert [k["ref"] for k in doc["keys"]] == [version]
    assert doc["current"] is True  # as when the incident started, before the rotation
    # the disable is not repeated: no UpdateCryptoKeyVersion in the second run
    assert "UpdateCryptoKeyVersion" not in sb.kms_fake.calls
    assert "ListLogEntries" in sb.kms_fake.calls
    # the audit trail is read this time: the pipeline's two signatures
    assert [(c["principal_arn"], c["event_name"], c["count"]) for c in doc["callers"]] == [
        (pipeline, "AsymmetricSign", 2)]
    # the rotation is not written twice: the file is as the first run left it (no g3)
    assert (envs / "prod.yaml").read_text(encoding="utf-8") == rotated
    assert doc["inventory_change"] == first["inventory_change"]
    assert (doc["inventory_change"]["previous"], doc["inventory_change"]["new"]) == (1, 2)

    entries = journal(sb, account, f"{GCP_KEY}@g1")
    intents = [e["step"] for e in entries if e["event"] == "intent"]
    assert intents == ["disable", "revoke-grants", "audit-trail", "certificates", "rotate",
                       "audit-trail"]
    assert [e["event"] for e in entries][-1] == "finished"
    assert actions(envs).count("incident.disable") == 1
    assert actions(envs).count("incident.rotate") == 1
    assert [e["outcome"] for e in audit_events(envs)
            if e["action"] == "incident.audit-trail"] == ["failed", "ok"]
    assert [r["complete"] for r in records(sb, account)] == [False, True]


def test_a_cloud_kms_resume_refuses_when_the_journaled_version_is_gone(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, _account, _project, version = gcp_applied(sb, tmp_path)
    sb.kms_fake.rules = [GcpFaultRule(code="PERMISSION_DENIED", method="ListLogEntries")]
    code, _, err = incident(capsys, sb, envs, f"{GCP_KEY}@g1", "--execute", "--yes")
    assert code == 3, err
    sb.kms_fake.rules = []
    gcp(sb).destroy_crypto_key_version(request={"name": version})
    rotated = (envs / "prod.yaml").read_text(encoding="utf-8")
    code, _, err = incident(capsys, sb, envs, f"{GCP_KEY}@g1", "--execute", "--yes")
    assert code == 1, err
    assert "KP967" in err and version in err
    assert "no longer lists" in err
    assert (envs / "prod.yaml").read_text(encoding="utf-8") == rotated
    assert actions(envs)[-1] == "incident.refused"


def test_an_aws_incident_resumes_after_its_rotation_was_written(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, account = drill_env(sb, tmp_path)
    primary, replica = key_arns(sb, account, 2)
    creds = key_user_credentials(sb, account, "invoice-run-18")
    sign(sb, creds, f"alias/{KEY}", 2)
    grant = aws(sb, account, "kms").create_grant(
        KeyId=primary, Operations=["Sign"],
        GranteePrincipal=f"arn:aws:iam::{account}:role/batch-signer")["GrantId"]
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="cloudtrail",
                                operation="LookupEvents")]
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes",
                              "--format", "json")
    assert code == 3, err
    first = json.loads(out)
    assert [(s, o) for s, o, _ in steps(first)] == [
        ("disable", "done"), ("revoke-grants", "done"), ("audit-trail", "failed"),
        ("certificates", "not-available"), ("rotate", "done")]
    assert [g["grant_id"] for g in first["grants_revoked"]] == [grant]
    assert generations(envs, KEY) == [(3, True), (2, False)]
    rotated = (envs / "prod.yaml").read_text(encoding="utf-8")

    sb.front.rules = []
    sb.front.calls.clear()
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes",
                              "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    validate(doc, "incident")
    assert doc["incident_id"] == first["incident_id"]
    assert steps(doc) == [
        ("disable", "done", True), ("revoke-grants", "done", True),
        ("audit-trail", "done", False), ("certificates", "not-available", True),
        ("rotate", "done", True)]
    assert (doc["complete"], doc["exit_code"], doc["current"]) == (True, 0, True)
    # the same two keys the first run journaled, both still disabled, not touched again
    assert sorted(k["ref"] for k in doc["keys"]) == sorted([primary, replica])
    assert [c for c in sb.front.calls if c[1] in CHANGING_CALLS] == []
    assert (state(sb, account, primary), state(sb, account, replica)) == ("Disabled", "Disabled")
    assert grants(sb, account, primary) == []
    # the audit trail is read in both Regions this time
    assert sorted({c[2] for c in sb.front.calls if c[1] == "LookupEvents"}) == [
        "us-east-1", "us-west-2"]
    user = f"arn:aws:sts::{account}:assumed-role/keyplane-prod-user-docsign-service/" \
           "invoice-run-18"
    assert [(c["event_name"], c["count"]) for c in doc["callers"]
            if c["principal_arn"] == user] == [("Sign", 2)]
    # the rotation is not written twice (no g4)
    assert (envs / "prod.yaml").read_text(encoding="utf-8") == rotated
    assert generations(envs, KEY) == [(3, True), (2, False)]
    entries = journal(sb, account, f"{KEY}@g2")
    assert [e["step"] for e in entries if e["event"] == "intent"].count("rotate") == 1
    assert [e["event"] for e in entries][-1] == "finished"
    assert actions(envs).count("incident.disable") == 1
    assert actions(envs).count("incident.rotate") == 1
    assert actions(envs)[-1] == "incident.finished"


# --- locating a resumed incident's key, without a server ----------------------------------------


def _rotated_env() -> Environment:
    """release-attestation as the incident's rotate step leaves it: g2 current, g1 disabled."""
    from tests.conftest import EXAMPLE_ENVIRONMENTS

    path = EXAMPLE_ENVIRONMENTS / "prod.yaml"
    env = load_environment(path)
    key = env.key(GCP_KEY)
    gen1 = key.generations[0]
    rotated = key.model_copy(update={"generation": 2, "generations": [
        gen1.model_copy(update={"generation": 2, "created_on": dt.date(2026, 11, 30)}),
        gen1.model_copy(update={"verify_until": dt.date(2026, 11, 30), "enabled": False})]})
    return env.model_copy(update={"keys": [rotated if k.name == GCP_KEY else k
                                           for k in env.keys]})


def _version(n: int, state: str, *, current: bool = False) -> KeyTarget:
    return KeyTarget(key=GCP_KEY, generation=n, ref=f"projects/p/locations/us-east1/keyRings/"
                     f"keyplane-prod/cryptoKeys/{GCP_KEY}/cryptoKeyVersions/{n}",
                     state=state, spec="EC_SIGN_P384_SHA384", current=current)


def test_the_version_order_cannot_name_the_generation_after_the_rotation() -> None:
    """Why the journal pins the version: the inventory now maps the only version to g2."""
    key = _rotated_env().key(GCP_KEY)
    with pytest.raises(NotDeployedError, match="deployed generations of release-attestation: g2"):
        locate(key, 1, [_version(1, "DISABLED", current=True)], aliases={})


def test_the_journaled_version_is_located_whatever_the_inventory_says() -> None:
    key = _rotated_env().key(GCP_KEY)
    v1, v2 = _version(1, "DISABLED"), _version(2, "ENABLED", current=True)
    got = locate_journaled(key, 1, [v2, v1], journaled=[v1.ref], incident_id="inc-1")
    assert (got.target.ref, got.target.generation, got.target.state) == (v1.ref, 1, "DISABLED")
    with pytest.raises(JournalConflictError) as info:
        locate_journaled(key, 1, [v2], journaled=[v1.ref], incident_id="inc-1")
    assert f"{v1.ref}, which Cloud KMS no longer lists" in info.value.message
    assert "inc-1" in info.value.message
    with pytest.raises(JournalConflictError, match="journaled no key"):
        locate_journaled(key, 1, [v1], journaled=[], incident_id="inc-1")


def test_records_of_runs_started_within_one_second_sort_in_run_order() -> None:
    import datetime as dt

    from keyplane.incident.store import record_name

    first = dt.datetime(2026, 11, 29, 13, 55, 1, 100, tzinfo=dt.UTC)
    resumed = first + dt.timedelta(microseconds=900_000)  # the same second
    names = [record_name(t.strftime("%Y%m%dT%H%M%S%fZ"), "20261129T135501Z-aaaaaaaaaaaa", run,
                         "release-attestation", 1)
             for t, run in ((resumed, "20261129T135501Z-ffffffffffff"),
                            (first, "20261129T135501Z-aaaaaaaaaaaa"))]
    assert sorted(names) == names[::-1]  # the first run's record first
