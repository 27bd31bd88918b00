"""Refusals of `keyplane incident`: each a coded error with its exit, an audit event, and
nothing changed; and the break-glass role, assumed with MFA as its trust policy requires
(the sandbox's STS evaluates aws:MultiFactorAuthPresent as AWS does)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.sandbox.server import Sandbox
from tests.drills.support import drill_env
from tests.incident.support import (
    KEY,
    REPLICA,
    audit_events,
    incident,
    journal,
    key_arns,
    records,
    s3_objects,
    session,
    state,
    trust_root,
)
from tests.sandbox.helpers import aws, start_sandbox

pytestmark = pytest.mark.integration
MFA = ("--mfa-serial", "arn:aws:iam::{account}:mfa/alice", "--mfa-token", "123456")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def shared(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One applied environment for the refusals (none of them changes it)."""
    return drill_env(sb, tmp_path_factory.mktemp("shared"))


@pytest.fixture(autouse=True)
def _recorded(sb: Sandbox) -> Iterator[None]:
    sb.front.calls.clear()
    sb.front.record_calls = True
    yield
    sb.front.rules = []


def refused(envs: Path) -> list[str]:
    """The reasons of the refusals in the audit log."""
    return [e["reason"] for e in audit_events(envs) if e["action"] == "incident.refused"]


@pytest.mark.parametrize(("key_ref", "args", "code", "message"), [
    ("no-such-key@g1", (), "KP961", "key no-such-key is not declared in environment prod; "
                                    "declared: pki-root-ca@g1, pki-issuing-ca@g2, "
                                    "code-signing@g4, document-signing@g2, release-artifacts, "
                                    "release-attestation@g1, mesh-mtls-issuer@g3, "
                                    "inventory-records"),
    (f"{KEY}@g9", (), "KP961", f"generation 9 of {KEY} is not declared (declared: g2 (current))"),
    (KEY, (), "KP960", f"name the compromised generation: {KEY}@gN (declared: g2 (current)); "
                       "an incident never defaults to the current generation"),
    ("code-signing@4", (), "KP960", "key 'code-signing@4' must be KEY or KEY@gN (e.g. "
                                    "code-signing or code-signing@g4)"),
    ("release-artifacts@g1", (), "KP961", "key release-artifacts rotates automatically every "
                                          "180 days and has no generations"),
    (f"{KEY}@g2", ("--yes",), "KP960", "--yes confirms an --execute; a dry run needs none"),
    (f"{KEY}@g2", ("--since", "2026-13-01"), "KP960", "--since must be a date (yyyy-mm-dd) or "
                                                      "an RFC 3339 time with a zone"),
    (f"{KEY}@g2", ("--since", "2099-01-01"), "KP960", "--since 2099-01-01 is in the future"),
    (f"{KEY}@g2", ("--execute", "--yes", "--mfa-serial", "arn:aws:iam::1:mfa/a"), "KP960",
     "--mfa-serial and --mfa-token go together, got only --mfa-serial"),
    (f"{KEY}@g2", ("--execute", "--yes", "--mfa-serial", "arn:aws:iam::111122223333:mfa/a",
                   "--mfa-token", "12345"), "KP960", "--mfa-token must be the six digits"),
])
def test_fails_bad_input_before_any_cloud_call(
        sb: Sandbox, shared: tuple[Path, str], capsys: pytest.CaptureFixture[str],
        key_ref: str, args: tuple[str, ...], code: str, message: str) -> None:
    envs, _ = shared
    before = len(refused(envs))
    exit_code, out, err = incident(capsys, sb, envs, key_ref, *args)
    assert exit_code == 2, err
    assert err.startswith(f"keyplane: error {code}: {message}")
    assert out == ""
    assert sb.front.calls == []  # nothing reached the cloud
    assert refused(envs)[before:] == [err.removeprefix("keyplane: error ").strip()]


def test_fails_an_empty_reason(sb: Sandbox, shared: tuple[Path, str],
                               capsys: pytest.CaptureFixture[str]) -> None:
    envs, _ = shared
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g2", reason="   ")
    assert code == 2
    assert "KP960: --reason must say why the generation is compromised" in err


