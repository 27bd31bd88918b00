"""Tiered KMS keys and signing-key generations, asserted on the synthesized JSON."""

from __future__ import annotations

import json

import pytest

from keyplane.errors import KeyplaneError
from keyplane.model import Tier
from tests.constructs.aws.helpers import example_estate, resources, statements, synth_aws_estate

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def docs():
    return synth_aws_estate()[1]


def _keys(doc):
    return resources(doc, "aws_kms_key")


def test_ca_keys_live_in_the_cloudhsm_key_store_without_rotation(docs) -> None:
    keys = _keys(docs["prod"])
    for path in ("aws/keys/pki-root-ca/g1/key", "aws/keys/pki-issuing-ca/g2/key"):
        key = keys[path]
        assert key["customer_master_key_spec"] == "SYMMETRIC_DEFAULT"
        assert key["key_usage"] == "ENCRYPT_DECRYPT"
        assert key["custom_key_store_id"].startswith("${data.aws_kms_custom_key_store.")
        # written out although they are the provider's defaults: a plan then shows them as
        # configured, and the gate judges them without waiting for the apply
        assert key["enable_key_rotation"] is False and "rotation_period_in_days" not in key
        assert key["deletion_window_in_days"] == 30
        assert key["lifecycle"] == {"prevent_destroy": True}
        assert key["multi_region"] is False
        assert key["bypass_policy_lockout_safety_check"] is False
    assert not [p for p in resources(docs["prod"], "aws_kms_replica_key") if "-ca/" in p]


def test_production_symmetric_key_rotates_and_replicates(docs) -> None:
    doc = docs["prod"]
    key = _keys(doc)["aws/keys/release-artifacts/key"]
    assert (key["enable_key_rotation"], key["rotation_period_in_days"]) == (True, 180)
    assert key["multi_region"] is True
    assert key["lifecycle"] == {"prevent_destroy": True}
    assert key["tags"] == {"keyplane:env": "prod", "keyplane:tier": "production",
                           "keyplane:key": "release-artifacts"}
    replica = resources(doc, "aws_kms_replica_key")["aws/keys/release-artifacts/replica-us-west-2"]
    assert replica["provider"] == "aws.us_west_2"
    assert replica["primary_key_arn"].startswith("${aws_kms_key.aws_keys_release-artifacts_key_")
    assert replica["deletion_window_in_days"] == 30
    assert replica["lifecycle"] == {"prevent_destroy": True}
    assert replica["policy"] == key["policy"]
    aliases = resources(doc, "aws_kms_alias")
    assert aliases["aws/keys/release-artifacts/alias"]["name"] == "alias/release-artifacts"
    assert aliases["aws/keys/release-artifacts/alias-us-west-2"]["provider"] == "aws.us_west_2"


def test_signing_key_has_one_key_per_generation_and_the_alias_follows_the_current(docs) -> None:
    doc = docs["prod"]
    keys = _keys(doc)
    g3, g4 = keys["aws/keys/code-signing/g3/key"], keys["aws/keys/code-signing/g4/key"]
    for key in (g3, g4):
        assert key["customer_master_key_spec"] == "ECC_NIST_P384"
        assert key["key_usage"] == "SIGN_VERIFY"
        assert key["is_enabled"] is True  # verify-only g3 stays enabled
        assert key["enable_key_rotation"] is False  # asymmetric keys cannot rotate
    assert g4["tags"]["keyplane:generation"] == "4"
    assert g4["tags"]["keyplane:created-on"] == "2026-11-16"
    assert g3["tags"]["keyplane:created-on"] == "2025-12-01"
    aliases = resources(doc, "aws_kms_alias")
    assert aliases["aws/keys/code-signing/alias"] == {
        **aliases["aws/keys/code-signing/alias"], "name": "alias/code-signing"}
    assert "aws_keys_code-signing_g4_key_" in aliases["aws/keys/code-signing/alias"][
        "target_key_id"]
    assert aliases["aws/keys/code-signing/g3/alias"]["name"] == "alias/code-signing/g3"
    assert aliases["aws/keys/code-signing/g4/alias"]["name"] == "alias/code-signing/g4"
    assert "kms:Sign" in statements(g4)["KeyUseReleasePipeline"]["Action"]
    assert "kms:Sign" not in statements(g3)["KeyUseReleasePipeline"]["Action"]
    replicas = resources(doc, "aws_kms_replica_key")
    assert {"aws/keys/code-signing/g3/replica-us-west-2",
            "aws/keys/code-signing/g4/replica-us-west-2"} <= set(replicas)


def test_disabled_generation_is_disabled_but_kept(docs) -> None:
    keys = _keys(docs["prod"])
    assert keys["aws/keys/pki-issuing-ca/g1/key"]["is_enabled"] is False
    assert keys["aws/keys/pki-issuing-ca/g2/key"]["is_enabled"] is True
    staging = _keys(docs["staging"])
    assert staging["aws/keys/staging-code-signing/g1/key"]["is_enabled"] is False


def test_non_production_keys(docs) -> None:
    doc = docs["staging"]
    wrap = _keys(doc)["aws/keys/staging-escrow-wrap/key"]
    assert (wrap["rotation_period_in_days"], wrap["deletion_window_in_days"]) == (365, 14)
    assert "lifecycle" not in wrap and wrap["multi_region"] is False
    external = resources(doc, "aws_kms_external_key")["aws/keys/partner-test-signing/g1/key"]
    assert (external["key_spec"], external["key_usage"]) == ("RSA_3072", "SIGN_VERIFY")
    assert "key_material_base64" not in external
    assert external["deletion_window_in_days"] == 14
    sids = statements(external)
    assert {"kms:ImportKeyMaterial", "kms:GetParametersForImport"} <= set(
        sids["KeyAdministration"]["Action"])


