"""Drills pin identity: the canary proves the deployed key, not whatever an alias points to.

An attacker who can call UpdateAlias moves `alias/code-signing` to a key of their own; a
canary that signed with it would record PASSED. The key at the alias must be tagged as the
key's current generation, and a generation's public key must stay the one recorded at its
first passing drill. A verify-only generation lost inside its overlap window is a finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.sandbox.server import Sandbox
from tests.drills.support import drill, drill_env, result, use_clock
from tests.sandbox.helpers import aws, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def _rogue(sb: Sandbox, acct: str, tags: dict[str, str] | None = None) -> str:
    kms = aws(sb, acct, "kms")
    kwargs = {"Tags": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]} if tags else {}
    arn = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY",
                         **kwargs)["KeyMetadata"]["Arn"]
    kms.update_alias(AliasName="alias/code-signing", TargetKeyId=arn)
    return str(arn)


def _canary(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path):
    return drill(capsys, sb, envs, "prod", "--key", "code-signing", "--kind", "sign-canary")


def test_an_alias_moved_to_an_untagged_key_is_an_integrity_alarm(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    rogue = _rogue(sb, acct)
    sb.front.calls.clear()
    sb.front.record_calls = True
    code, report, _ = _canary(capsys, sb, envs)
    current = result(report, "sign-canary", "code-signing")
    assert code == 1
    assert (current["outcome"], current["generation"]) == ("INTEGRITY_ALARM", None)
    assert current["reason"] == (f"alias/code-signing does not resolve to the deployed generation "
                                 f"of code-signing: {rogue} carries no keyplane:key tag; nothing "
                                 "was signed")
    # the rogue key never signed; the deployed g4 (now without its alias) still proves itself
    # one ECDSA signature per deployed generation (g4, g3): none by the rogue key
    assert sum(1 for c in sb.front.calls if c[1] == "Sign") == 2
    assert {(r["generation"], r["outcome"]) for r in report["results"]} >= {
        (None, "INTEGRITY_ALARM"), (4, "PASSED")}


def test_a_tagged_impostor_is_caught_by_the_recorded_public_key(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path, **{
        "evidence_location: s3://": f"evidence_location: {tmp_path}/ev #"})
    use_clock(monkeypatch, sb)
    code, first, err = _canary(capsys, sb, envs)
    assert code == 0, err
    recorded = result(first, "sign-canary", "code-signing")["details"]["public_key_sha256"]
    # the attacker untags the real g4 and gives a key of their own its tags: only the public
    # key recorded at g4's first drill gives the swap away
    kms = aws(sb, acct, "kms")
    real = kms.describe_key(KeyId="alias/code-signing")["KeyMetadata"]["KeyId"]
    kms.untag_resource(KeyId=real, TagKeys=["keyplane:key", "keyplane:generation"])
    _rogue(sb, acct, {"keyplane:env": "prod", "keyplane:tier": "production",
                      "keyplane:key": "code-signing", "keyplane:generation": "4"})
    code, report, _ = _canary(capsys, sb, envs)
    alarm = next(r for r in report["results"] if r["generation"] == 4)
    assert code == 1 and alarm["outcome"] == "INTEGRITY_ALARM"
    assert alarm["reason"].startswith("the public key of code-signing generation 4 changed since "
                                      f"its first drill (recorded {recorded}, now ")


def test_a_verify_only_generation_pending_deletion_inside_its_overlap_is_a_finding(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path, **{"verify_until: 2026-12-16": "verify_until: 2099-12-16"})
    use_clock(monkeypatch, sb)
    kms = aws(sb, acct, "kms")
    g3 = next(k["KeyId"] for k in kms.list_keys()["Keys"] if {
        t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=k["KeyId"])["Tags"]}
        .items() >= {("keyplane:key", "code-signing"), ("keyplane:generation", "3")})
    kms.schedule_key_deletion(KeyId=g3, PendingWindowInDays=30)
    code, report, _ = _canary(capsys, sb, envs)
    g3_result = next(r for r in report["results"] if r["generation"] == 3)
    assert code == 1
    assert g3_result["outcome"] == "KEY_STATE"
    assert g3_result["reason"] == ("verify-only generation 3 of code-signing is PendingDeletion "
                                   "inside its overlap window (verify until 2099-12-16): "
                                   "signatures it made can no longer be verified")


def test_two_keys_claiming_one_generation_are_an_integrity_alarm(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    envs, acct = drill_env(sb, tmp_path)
    use_clock(monkeypatch, sb)
    rogue = _rogue(sb, acct, {"keyplane:env": "prod", "keyplane:tier": "production",
                              "keyplane:key": "code-signing", "keyplane:generation": "4"})
    code, report, _ = _canary(capsys, sb, envs)
    g4 = next(r for r in report["results"] if r["generation"] == 4)
    assert code == 1 and g4["outcome"] == "INTEGRITY_ALARM"
    assert g4["reason"].startswith("2 keys are tagged as generation 4 of code-signing (")
    assert rogue in g4["reason"] and g4["reason"].endswith("; nothing was signed")