def test_fails_execute_without_confirmation_and_changes_nothing(
        sb: Sandbox, shared: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    envs, account = shared
    primary, _ = key_arns(sb, account, 2)
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute")
    assert code == 2
    assert f"KP965: --execute disables {KEY}@g2 and changes the inventory: confirm with --yes" \
        in err
    assert state(sb, account, primary) == "Enabled"
    assert not [c for c in sb.front.calls if c[1] in ("DisableKey", "RevokeGrant")]
    assert s3_objects(sb, account, "drills/journal/incident/") == {}


def test_fails_a_generation_that_is_declared_but_not_deployed(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the inventory declares g3 (a rotation merged, not applied yet)
    envs, _account = drill_env(sb, tmp_path, **{
        "    generation: 2\n    generations:\n      - generation: 2\n        created_on: "
        "2026-04-01\n":
        "    generation: 3\n    generations:\n      - generation: 3\n        created_on: "
        "2026-11-20\n      - generation: 2\n        created_on: 2026-04-01\n        "
        "verify_until: 2026-12-20\n"})
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g3")
    assert code == 2
    assert err.strip() == f"keyplane: error KP962: {KEY}@g3 is not deployed (deployed " \
                          f"generations of {KEY}: g2); nothing was changed"
    assert refused(envs) == [err.strip().removeprefix("keyplane: error ")]


def test_fails_when_two_keys_claim_the_generation(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, account = drill_env(sb, tmp_path)
    primary, _ = key_arns(sb, account, 2)
    kms = aws(sb, account, "kms")
    impostor = kms.create_key(KeySpec="RSA_3072", KeyUsage="SIGN_VERIFY", Tags=[
        {"TagKey": "keyplane:key", "TagValue": KEY},
        {"TagKey": "keyplane:generation", "TagValue": "2"}])["KeyMetadata"]["Arn"]
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes")
    assert code == 1
    assert f"KP963: 2 keys claim to be {KEY}@g2 ({', '.join(sorted([primary, impostor]))}); " \
           "keyplane does not disable on a guess" in err
    assert state(sb, account, primary) == "Enabled" and state(sb, account, impostor) == "Enabled"


def test_warns_when_an_alias_points_away_from_the_tagged_key(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, account = drill_env(sb, tmp_path)
    primary, _ = key_arns(sb, account, 2)
    kms = aws(sb, account, "kms")
    other = kms.create_key(KeySpec="RSA_3072", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    kms.update_alias(AliasName=f"alias/{KEY}/g2", TargetKeyId=other)
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert next(k["ref"] for k in doc["keys"]) == primary  # the tagged key, not the alias's
    assert doc["warnings"] == [f"alias alias/{KEY}/g2 resolves to {other}, not to {primary}, the "
                               f"key tagged as {KEY}@g2: the incident acts on the tagged key; "
                               "find out who moved the alias (UpdateAlias in the audit trail)"]


def test_the_break_glass_role_is_assumed_with_mfa_and_does_the_disabling(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, account = drill_env(sb, tmp_path)
    primary, replica = key_arns(sb, account, 2)
    # the person on call: the role the inventory names under principals.break_glass.aws
    iam = aws(sb, account, "iam")
    iam.create_role(Path="/break-glass/", RoleName="pki-break-glass",
                    AssumeRolePolicyDocument=trust_root(account))
    oncall = aws(sb, account, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/break-glass/pki-break-glass",
        RoleSessionName="alice")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", oncall["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", oncall["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", oncall["SessionToken"])
    mfa = [a.format(account=account) for a in MFA]
    role = f"arn:aws:iam::{account}:role/keyplane-prod-break-glass"

    # without MFA, STS refuses the role (its trust policy requires MFA): nothing changes
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes",
                            "--break-glass-role-arn", role)
    assert code == 2
    assert f"KP964: the break-glass role {role} requires MFA" in err
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes",
                            "--break-glass-role-arn", role, "--mfa-serial", mfa[1],
                            "--mfa-token", "12345x")
    assert code == 2 and "KP960: --mfa-token must be the six digits" in err
    assert state(sb, account, primary) == "Enabled"

    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes", *mfa,
                              "--since", "2026-11-01", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["acting_as"]["principal"] == role and doc["acting_as"]["assumed"] is True
    assert doc["acting_as"]["mfa_serial"] == mfa[1]
    assert "123456" not in json.dumps(doc)  # the MFA code is never kept
    assert doc["actor"] == f"arn:aws:sts::{account}:assumed-role/pki-break-glass/alice"
    # CloudTrail names the break-glass session as the one that disabled both keys
    session_arn = f"arn:aws:sts::{account}:assumed-role/keyplane-prod-break-glass/" \
                  f"{doc['acting_as']['session_name']}"
    for arn, region in ((primary, "us-east-1"), (replica, REPLICA)):
        got = session(sb, oncall, "cloudtrail", region).lookup_events(LookupAttributes=[
            {"AttributeKey": "ResourceName", "AttributeValue": arn}])["Events"]
        by = [json.loads(e["CloudTrailEvent"])["userIdentity"]["arn"] for e in got
              if e["EventName"] == "DisableKey"]
        assert by == [session_arn]
    assert len(records(sb, account)) == 1


def test_fails_when_sts_refuses_the_break_glass_role(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the account's own credentials are not the person the role trusts: AccessDenied
    envs, account = drill_env(sb, tmp_path)
    primary, _ = key_arns(sb, account, 2)
    mfa = [a.format(account=account) for a in MFA]
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes", *mfa)
    assert code == 2
    assert f"KP964: cannot assume the break-glass role arn:aws:iam::{account}:role/" \
           "keyplane-prod-break-glass: AssumeRole denied (AccessDenied)" in err
    assert err.rstrip().endswith("nothing was changed")
    assert state(sb, account, primary) == "Enabled"
    assert s3_objects(sb, account, "drills/journal/incident/") == {}
    assert any("KP964" in r for r in refused(envs))


def test_fails_closed_when_the_evidence_cannot_be_written(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, account = drill_env(sb, tmp_path)
    primary, _ = key_arns(sb, account, 2)
    aws(sb, account, "s3").delete_bucket(Bucket=f"evidence-{account}")
    code, _, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes")
    assert code == 2
    assert "KP802: cannot write incident records to s3://evidence-" in err
    assert state(sb, account, primary) == "Enabled"
    assert [r.split(":")[0] for r in refused(envs)] == ["KP802"]


def test_a_failed_disable_is_recorded_and_the_other_steps_still_run(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from keyplane.sandbox.aws_front import FaultRule

    envs, account = drill_env(sb, tmp_path)
    primary, replica = key_arns(sb, account, 2)
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="kms",
                                operation="DisableKey", region=REPLICA, status=400)]
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes",
                              "--since", "2026-11-01", "--format", "json")
    assert code == 3, err
    doc = json.loads(out)
    assert [(s["id"], s["outcome"]) for s in doc["steps"]] == [
        ("disable", "failed"), ("revoke-grants", "done"), ("audit-trail", "done"),
        ("certificates", "not-available"), ("rotate", "done")]
    assert doc["steps"][0]["summary"].startswith("disable: DisableKey denied "
                                                 "(AccessDeniedException) in us-west-2")
    assert (state(sb, account, primary), state(sb, account, replica)) == ("Disabled", "Enabled")
    assert doc["complete"] is False
    sb.front.rules = []
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes",
                              "--format", "json")
    assert code == 0, err
    again = json.loads(out)
    assert again["incident_id"] == doc["incident_id"]
    assert next((s["id"], s["outcome"], s["adopted"]) for s in again["steps"]) == (
        "disable", "done", False)
    assert [s["adopted"] for s in again["steps"][1:]] == [True, True, True, True]
    assert state(sb, account, replica) == "Disabled"


def test_a_throttled_audit_trail_is_a_failed_step_never_an_empty_list_of_callers(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from keyplane.sandbox.aws_front import FaultRule

    envs, account = drill_env(sb, tmp_path)
    sb.front.rules = [FaultRule(error="ThrottlingException", service="cloudtrail",
                                operation="LookupEvents")]
    code, out, err = incident(capsys, sb, envs, f"{KEY}@g2", "--execute", "--yes",
                              "--since", "2026-11-01", "--format", "json")
    assert code == 3, err
    doc = json.loads(out)
    trail = doc["steps"][2]
    assert (trail["id"], trail["outcome"]) == ("audit-trail", "failed")
    assert trail["summary"].startswith("CloudTrail LookupEvents: LookupEvents throttled "
                                       "(ThrottlingException) in us-east-1")
    assert doc["callers"] == [] and doc["complete"] is False
    assert [e["event"] for e in journal(sb, account, f"{KEY}@g2")][-1] == "settled"
