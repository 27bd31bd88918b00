"""The GCP plan: what each declaration becomes, and the declarations keyplane refuses.

No cdktn here: the plan is decided, and every refusal raised, before any resource exists.
"""

from __future__ import annotations

from typing import Any

import pytest

from keyplane.desired.errors import (
    GcpEscrowError,
    GcpIamMemberError,
    GcpIdError,
    GcpLocationError,
    GcpRotationError,
    HsmUnavailableError,
)
from keyplane.desired.gcp import check_role, plan_environment
from keyplane.model import Environment
from tests.constructs.gcp.gcp_envs import (
    base_env,
    build,
    ca_production_env,
    ephemeral_env,
    gen,
    load,
    non_production_env,
)


def _key(env: Environment, key_name: str, /, **update: Any) -> Environment:
    keys = tuple(k.model_copy(update=update) if k.name == key_name else k for k in env.keys)
    return env.model_copy(update={"keys": keys})


def test_admins_hold_only_the_admin_role_on_rings() -> None:
    plan = plan_environment(build(ca_production_env()))
    ring_roles = {g.role for grants in plan.ring_grants.values() for g in grants
                  if g.member == "group:admins@acme.example"}
    assert ring_roles == {"roles/cloudkms.admin"}
    key_members = {g.member for k in plan.keys for g in k.grants}
    assert "group:admins@acme.example" not in key_members


def test_backup_operators_and_break_glass_hold_no_standing_grant() -> None:
    plan = plan_environment(build(ca_production_env()))
    members = {g.member for k in plan.keys for g in k.grants}
    members |= {g.member for grants in plan.ring_grants.values() for g in grants}
    assert "group:backup@acme.example" not in members
    assert "user:breakglass@acme.example" not in members
    assert "group:auditors@acme.example" in members


def test_highest_tier_decides_the_shared_audit_trail() -> None:
    plan = plan_environment(build(ca_production_env()))
    assert plan.audit is not None and plan.audit.tier.value == "ca"
    assert plan.audit.bucket is not None and plan.audit.bucket.retention_in_days == 2555
    assert plan.audit.data_access_log_types == ("ADMIN_READ", "DATA_READ", "DATA_WRITE")


def test_fails_hsm_in_a_location_known_not_to_offer_it() -> None:
    # The loader refuses this declaration (KP117); the plan checks again for environments
    # built in code, so a construct never emits an HSM key where Cloud HSM is unavailable.
    data = base_env("pki", "production")
    data["keys"] = [{"name": "release-sign", "owner": "pki-team", "tier": "production", "cloud": "gcp",
                     "usage": "sign", "users": ["signer"], "generation": 1,
                     "generations": [gen(1, "2026-01-01")]}]
    env = build(data)
    moved = env.model_copy(update={"keys": tuple(
        k.model_copy(update={"location": "global"}) for k in env.keys)})
    with pytest.raises(HsmUnavailableError) as err:
        plan_environment(moved)
    assert err.value.code == "KP321"
    assert err.value.message == (
        "key 'release-sign' asks for protection_level HSM in gcp location 'global', which does "
        "not offer cloud hsm; choose a regional or multi-regional location "
        "(https://github.com/GoogleCloudPlatform/python-docs-samples/issues/3005; "
        "https://cloud.google.com/kms/docs/locations (worldwide))")


def test_hsm_in_an_unknown_location_is_not_refused() -> None:
    data = base_env("pki", "production", location="me-central2")
    data["keys"] = [{"name": "records", "owner": "pki-team", "tier": "production", "cloud": "gcp",
                     "usage": "encrypt", "users": ["encrypter"]}]
    plan = plan_environment(build(data))
    assert plan.key("records").protection_level == "HSM"
    assert plan.region == "me-central2"


def test_fails_rotation_on_an_asymmetric_key_at_load() -> None:
    data = base_env("pki", "production")
    data["keys"] = [{"name": "release-sign", "owner": "pki-team", "tier": "production", "cloud": "gcp",
                     "usage": "sign", "users": ["signer"], "rotation_period_in_days": 90}]
    env, problems = load(data)
    assert env is None
    rotation = [p for p in problems if p.path == "keys[release-sign].rotation_period_in_days"]
    assert [(p.code, p.message) for p in rotation] == [(
        "KP111", "key 'release-sign' cannot rotate automatically: asymmetric keys cannot rotate "
                 "automatically; use generations (declare 'generation' and 'generations' "
                 "instead of rotation_period_in_days)")]


