"""Key policies as data: the guardrails hold before anything is synthesized (no Node needed)."""

from __future__ import annotations

import pytest

from keyplane.desired import policy as pol
from keyplane.model import KeyUsage
from keyplane.model.specs import KeyFamily
from tests.constructs.aws.helpers import example_estate


@pytest.fixture(scope="module")
def prod():
    return example_estate()["prod"]


def _policy(env, key_name, *, verify_only=False, humans=frozenset()):
    key = env.key(key_name)
    return pol.key_policy(pol.KeyPolicyInput(
        principals=pol.AccountPrincipals.of(env), key=key, verify_only=verify_only,
        min_deletion_window_in_days=30, human_workloads=humans))


def _by_sid(doc):
    return {s["Sid"]: s for s in doc["Statement"]}


def test_admin_actions_exclude_every_use_deletion_and_wildcards() -> None:
    admin = set(pol.KMS_ADMIN_ACTIONS) | set(pol.KMS_IMPORT_ACTIONS)
    assert "kms:PutKeyPolicy" in admin
    assert admin.isdisjoint(pol.KMS_USE_ACTIONS)
    assert pol.KMS_DELETE_ACTION not in admin
    assert not any(a == "kms:*" or a.endswith("*") for a in admin)


def test_production_signing_key_policy_keeps_every_guardrail(prod) -> None:
    doc = _policy(prod, "code-signing")
    sids = _by_sid(doc)
    assert set(sids) == {"KeyAdministration", "IamDelegationToKeyAdmins",
                         "DenyKeyUseByAdministrators", "BreakGlassContainCompromise",
                         "BreakGlassScheduleKeyDeletion",
                         "DenyScheduleKeyDeletionExceptBreakGlass", "DenyShortDeletionWindow",
                         "AuditorReadOnly", "KeyUseReleasePipeline"}
    for stmt in doc["Statement"]:
        assert stmt["Principal"] != "*" and stmt["Principal"].get("AWS") != "*"
        if stmt["Effect"] == "Allow" and stmt["Sid"] not in ("KeyAdministration",
                                                             "IamDelegationToKeyAdmins"):
            assert "kms:*" not in stmt["Action"]
    root = "arn:aws:iam::210987654321:root"
    admin_role = "arn:aws:iam::210987654321:role/keyplane-prod-key-admin"
    delegation = sids["IamDelegationToKeyAdmins"]
    assert delegation["Principal"] == {"AWS": root}
    assert admin_role in delegation["Condition"]["ArnEquals"]["aws:PrincipalArn"]
    deny = sids["DenyKeyUseByAdministrators"]
    assert deny["Effect"] == "Deny"
    assert {"kms:Sign", "kms:Verify", "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*",
            "kms:GenerateMac", "kms:ReEncrypt*"} <= set(deny["Action"])
    bg = sids["BreakGlassScheduleKeyDeletion"]
    assert bg["Principal"] == {"AWS": "arn:aws:iam::210987654321:role/keyplane-prod-break-glass"}
    assert bg["Action"] == ["kms:ScheduleKeyDeletion"]
    # keyplane incident: break-glass, with MFA, stops the key's use and cuts its grants; it
    # never uses the key
    contain = sids["BreakGlassContainCompromise"]
    assert contain["Principal"] == bg["Principal"]
    assert contain["Action"] == ["kms:DisableKey", "kms:ListGrants", "kms:RevokeGrant"]
    assert contain["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert bg["Condition"] == {
        "Bool": {"aws:MultiFactorAuthPresent": "true"},
        "NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}}
    assert sids["DenyShortDeletionWindow"]["Condition"] == {
        "NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}}
    assert sids["AuditorReadOnly"]["Action"] == ["kms:Describe*", "kms:Get*", "kms:List*"]
    assert sids["KeyUseReleasePipeline"]["Action"] == [
        "kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:Verify"]
    assert sids["KeyAdministration"]["Principal"] == {"AWS": admin_role}
    assert "kms:PutKeyPolicy" in sids["KeyAdministration"]["Action"]


def test_verify_only_generation_cannot_sign(prod) -> None:
    sids = _by_sid(_policy(prod, "code-signing", verify_only=True))
    assert sids["KeyUseReleasePipeline"]["Action"] == [
        "kms:DescribeKey", "kms:GetPublicKey", "kms:Verify"]


def test_use_actions_follow_usage_and_family() -> None:
    assert pol.use_actions(KeyUsage.MAC, KeyFamily.HMAC) == (
        "kms:DescribeKey", "kms:GenerateMac", "kms:VerifyMac")
    assert "kms:Encrypt" not in pol.use_actions(KeyUsage.ENCRYPT, KeyFamily.SYMMETRIC,
                                                verify_only=True)


def test_ca_key_is_used_only_by_the_ceremony_role_with_mfa(prod) -> None:
    sids = _by_sid(_policy(prod, "pki-root-ca"))
    ceremony = sids["CeremonyKeyUse"]
    assert ceremony["Principal"] == {"AWS": "arn:aws:iam::210987654321:role/keyplane-prod-ceremony"}
    assert ceremony["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert not [s for s in sids if s.startswith("KeyUse")]


def test_human_key_user_needs_mfa() -> None:
    dev = example_estate()["dev"]
    sids = _by_sid(_policy(dev, "dev-tls-issuer", humans=frozenset({"dev-engineers"})))
    assert sids["KeyUseDevEngineers"]["Condition"] == {
        "Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert "Condition" not in sids["KeyUseCiRunner"]


def test_partition_follows_the_region() -> None:
    assert [pol.partition_of(r) for r in ("us-east-1", "us-gov-west-1", "cn-north-1")] == [
        "aws", "aws-us-gov", "aws-cn"]


def test_fails_duplicate_statement_ids() -> None:
    stmt = {"Sid": "Same", "Effect": "Allow"}
    with pytest.raises(ValueError, match=r"^duplicate statement ids: Same$"):
        pol.document([stmt, dict(stmt)])
