"""Separation-of-duties roles, asserted on the synthesized JSON."""

from __future__ import annotations

import json

import pytest

from keyplane.errors import KeyplaneError
from keyplane.model import Tier
from tests.constructs.aws.helpers import example_estate, resources, synth_aws_estate

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def prod_roles():
    return resources(synth_aws_estate()[1]["prod"], "aws_iam_role")


@pytest.fixture(scope="module")
def prod_policies():
    return {p: json.loads(b["policy"])
            for p, b in resources(synth_aws_estate()[1]["prod"], "aws_iam_role_policy").items()}


def test_roles_are_named_and_tagged_by_duty(prod_roles) -> None:
    by_name = {b["name"]: b["tags"]["keyplane:role"] for b in prod_roles.values()}
    assert by_name == {
        "keyplane-prod-key-admin": "key-admin",
        "keyplane-prod-break-glass": "break-glass",
        "keyplane-prod-auditor": "auditor",
        "keyplane-prod-backup-operator": "backup-operator",
        "keyplane-prod-ceremony": "ceremony",
        "keyplane-prod-user-release-pipeline": "key-user",
        "keyplane-prod-user-docsign-service": "key-user",
        "keyplane-prod-user-cert-inventory": "key-user",
        "keyplane-prod-cloudtrail-logs": "service",
        "keyplane-prod-backup-service": "service",
    }
    for body in prod_roles.values():
        assert body["tags"]["keyplane:tier"] == "ca"  # the highest tier the roles serve


def test_key_admin_administers_but_is_denied_use_and_deletion(prod_policies) -> None:
    stmts = {s["Sid"]: s for s in prod_policies["aws/iam/key-admin-policy"]["Statement"]}
    assert "kms:PutKeyPolicy" in stmts["AdministerKeys"]["Action"]
    assert stmts["AdministerKeys"]["Resource"] == [
        "arn:aws:kms:*:210987654321:key/*", "arn:aws:kms:*:210987654321:alias/*"]
    assert stmts["DenyKeyUse"]["Effect"] == "Deny"
    assert {"kms:Sign", "kms:Verify", "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*",
            "kms:GenerateMac", "kms:ReEncrypt*"} <= set(stmts["DenyKeyUse"]["Action"])
    assert stmts["DenyKeyDeletion"]["Action"] == ["kms:ScheduleKeyDeletion"]


def test_break_glass_needs_mfa_and_the_tier_floor(prod_roles, prod_policies) -> None:
    trust = json.loads(prod_roles["aws/iam/break-glass"]["assume_role_policy"])
    assert trust["Statement"][0]["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert trust["Statement"][0]["Principal"] == {
        "AWS": "arn:aws:iam::210987654321:role/break-glass/pki-break-glass"}
    stmts = {s["Sid"]: s for s in prod_policies["aws/iam/break-glass-policy"]["Statement"]}
    assert stmts["ScheduleKeyDeletion"]["Condition"] == {
        "Bool": {"aws:MultiFactorAuthPresent": "true"},
        "NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}}


def test_oidc_workload_trusts_exact_audience_and_subject(prod_roles) -> None:
    doc = synth_aws_estate()[1]["prod"]
    (oidc,) = resources(doc, "aws_iam_openid_connect_provider").values()
    assert oidc["url"] == "https://token.actions.githubusercontent.com"
    assert oidc["client_id_list"] == ["sts.amazonaws.com"]
    (stmt,) = json.loads(prod_roles["aws/iam/user-release-pipeline"]["assume_role_policy"])[
        "Statement"]
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Principal"]["Federated"].startswith("${aws_iam_openid_connect_provider.")
    assert stmt["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub":
            "repo:acme/release-tooling:environment:production"}}


def test_key_user_may_use_only_its_keys_for_their_usage(prod_policies) -> None:
    stmts = prod_policies["aws/iam/user-docsign-service-policy"]["Statement"]
    assert [s["Action"] for s in stmts] == [
        ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:Verify"]]
    resources_ = stmts[0]["Resource"]
    assert all("document-signing_g2" in r for r in resources_) and len(resources_) == 2
    pipeline = prod_policies["aws/iam/user-release-pipeline-policy"]["Statement"]
    text = json.dumps(pipeline)
    assert "code-signing_g4" in text and "release-artifacts" in text
    assert "document-signing" not in text and "pki-" not in text
    verify = next(s for s in pipeline if "code-signing_g3" in json.dumps(s["Resource"]))
    assert "kms:Sign" not in verify["Action"] and "kms:Verify" in verify["Action"]


def test_ceremony_role_uses_ca_keys_with_mfa(prod_policies) -> None:
    stmts = prod_policies["aws/iam/ceremony-policy"]["Statement"]
    assert all(s["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
               for s in stmts)
    text = json.dumps(stmts)
    assert "pki-root-ca" in text and "pki-issuing-ca_g2" in text and "code-signing" not in text


def test_auditor_is_read_only(prod_policies) -> None:
    stmts = prod_policies["aws/iam/auditor-policy"]["Statement"]
    actions = {a for s in stmts for a in s["Action"]}
    assert actions == {"kms:Describe*", "kms:Get*", "kms:List*", "kms:ListAliases",
                       "kms:ListKeys", "cloudtrail:LookupEvents"}
    assert all(s["Effect"] == "Allow" for s in stmts)


def test_human_key_user_needs_mfa_in_non_production() -> None:
    doc = synth_aws_estate()[1]["dev"]
    roles = resources(doc, "aws_iam_role")
    (stmt,) = json.loads(roles["aws/iam/user-dev-engineers"]["assume_role_policy"])["Statement"]
    assert stmt["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    policies = resources(doc, "aws_iam_role_policy")
    (use,) = json.loads(policies["aws/iam/user-dev-engineers-policy"]["policy"])["Statement"]
    assert use["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


# ---- invalid configurations ----

@pytest.fixture(scope="module")
def iam():
    from keyplane.desired import aws as iam

    return iam


def _fails(fn, code: str, message: str) -> None:
    with pytest.raises(KeyplaneError) as info:
        fn()
    assert (info.value.code, info.value.message) == (code, message)


def test_fails_without_a_break_glass_aws_principal(iam) -> None:
    env = example_estate()["prod"]
    pr = env.principals.model_copy(update={"break_glass": env.principals.break_glass.model_copy(
        update={"aws": ()})})
    env = env.model_copy(update={"principals": pr})
    _fails(lambda: iam.SeparationOfDutiesConfig(env=env, tier=Tier.CA), "KP306",
           "principals.break_glass.aws is empty; an environment with aws keys needs at least one")


def test_fails_ca_keys_without_a_ceremony_role(iam) -> None:
    env = example_estate()["prod"]
    env = env.model_copy(update={"principals": env.principals.model_copy(
        update={"ceremony": None})})
    _fails(lambda: iam.SeparationOfDutiesConfig(env=env, tier=Tier.CA), "KP306",
           "ca keys need principals.ceremony.aws (the ceremony role, mfa required)")


def test_fails_wildcard_oidc_subject(iam) -> None:
    env = example_estate()["prod"]
    wl = env.workload("release-pipeline")
    oidc = wl.aws.oidc.model_copy(update={"subject": "repo:acme/*"})
    wl = wl.model_copy(update={"aws": wl.aws.model_copy(update={"oidc": oidc})})
    env = env.model_copy(update={"workloads": tuple(
        wl if w.name == wl.name else w for w in env.workloads)})
    _fails(lambda: iam.SeparationOfDutiesConfig(env=env, tier=Tier.CA), "KP306",
           "oidc subject of 'release-pipeline' must be exact, got 'repo:acme/*'")