def test_fails_rotation_on_an_asymmetric_key_that_bypassed_the_loader() -> None:
    env = _key(build(ca_production_env()), "release-sign", rotation_period_in_days=90)
    with pytest.raises(GcpRotationError) as err:
        plan_environment(env)
    assert err.value.code == "KP326"
    assert err.value.message == ("key 'release-sign' cannot rotate automatically: asymmetric "
                                 "keys cannot rotate automatically; use generations")


def test_fails_rotation_period_below_the_gcp_floor() -> None:
    data = non_production_env()
    env = _key(build(data), "escrow-wrap", rotation_period_in_days=0)
    with pytest.raises(GcpRotationError) as err:
        plan_environment(env)
    assert err.value.message == (
        "key 'escrow-wrap': rotation_period_in_days must be between 1 and 365 for the "
        "non-production tier on gcp, got 0 (https://cloud.google.com/kms/docs/key-rotation)")


def test_fails_key_ring_id_outside_the_pattern_at_load() -> None:
    data = ca_production_env()
    data["keys"][1]["key_ring"] = "pki ring!"
    env, problems = load(data)
    assert env is None
    assert [(p.code, p.message) for p in problems if p.path == "keys[webhook-mac].key_ring"] == [
        ("KP107", "key_ring 'pki ring!' must match ^[a-zA-Z0-9_-]{1,63}$")]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("key_ring", "x" * 64, f"key_ring '{'x' * 64}' must match ^[a-zA-Z0-9_-]{{1,63}}$"),
    ("key_ring", "pki.ring", "key_ring 'pki.ring' must match ^[a-zA-Z0-9_-]{1,63}$"),
    ("name", "records.unwrap",
     "gcp crypto key id 'records.unwrap' must match ^[a-zA-Z0-9_-]{1,63}$"),
])
def test_fails_ids_outside_the_pattern(field: str, value: str, message: str) -> None:
    env = _key(build(ca_production_env()), "records-unwrap", **{field: value})
    with pytest.raises(GcpIdError) as err:
        plan_environment(env)
    assert err.value.code == "KP322"
    assert err.value.message == message


def test_fails_import_job_id_too_long() -> None:
    data = non_production_env()
    long = "p" * 60
    data["keys"][1]["name"] = long
    with pytest.raises(GcpIdError) as err:
        plan_environment(build(data))
    assert err.value.message == (f"gcp import job id '{long}-gen-3' must match "
                                 "^[a-zA-Z0-9_-]{1,63}$")


@pytest.mark.parametrize(("member", "message"), [
    ("allUsers", "principals.key_admins: member 'allUsers' is public; keyplane never grants "
                 "key access to allUsers or allAuthenticatedUsers"),
    ("allAuthenticatedUsers", "principals.key_admins: member 'allAuthenticatedUsers' is "
                              "public; keyplane never grants key access to allUsers or "
                              "allAuthenticatedUsers"),
    ("pki-admins@acme.example", "principals.key_admins: member 'pki-admins@acme.example' must "
                                "be user:, serviceAccount:, group:, domain:, principal: or "
                                "principalSet: followed by an identity"),
])
def test_fails_public_or_malformed_members(member: str, message: str) -> None:
    env = build(ca_production_env())
    pr = env.principals
    env = env.model_copy(update={"principals": pr.model_copy(update={
        "key_admins": pr.key_admins.model_copy(update={"gcp": (member,)})})})
    with pytest.raises(GcpIamMemberError) as err:
        plan_environment(env)
    assert err.value.code == "KP323"
    assert err.value.message == message


def test_fails_public_workload_member() -> None:
    env = build(ca_production_env())
    workloads = tuple(w.model_copy(update={"gcp": w.gcp.model_copy(
        update={"member": "allUsers"})}) if w.name == "signer" and w.gcp else w
        for w in env.workloads)
    with pytest.raises(GcpIamMemberError) as err:
        plan_environment(env.model_copy(update={"workloads": workloads}))
    assert err.value.message == ("key 'release-sign': member 'allUsers' is public; keyplane "
                                 "never grants key access to allUsers or allAuthenticatedUsers")


@pytest.mark.parametrize("role", ["roles/owner", "roles/editor", "roles/viewer", "owner"])
def test_fails_primitive_roles(role: str) -> None:
    with pytest.raises(GcpIamMemberError) as err:
        check_role(role, "key 'x'")
    assert err.value.message == (
        f"key 'x': role '{role}' is not allowed; keyplane grants predefined cloudkms and "
        "storage roles only, never roles/owner, roles/editor or roles/viewer")


