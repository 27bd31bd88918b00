"""GcpEnvironment: assertions on the synthesized Terraform JSON, one synth per environment."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keyplane.model import Environment, load_estate
from tests.conftest import EXAMPLE_ENVIRONMENTS, scratch_dir

pytestmark = pytest.mark.synth

REPO = Path(__file__).resolve().parents[3]
DAY = 86_400
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def envs(env_builder: Callable[[dict[str, Any]], Environment],
         hand_made: dict[str, Callable[[], dict[str, Any]]]) -> dict[str, Environment]:
    """The example estate plus the hand-made environments."""
    estate = load_estate(sorted(EXAMPLE_ENVIRONMENTS.glob("*.yaml")))
    out = {e.name: e for e in estate.environments}
    out.update({name: env_builder(make()) for name, make in hand_made.items()})
    return out


def _synth(env: Environment) -> str:
    import cdktn

    from keyplane.constructs.gcp import GcpEnvironment

    app = cdktn.Testing.app(outdir=str(scratch_dir("cdktn-app-")))
    stack = cdktn.TerraformStack(app, env.name)
    GcpEnvironment(stack, "gcp", env=env)
    return str(cdktn.Testing.synth(stack))


@pytest.fixture(scope="module")
def synth(envs: dict[str, Environment]) -> dict[str, Doc]:
    """Each environment synthesized once; prod a second time for the determinism check."""
    docs = {name: json.loads(_synth(env)) for name, env in envs.items()}
    docs["prod-again"] = json.loads(_synth(envs["prod"]))
    return docs


def resources(doc: Doc, rtype: str) -> dict[str, Doc]:
    """Resources of one type, keyed by construct id (the logical id without scope and hash)."""
    out = {}
    for logical, body in doc.get("resource", {}).get(rtype, {}).items():
        m = re.match(r"^gcp_(.+)_[0-9A-F]{8}$", logical)
        assert m, logical
        out[m.group(1)] = body
    return out


def one(doc: Doc, rtype: str, construct_id: str) -> Doc:
    """The resource of `rtype` with `construct_id`."""
    found = resources(doc, rtype)
    assert construct_id in found, sorted(found)
    return found[construct_id]


def crypto_keys(doc: Doc) -> dict[str, Doc]:
    """Crypto keys by their Cloud KMS name."""
    return {body["name"]: body for body in resources(doc, "google_kms_crypto_key").values()}


# ---- keys ----

def test_estate_gcp_keys_become_crypto_keys(synth: dict[str, Doc]) -> None:
    assert sorted(crypto_keys(synth["prod"])) == [
        "inventory-records", "keyplane-audit", "mesh-mtls-issuer", "release-attestation"]
    assert sorted(crypto_keys(synth["staging"])) == ["keyplane-audit", "staging-mesh-issuer"]
    assert sorted(crypto_keys(synth["dev"])) == ["per-deploy-data"]


def test_one_key_ring_per_ring_and_location(synth: dict[str, Doc]) -> None:
    rings = resources(synth["prod"], "google_kms_key_ring")
    assert rings == {"ring-keyplane-prod-us-east1": {
        "name": "keyplane-prod", "location": "us-east1", "project": "acme-pki-prod"}}
    key = crypto_keys(synth["prod"])["release-attestation"]
    assert "google_kms_key_ring.gcp_ring-keyplane-prod-us-east1_" in key["key_ring"]


@pytest.mark.parametrize(("env", "key", "purpose", "algorithm", "level"), [
    ("prod", "release-attestation", "ASYMMETRIC_SIGN", "EC_SIGN_P384_SHA384", "HSM"),
    ("prod", "mesh-mtls-issuer", "ASYMMETRIC_SIGN", "RSA_SIGN_PSS_3072_SHA256", "HSM"),
    ("prod", "inventory-records", "ENCRYPT_DECRYPT", "GOOGLE_SYMMETRIC_ENCRYPTION", "HSM"),
    ("staging", "staging-mesh-issuer", "ASYMMETRIC_SIGN", "EC_SIGN_P256_SHA256", "SOFTWARE"),
    ("dev", "per-deploy-data", "ENCRYPT_DECRYPT", "GOOGLE_SYMMETRIC_ENCRYPTION", "SOFTWARE"),
    ("pki", "root-ca", "ASYMMETRIC_SIGN", "EC_SIGN_P384_SHA384", "HSM"),
    ("pki", "webhook-mac", "MAC", "HMAC_SHA256", "HSM"),
    ("pki", "records-unwrap", "ASYMMETRIC_DECRYPT", "RSA_DECRYPT_OAEP_3072_SHA256", "HSM"),
    ("partner-test", "escrow-wrap", "ENCRYPT_DECRYPT", "GOOGLE_SYMMETRIC_ENCRYPTION", "HSM"),
    ("partner-test", "partner-signing", "ASYMMETRIC_SIGN", "RSA_SIGN_PSS_3072_SHA256",
     "SOFTWARE"),
    ("ci", "job-mac", "MAC", "HMAC_SHA256", "SOFTWARE"),
])
def test_purpose_algorithm_and_protection_level(synth: dict[str, Doc], env: str, key: str,
                                                purpose: str, algorithm: str,
                                                level: str) -> None:
    body = crypto_keys(synth[env])[key]
    assert body["purpose"] == purpose
    assert body["version_template"] == {"algorithm": algorithm, "protection_level": level}


def test_rotation_only_on_symmetric_keys(synth: dict[str, Doc]) -> None:
    seen = {}
    for name, doc in synth.items():
        for key, body in crypto_keys(doc).items():
            symmetric = body["version_template"]["algorithm"] == "GOOGLE_SYMMETRIC_ENCRYPTION"
            assert ("rotation_period" in body) == symmetric, (name, key)
            if symmetric:
                seen[(name, key)] = body["rotation_period"]
    assert seen[("prod", "inventory-records")] == f"{90 * DAY}s"
    assert seen[("dev", "per-deploy-data")] == f"{7 * DAY}s"
    assert seen[("partner-test", "escrow-wrap")] == f"{30 * DAY}s"
    # keyplane's own audit key rotates as often as the strictest tier allows (90 days)
    assert seen[("prod", "keyplane-audit")] == f"{90 * DAY}s"


@pytest.mark.parametrize(("env", "key", "days", "prevent"), [
    ("prod", "release-attestation", 30, True),
    ("prod", "inventory-records", 30, True),
    ("pki", "root-ca", 30, True),
    ("staging", "staging-mesh-issuer", 14, False),
    ("partner-test", "escrow-wrap", 10, False),
    ("dev", "per-deploy-data", 7, False),
    ("ci", "job-mac", 7, False),
    ("staging", "keyplane-audit", 14, True),  # it encrypts the locked audit trail
])
def test_destroy_scheduled_duration_and_prevent_destroy(synth: dict[str, Doc], env: str,
                                                        key: str, days: int,
                                                        prevent: bool) -> None:
    body = crypto_keys(synth[env])[key]
    assert body["destroy_scheduled_duration"] == f"{days * DAY}s"
    assert body.get("lifecycle", {}).get("prevent_destroy", False) is prevent


def test_labels_name_env_tier_key_and_current_generation(synth: dict[str, Doc]) -> None:
    keys = crypto_keys(synth["prod"])
    assert keys["inventory-records"]["labels"] == {
        "keyplane-env": "prod", "keyplane-tier": "production", "keyplane-key": "inventory-records"}
    assert keys["mesh-mtls-issuer"]["labels"] == {
        "keyplane-env": "prod", "keyplane-tier": "production", "keyplane-key": "mesh-mtls-issuer",
        "keyplane-generation": "3", "keyplane-created-on": "2026-08-20"}
    assert keys["keyplane-audit"]["labels"] == {"keyplane-env": "prod",
                                                "keyplane-tier": "production"}


def test_provider_project_region_and_default_labels(synth: dict[str, Doc]) -> None:
    assert synth["prod"]["provider"]["google"] == [{
        "project": "acme-pki-prod", "region": "us-east1",
        "default_labels": {"keyplane-env": "prod"}}]
    assert synth["partner-test"]["provider"]["google"][0]["region"] == "europe-west1"


# ---- generations ----

def test_generations_become_versions_with_states(synth: dict[str, Doc]) -> None:
    versions = resources(synth["prod"], "google_kms_crypto_key_version")
    states = {cid: body["state"] for cid, body in versions.items()}
    assert states == {"key-mesh-mtls-issuer-gen-2": "DISABLED",
                      "key-mesh-mtls-issuer-gen-3": "ENABLED",
                      "key-release-attestation-gen-1": "ENABLED"}
    pki = {cid: body["state"] for cid, body in
           resources(synth["pki"], "google_kms_crypto_key_version").items()}
    # a verify-only generation stays enabled until the YAML disables it
    assert pki["key-webhook-mac-gen-1"] == "ENABLED"
    assert pki["key-webhook-mac-gen-2"] == "ENABLED"
    assert crypto_keys(synth["prod"])["mesh-mtls-issuer"]["skip_initial_version_creation"]
    assert "skip_initial_version_creation" not in crypto_keys(synth["prod"])["inventory-records"]


def test_outputs_name_the_current_generation_version(synth: dict[str, Doc]) -> None:
    outputs = synth["prod"]["output"]
    assert sorted(outputs) == ["gcp_mesh_mtls_issuer_current_version",
                               "gcp_release_attestation_current_version"]
    assert outputs["gcp_mesh_mtls_issuer_current_version"]["value"].startswith(
        "${google_kms_crypto_key_version.gcp_key-mesh-mtls-issuer-gen-3_")
    assert "generation 3" in outputs["gcp_mesh_mtls_issuer_current_version"]["description"]


def test_synth_is_deterministic(synth: dict[str, Doc]) -> None:
    assert synth["prod"] == synth["prod-again"]


# ---- IAM ----

def _members(doc: Doc, rtype: str) -> set[tuple[str, str, str]]:
    return {(cid, body["role"], body["member"]) for cid, body in resources(doc, rtype).items()}


def test_admins_and_auditors_on_the_ring_only(synth: dict[str, Doc]) -> None:
    ring = _members(synth["prod"], "google_kms_key_ring_iam_member")
    assert {(r, m) for _, r, m in ring} == {
        ("roles/cloudkms.admin", "group:pki-key-admins@acme.example"),
        ("roles/cloudkms.viewer", "group:security-auditors@acme.example")}
    for doc in synth.values():
        for _, _, member in _members(doc, "google_kms_crypto_key_iam_member"):
            assert "admins" not in member  # admins hold no crypto role on any key


@pytest.mark.parametrize(("env", "key", "grants"), [
    ("prod", "release-attestation",
     {("roles/cloudkms.signerVerifier",
       "serviceAccount:release-pipeline@acme-pki-prod.iam.gserviceaccount.com")}),
    ("prod", "inventory-records",
     {("roles/cloudkms.cryptoKeyEncrypterDecrypter",
       "serviceAccount:cert-inventory@acme-pki-prod.iam.gserviceaccount.com")}),
    ("pki", "webhook-mac",
     {("roles/cloudkms.signerVerifier", "serviceAccount:mac@acme-pki.iam.gserviceaccount.com")}),
    ("pki", "records-unwrap",
     {("roles/cloudkms.cryptoKeyDecrypter",
       "serviceAccount:decrypter@acme-pki.iam.gserviceaccount.com"),
      ("roles/cloudkms.publicKeyViewer",
       "serviceAccount:decrypter@acme-pki.iam.gserviceaccount.com")}),
    # ca keys: the ceremony role only
    ("pki", "root-ca", {("roles/cloudkms.signerVerifier", "user:ceremony@acme.example")}),
])
def test_each_workload_gets_exactly_its_usage_role_on_its_key(
        synth: dict[str, Doc], env: str, key: str, grants: set[tuple[str, str]]) -> None:
    found = {(r, m) for cid, r, m in _members(synth[env], "google_kms_crypto_key_iam_member")
             if cid.startswith(f"key-{key}-")}
    assert found == grants


def test_no_public_members_and_no_primitive_roles(synth: dict[str, Doc]) -> None:
    iam_types = ("google_kms_key_ring_iam_member", "google_kms_crypto_key_iam_member",
                 "google_storage_bucket_iam_member")
    count = 0
    for doc in synth.values():
        for rtype in iam_types:
            for _, role, member in _members(doc, rtype):
                count += 1
                assert member not in ("allUsers", "allAuthenticatedUsers")
                assert role not in ("roles/owner", "roles/editor", "roles/viewer")
    assert count > 20


# ---- audit trail ----

def test_data_access_logs_where_the_tier_asks(synth: dict[str, Doc]) -> None:
    audit = resources(synth["prod"], "google_project_iam_audit_config")
    assert audit == {"kms-data-access-logs": {
        "project": "acme-pki-prod", "service": "cloudkms.googleapis.com",
        "audit_log_config": [{"log_type": "ADMIN_READ"}, {"log_type": "DATA_READ"},
                             {"log_type": "DATA_WRITE"}]}}
    for env in ("staging", "dev", "ci", "partner-test"):
        assert resources(synth[env], "google_project_iam_audit_config") == {}


@pytest.mark.parametrize(("env", "days", "prevent"), [
    ("pki", 2555, True), ("prod", 365, True), ("staging", 90, False)])
def test_sink_bucket_is_locked_private_versioned_and_cmek(synth: dict[str, Doc], env: str,
                                                          days: int, prevent: bool) -> None:
    doc = synth[env]
    bucket = one(doc, "google_storage_bucket", "audit-bucket")
    assert bucket["retention_policy"] == {"retention_period": str(days * DAY), "is_locked": True}
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["force_destroy"] is False
    assert bucket["encryption"]["default_kms_key_name"].startswith(
        "${google_kms_crypto_key.gcp_audit-key_")
    assert bucket.get("lifecycle", {}).get("prevent_destroy", False) is prevent
    sink = one(doc, "google_logging_project_sink", "kms-audit-sink")
    assert sink["destination"].startswith("storage.googleapis.com/${google_storage_bucket.gcp_"
                                          "audit-bucket_")
    assert 'protoPayload.serviceName="cloudkms.googleapis.com"' in sink["filter"]
    assert sink["unique_writer_identity"] is True
    writer = one(doc, "google_storage_bucket_iam_member", "audit-bucket-storage-objectcreator-sink-writer")
    assert writer["role"] == "roles/storage.objectCreator"
    assert writer["member"].endswith(".writer_identity}")
    agent = one(doc, "google_kms_crypto_key_iam_member",
                "audit-key-cloudkms-cryptokeyencrypterdecrypter-storage-service-agent")
    assert agent["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert "data.google_storage_project_service_account" in agent["member"]


def test_no_sink_for_ephemeral_only_environments(synth: dict[str, Doc]) -> None:
    for env in ("dev", "ci"):
        assert resources(synth[env], "google_storage_bucket") == {}
        assert resources(synth[env], "google_logging_project_sink") == {}


# ---- alerts ----

def _alert_names(doc: Doc) -> set[str]:
    return set(resources(doc, "google_monitoring_alert_policy"))


def test_alerts_follow_the_tier(synth: dict[str, Doc]) -> None:
    assert _alert_names(synth["prod"]) == {
        "alert-destroy-crypto-key-version", "alert-disable-crypto-key-version",
        "alert-kms-set-iam-policy", "alert-release-attestation-sign-volume",
        "alert-mesh-mtls-issuer-sign-volume", "alert-primary-or-rotation-changed",
        "alert-audit-sink-changed"}
    assert _alert_names(synth["staging"]) == {"alert-destroy-crypto-key-version",
                                              "alert-disable-crypto-key-version",
                                              "alert-audit-sink-changed"}
    metrics = resources(synth["prod"], "google_logging_metric")
    assert 'protoPayload.methodName=("UpdateCryptoKeyPrimaryVersion" OR "UpdateCryptoKey")' \
        in metrics["alert-primary-or-rotation-changed-metric"]["filter"]
    assert ('"google.logging.v2.ConfigServiceV2.DeleteSink" OR '
            '"google.logging.v2.ConfigServiceV2.UpdateSink"') \
        in metrics["alert-audit-sink-changed-metric"]["filter"]
    staging = resources(synth["staging"], "google_logging_metric")
    assert "UpdateSink" not in staging["alert-audit-sink-changed-metric"]["filter"]
    assert _alert_names(synth["dev"]) == set()
    assert "alert-use-outside-ceremony" in _alert_names(synth["pki"])


def test_alert_metrics_filter_the_kms_events(synth: dict[str, Doc]) -> None:
    metrics = resources(synth["prod"], "google_logging_metric")
    destroy = metrics["alert-destroy-crypto-key-version-metric"]
    assert 'protoPayload.methodName="DestroyCryptoKeyVersion"' in destroy["filter"]
    disable = metrics["alert-disable-crypto-key-version-metric"]["filter"]
    assert 'protoPayload.methodName="UpdateCryptoKeyVersion"' in disable
    assert 'protoPayload.request.cryptoKeyVersion.state="DISABLED"' in disable
    iam = metrics["alert-kms-set-iam-policy-metric"]["filter"]
    assert 'protoPayload.methodName="SetIamPolicy"' in iam
    assert '"cloudkms_cryptokey" OR "cloudkms_keyring"' in iam
    policy = one(synth["prod"], "google_monitoring_alert_policy",
                 "alert-destroy-crypto-key-version")
    cond = policy["conditions"][0]["condition_threshold"]
    assert ('metric.type="logging.googleapis.com/user/keyplane-prod-destroy-crypto-key-version"'
            in cond["filter"])
    assert cond["comparison"] == "COMPARISON_GT" and cond["threshold_value"] == 0
    assert policy["severity"] == "CRITICAL"


def test_sign_volume_alert_compares_with_a_baseline(synth: dict[str, Doc]) -> None:
    metric = one(synth["prod"], "google_logging_metric",
                 "alert-release-attestation-sign-volume-metric")
    assert 'protoPayload.methodName="AsymmetricSign"' in metric["filter"]
    assert ("projects/acme-pki-prod/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/"
            "release-attestation/" in metric["filter"])
    policy = one(synth["prod"], "google_monitoring_alert_policy",
                 "alert-release-attestation-sign-volume")
    query = policy["conditions"][0]["condition_prometheus_query_language"]["query"]
    assert query.startswith(
        "sum(rate(logging_googleapis_com:user_keyplane_prod_release_attestation_sign_volume[1h]))"
        " > 3 * ")


def test_ca_use_outside_ceremony_excludes_the_ceremony_member(synth: dict[str, Doc]) -> None:
    metric = one(synth["pki"], "google_logging_metric", "alert-use-outside-ceremony-metric")
    assert "cryptoKeys/root-ca/" in metric["filter"]
    assert "webhook-mac" not in metric["filter"]
    assert ('NOT protoPayload.authenticationInfo.principalEmail=("ceremony@acme.example")'
            in metric["filter"])


# ---- escrow ----

def test_imported_key_uses_an_import_job_and_no_generated_versions(
        synth: dict[str, Doc]) -> None:
    doc = synth["partner-test"]
    key = crypto_keys(doc)["partner-signing"]
    assert key["import_only"] is True and key["skip_initial_version_creation"] is True
    assert resources(doc, "google_kms_crypto_key_version") == {}
    job = one(doc, "google_kms_key_ring_import_job", "key-partner-signing-import-gen-3")
    assert job["import_job_id"] == "partner-signing-gen-3"
    assert job["protection_level"] == "SOFTWARE"
    assert job["import_method"] == "RSA_OAEP_3072_SHA256_AES_256"
    assert doc["output"]["gcp_partner_signing_import_job"]["value"].startswith(
        "${google_kms_key_ring_import_job.gcp_key-partner-signing-import-gen-3_")


def test_escrow_bucket_is_locked_and_encrypted_by_the_wrapping_key(
        synth: dict[str, Doc]) -> None:
    doc = synth["partner-test"]
    bucket = one(doc, "google_storage_bucket", "escrow-bucket-acme-partner-escrow")
    assert bucket["name"] == "acme-partner-escrow"
    assert bucket["location"] == "EUROPE-WEST1"
    # the copy outlives the key: the non-production tier's maximum key age
    assert bucket["retention_policy"] == {"retention_period": str(730 * DAY), "is_locked": True}
    assert bucket["encryption"]["default_kms_key_name"].startswith(
        "${google_kms_crypto_key.gcp_key-escrow-wrap_")
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["lifecycle"] == {"prevent_destroy": True}
    one(doc, "google_kms_crypto_key_iam_member",
        "key-escrow-wrap-cloudkms-cryptokeyencrypterdecrypter-storage-service-agent")


def test_fails_before_creating_anything(env_builder: Callable[[dict[str, Any]], Environment],
                                        hand_made: dict[str, Callable[[], dict[str, Any]]]
                                        ) -> None:
    import cdktn

    from keyplane.constructs.gcp import GcpEnvironment
    from keyplane.desired.errors import GcpIamMemberError

    env = env_builder(hand_made["ci"]())
    bad = env.model_copy(update={"principals": env.principals.model_copy(update={
        "auditors": env.principals.auditors.model_copy(update={"gcp": ("allUsers",)})})})
    app = cdktn.Testing.app(outdir=str(scratch_dir("cdktn-app-")))
    stack = cdktn.TerraformStack(app, "ci")
    with pytest.raises(GcpIamMemberError) as err:
        GcpEnvironment(stack, "gcp", env=bad)
    assert err.value.code == "KP323"
    assert err.value.message == ("principals.auditors: member 'allUsers' is public; keyplane "
                                 "never grants key access to allUsers or allAuthenticatedUsers")
    assert [c.node.id for c in stack.node.children] == []