def test_ephemeral_keys(docs) -> None:
    keys = _keys(docs["dev"])
    data = keys["aws/keys/ci-job-data/key"]
    assert (data["rotation_period_in_days"], data["deletion_window_in_days"]) == (90, 7)
    assert data["tags"]["keyplane:tier"] == "ephemeral"
    hmac = keys["aws/keys/webhook-hmac/g7/key"]
    assert (hmac["customer_master_key_spec"], hmac["key_usage"]) == ("HMAC_256",
                                                                     "GENERATE_VERIFY_MAC")
    assert hmac["enable_key_rotation"] is False and hmac["deletion_window_in_days"] == 7


def test_every_taggable_resource_carries_env_and_tier(docs) -> None:
    for env, doc in docs.items():
        for rtype, items in doc["resource"].items():
            for body in items.values():
                if "tags" in body:
                    assert body["tags"]["keyplane:env"] == env, (rtype, body["//"])
                    assert body["tags"]["keyplane:tier"] in (
                        "ca", "production", "non-production", "ephemeral")
                if rtype in ("aws_kms_key", "aws_kms_external_key", "aws_kms_replica_key"):
                    path = body["//"]["metadata"]["path"]
                    # declared keys by name, keyplane's own audit/backup keys as keyplane/<use>
                    want = ("keyplane/audit" if "/audit/" in path else "keyplane/backup"
                            if "/backup/" in path else None)
                    if want:
                        assert body["tags"]["keyplane:key"] == want, path
                    else:
                        assert "keyplane:key" in body["tags"], path


def test_no_key_policy_has_a_wildcard_principal(docs) -> None:
    for doc in docs.values():
        for rtype in ("aws_kms_key", "aws_kms_external_key", "aws_kms_replica_key"):
            for body in resources(doc, rtype).values():
                for stmt in json.loads(body["policy"])["Statement"]:
                    assert "*" not in json.dumps(stmt["Principal"])


# ---- invalid configurations fail before any resource exists ----

@pytest.fixture(scope="module")
def kms():
    from keyplane.desired import aws as kms

    return kms


def _fails(fn, code: str, message: str) -> None:
    with pytest.raises(KeyplaneError) as info:
        fn()
    assert (info.value.code, info.value.message) == (code, message)


def test_fails_rotation_on_an_asymmetric_key(kms) -> None:
    key = example_estate()["prod"].key("code-signing").model_copy(
        update={"rotation_period_in_days": 365})
    _fails(lambda: kms.TieredKmsKeyConfig(env_name="prod", key=key, policy={},
                                          provider_regions=("us-west-2",)),
           "KP302", "key 'code-signing' cannot rotate automatically: asymmetric keys cannot "
                    "rotate automatically; use generations")


def test_fails_cloudhsm_key_without_a_key_store(kms) -> None:
    key = example_estate()["prod"].key("pki-root-ca")
    _fails(lambda: kms.ManagedKeyConfig(env_name="prod", key=key, policy={}),
           "KP301", "key 'pki-root-ca' has origin cloudhsm and needs a custom_key_store_id")


def test_fails_deletion_window_below_the_tier_floor(kms) -> None:
    key = example_estate()["staging"].key("staging-escrow-wrap").model_copy(
        update={"deletion_window_in_days": 7, "tier": Tier.PRODUCTION, "replica_regions": ("us-west-2",)})
    _fails(lambda: kms.ManagedKeyConfig(env_name="staging", key=key, policy={},
                                        provider_regions=("us-west-2",)),
           "KP303", "key 'staging-escrow-wrap': deletion_window_in_days must be at least 30 "
                    "for the production tier, got 7")


def test_fails_production_key_without_replica(kms) -> None:
    key = example_estate()["prod"].key("release-artifacts").model_copy(
        update={"replica_regions": ()})
    _fails(lambda: kms.ManagedKeyConfig(env_name="prod", key=key, policy={}),
           "KP304", "key 'release-artifacts': production keys need at least 1 replica "
                    "region(s), got 0")


def test_fails_replica_region_without_provider(kms) -> None:
    key = example_estate()["prod"].key("release-artifacts")
    _fails(lambda: kms.ManagedKeyConfig(env_name="prod", key=key, policy={}),
           "KP304", "key 'release-artifacts': no provider for replica region(s) us-west-2")


def test_fails_current_generation_not_declared(kms) -> None:
    key = example_estate()["dev"].key("webhook-hmac").model_copy(update={"generation": 8})
    _fails(lambda: kms.ManagedKeyConfig(env_name="dev", key=key, policy={}),
           "KP305", "key 'webhook-hmac': current generation 8 is not among the declared "
                    "generations (7)")


def test_fails_generation_key_without_generation(kms) -> None:
    key = example_estate()["dev"].key("webhook-hmac")
    _fails(lambda: kms.TieredKmsKeyConfig(env_name="dev", key=key, policy={}),
           "KP305", "key 'webhook-hmac' cannot rotate automatically (hmac keys cannot rotate "
                    "automatically; use generations) and needs a generation")