def test_fails_escrow_location_outside_cloud_storage() -> None:
    data = non_production_env()
    data["keys"][1]["escrow"]["location"] = "s3://acme-escrow/partner/"
    with pytest.raises(GcpEscrowError) as err:
        plan_environment(build(data))
    assert err.value.code == "KP325"
    assert err.value.message == ("key 'partner-signing': escrow location of a gcp key must be "
                                 "a gs:// uri, got 's3://acme-escrow/partner/'")


def test_fails_escrow_wrapped_by_a_non_gcp_key() -> None:
    data = non_production_env()
    data["aws"] = {"account_id": "123456789012", "region": "eu-west-1"}
    data["principals"]["key_admins"]["aws"] = ["arn:aws:iam::123456789012:role/admin"]
    data["keys"].append({"name": "aws-wrap", "tier": "non-production", "cloud": "aws",
                         "usage": "encrypt"})
    data["keys"][1]["escrow"]["wrapping_key"] = "aws-wrap"
    with pytest.raises(GcpEscrowError) as err:
        plan_environment(build(data))
    assert err.value.message == (
        "key 'partner-signing': escrow wrapping_key 'aws-wrap' must be a gcp symmetric encrypt "
        "key of this environment (it is the escrow bucket's cmek)")


def test_fails_audit_bucket_in_the_global_location() -> None:
    data = base_env("stage", "non-production", location="global")
    data["keys"] = [{"name": "records", "tier": "non-production", "cloud": "gcp",
                     "usage": "encrypt"}]
    with pytest.raises(GcpLocationError) as err:
        plan_environment(build(data))
    assert err.value.code == "KP324"
    assert err.value.message == (
        "gcp location 'global' cannot hold the audit bucket's cmek key: cloud storage needs the "
        "key in the bucket's region or multi-region (us, europe, asia, nam4, eur4, asia1); set "
        "gcp.location to one of them")


def test_fails_key_named_like_the_audit_key() -> None:
    data = base_env("stage", "non-production")
    data["keys"] = [{"name": "keyplane-audit", "tier": "non-production", "cloud": "gcp",
                     "usage": "encrypt"}]
    with pytest.raises(Exception) as err:
        plan_environment(build(data))
    assert getattr(err.value, "code", None) == "KP320"
    assert str(err.value) == ("key name 'keyplane-audit' is reserved for the audit trail's key "
                              "in key ring 'keyplane-stage'; rename the key")


def test_a_workload_listed_twice_gets_one_grant() -> None:
    env = _key(build(ca_production_env()), "release-sign", users=("signer", "signer"))
    grants = plan_environment(env).key("release-sign").grants
    assert [(g.construct_id, g.role) for g in grants] == [
        ("key-release-sign-cloudkms-signerverifier-serviceaccount-signer-acme-pki-iam-gserviceaccount-com",
         "roles/cloudkms.signerVerifier")]


def test_fails_members_too_alike_for_one_construct_id() -> None:
    env = build(ca_production_env())
    pr = env.principals
    env = env.model_copy(update={"principals": pr.model_copy(update={
        "key_admins": pr.key_admins.model_copy(update={
            "gcp": ("group:pki.admins@acme.example", "group:pki-admins@acme.example")})})})
    with pytest.raises(GcpIamMemberError) as err:
        plan_environment(env)
    assert err.value.message == (
        "members 'group:pki.admins@acme.example' and 'group:pki-admins@acme.example' are too "
        "alike to tell apart in construct id "
        "'ring-keyplane-pki-us-east1-cloudkms-admin-group-pki-admins-acme-example'")


def test_hand_built_keys_get_the_implied_defaults() -> None:
    env = build(ephemeral_env())
    bare = env.model_copy(update={"keys": tuple(
        k.model_copy(update={"spec": None, "location": None, "key_ring": None,
                             "protection_level": None, "deletion_window_in_days": None})
        for k in env.keys)})
    key = plan_environment(bare).key("job-data")
    assert (key.algorithm, key.protection_level, key.destroy_scheduled_duration,
            key.ring.name, key.ring.location) == (
        "GOOGLE_SYMMETRIC_ENCRYPTION", "SOFTWARE", "604800s", "keyplane-ci", "us-east1")
