"""The AWS plan as pure data: roles, key policies, alarms per tier, backup, names (no Node)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from keyplane.desired import aws, names
from keyplane.desired.errors import AwsDeclarationError
from keyplane.model import Cloud, Environment, load_estate
from keyplane.model.loader import environment_files
from keyplane.model.tags import AWS_TAG_BACKUP_RETENTION
from tests.conftest import EXAMPLE_ENVIRONMENTS


def _estate() -> dict[str, Environment]:
    return {e.name: e for e in load_estate(environment_files(Path(EXAMPLE_ENVIRONMENTS))).environments}


@pytest.fixture(scope="module")
def estate() -> dict[str, Environment]:
    return _estate()


@pytest.fixture(scope="module")
def prod(estate) -> aws.AwsPlan:
    return aws.plan_environment(estate["prod"])


@pytest.fixture(scope="module")
def staging(estate) -> aws.AwsPlan:
    return aws.plan_environment(estate["staging"])


def _records(value: Any) -> list[Any]:
    """Every plan record reachable from `value`, depth first."""
    out: list[Any] = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out.append(value)
        for f in dataclasses.fields(value):
            out += _records(getattr(value, f.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            out += _records(item)
    return out


def _paths(plan: aws.AwsPlan) -> list[str]:
    """Every construct path the plan defines, satellites of the bucket and the topic included."""
    records = _records(plan)
    paths = [r.path for r in records if hasattr(r, "path")]
    paths += [plan.audit.bucket.part(s) for s in ("versioning", "public-access-block", "ownership",
                                                  "encryption", "lifecycle", "policy")]
    if plan.audit.bucket.object_lock_retention_in_days:
        paths.append(plan.audit.bucket.part("object-lock"))
    if plan.alarms is not None:
        paths.append(plan.alarms.topic.policy_path)
    return paths


def _statements(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


# ---- integrity ----

@pytest.mark.parametrize("env_name", ["prod", "staging", "dev"])
def test_paths_are_unique_and_every_reference_names_a_planned_resource(estate, env_name) -> None:
    plan = aws.plan_environment(estate[env_name])
    paths = _paths(plan)
    assert len(paths) == len(set(paths))
    referenced = {path for r in _records(plan) for f in dataclasses.fields(r)
                  for path, _ in aws.references(getattr(r, f.name))}
    depends = {p for r in _records(plan) for p in getattr(r, "depends_on", ())}
    assert referenced and depends
    assert referenced - set(paths) == set()
    assert depends - set(paths) == set()


def test_records_are_frozen(prod) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        prod.key("code-signing").current.enabled = False  # type: ignore[misc]


def test_resolve_replaces_every_reference_and_keeps_the_rest() -> None:
    doc = {"Resource": [aws.ref("keys/a/key", "arn"), "arn:aws:s3:::b"],
           "Pattern": f'($.resources[0].ARN = "{aws.ref("keys/a/g1/key", "arn")}")', "N": 3}
    out = aws.resolve(doc, lambda path, attr: f"<{path}.{attr}>")
    assert out == {"Resource": ["<keys/a/key.arn>", "arn:aws:s3:::b"],
                   "Pattern": '($.resources[0].ARN = "<keys/a/g1/key.arn>")', "N": 3}
    assert aws.references(doc) == [("keys/a/key", "arn"), ("keys/a/g1/key", "arn")]


# ---- roles ----

def test_prod_roles_in_creation_order_with_duties_and_names(prod) -> None:
    assert [(r.construct_id, r.duty) for r in prod.iam.roles] == [
        ("key-admin", "key-admin"), ("break-glass", "break-glass"), ("auditor", "auditor"),
        ("backup-operator", "backup-operator"), ("ceremony", "ceremony"),
        ("user-cert-inventory", "key-user"), ("user-docsign-service", "key-user"),
        ("user-release-pipeline", "key-user"), ("cloudtrail-logs", "service"),
        ("backup-service", "service")]
    admin = prod.iam.role("key-admin")
    assert admin.name == "keyplane-prod-key-admin"
    assert admin.arn == "arn:aws:iam::210987654321:role/keyplane-prod-key-admin"
    assert admin.tags == {"keyplane:env": "prod", "keyplane:tier": "ca", "keyplane:role": "key-admin"}
    assert prod.iam.role_named(names.backup_service_role_name("prod")).construct_id == "backup-service"
    assert {r.max_session_duration for r in prod.iam.roles} == {3600}


def test_mfa_is_required_to_assume_break_glass_and_ceremony_only(prod) -> None:
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    conditions = {r.construct_id: r.trust_policy["Statement"][0].get("Condition")
                  for r in prod.iam.roles}
    assert conditions["break-glass"] == mfa and conditions["ceremony"] == mfa
    assert conditions["key-admin"] is None and conditions["auditor"] is None
    oidc = prod.iam.role("user-release-pipeline").trust_policy["Statement"][0]
    assert oidc["Principal"] == {"Federated": aws.ref("iam/oidc-token-actions-githubusercontent-com",
                                                      "arn")}
    assert oidc["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == \
        "repo:acme/release-tooling:environment:production"
    (provider,) = prod.iam.oidc_providers
    assert (provider.url, provider.client_ids) == ("https://token.actions.githubusercontent.com",
                                                   ("sts.amazonaws.com",))


def test_key_admin_may_administer_but_never_use_or_delete(prod) -> None:
    (policy,) = prod.iam.role("key-admin").inline_policies
    assert policy.path == "iam/key-admin-policy" and policy.name == "keyplane"
    stmts = _statements(policy.document)
    assert stmts["DenyKeyUse"]["Effect"] == "Deny" and "kms:Sign" in stmts["DenyKeyUse"]["Action"]
    assert stmts["DenyKeyDeletion"]["Action"] == ["kms:ScheduleKeyDeletion"]
    assert not set(stmts["AdministerKeys"]["Action"]) & {"kms:Sign", "kms:Decrypt", "kms:CreateGrant"}


def test_key_users_get_their_keys_only_and_older_generations_verify_only(prod) -> None:
    (policy,) = prod.iam.role("user-release-pipeline").inline_policies
    assert policy.role == aws.ref("iam/user-release-pipeline", "id")
    stmts = policy.document["Statement"]
    assert [(s["Sid"], s["Resource"]) for s in stmts] == [
        ("UseKeys1", [aws.ref("keys/code-signing/g4/key", "arn"),
                      aws.ref("keys/code-signing/g4/replica-us-west-2", "arn")]),
        ("UseKeys2", [aws.ref("keys/code-signing/g3/key", "arn"),
                      aws.ref("keys/code-signing/g3/replica-us-west-2", "arn")]),
        ("UseKeys3", [aws.ref("keys/release-artifacts/key", "arn"),
                      aws.ref("keys/release-artifacts/replica-us-west-2", "arn")])]
    assert "kms:Sign" in stmts[0]["Action"] and "kms:Sign" not in stmts[1]["Action"]
    ceremony = prod.iam.role("ceremony").inline_policies[0].document["Statement"]
    assert all(s["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}} for s in ceremony)
    # one ARN is written as a string, several as a list
    resources = [s["Resource"] for s in ceremony]
    assert {r for res in resources for r in ([res] if isinstance(res, str) else res)} == {
        aws.ref("keys/pki-root-ca/g1/key", "arn"), aws.ref("keys/pki-issuing-ca/g2/key", "arn")}
    # a disabled generation is granted to nobody (pki-issuing-ca g1)
    assert prod.key("pki-issuing-ca").generation(1).enabled is False


def test_service_roles_are_pinned_and_carry_their_policies_where_they_are_used(prod) -> None:
    trail_role = prod.iam.role("cloudtrail-logs")
    (stmt,) = trail_role.trust_policy["Statement"]
    assert stmt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert stmt["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "210987654321"},
        "ArnEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-east-1:210987654321:trail/keyplane-prod"}}
    assert [p.path for p in trail_role.inline_policies] == ["audit/cloudtrail-logs-policy"]
    backup = prod.iam.role("backup-service")
    assert not backup.inline_policies
    assert [(a.path, a.policy_arn) for a in backup.managed_policies] == [
        ("backup/service-role-AWSBackupServiceRolePolicyForBackup",
         "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"),
        ("backup/service-role-AWSBackupServiceRolePolicyForRestores",
         "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"),
        ("backup/service-role-AWSBackupServiceRolePolicyForS3Backup",
         "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup"),
        ("backup/service-role-AWSBackupServiceRolePolicyForS3Restore",
         "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore")]
    assert {a.role for a in backup.managed_policies} == {aws.ref("iam/backup-service", "name")}


# ---- keys and key policies ----

def test_ca_keys_are_generations_in_the_custom_key_store(prod) -> None:
    root = prod.key("pki-root-ca")
    assert not root.rotates and [k.path for k in root.keys] == ["keys/pki-root-ca/g1/key"]
    key = root.current
    assert (key.resource_type, key.spec, key.usage, key.origin) == (
        "aws_kms_key", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "AWS_CLOUDHSM")
    assert key.custom_key_store_id == aws.ref("cloudhsm/key-store", "id")
    assert (key.rotation_enabled, key.rotation_period_in_days) == (False, None)
    assert (key.deletion_window_in_days, key.prevent_destroy, key.multi_region) == (30, True, False)
    assert [(a.path, a.name) for a in key.aliases] == [("keys/pki-root-ca/g1/alias",
                                                        "alias/pki-root-ca/g1")]
    assert [(a.path, a.name, a.target_key_id) for a in root.aliases] == [
        ("keys/pki-root-ca/alias", "alias/pki-root-ca", aws.ref(key.path, "id"))]
    # keys wait for the roles their policies name, never for the service roles
    assert key.depends_on == tuple(r.path for r in prod.iam.roles[:8])


def test_production_key_rotates_and_replicates_with_aliases_in_every_region(prod) -> None:
    key = prod.key("release-artifacts")
    assert key.rotates and key.current.path == "keys/release-artifacts/key"
    assert (key.current.rotation_enabled, key.current.rotation_period_in_days) == (True, 180)
    assert key.current.multi_region is True
    (replica,) = key.current.replicas
    assert (replica.path, replica.region, replica.primary_key_arn) == (
        "keys/release-artifacts/replica-us-west-2", "us-west-2",
        aws.ref("keys/release-artifacts/key", "arn"))
    assert replica.policy == key.current.policy
    assert [(a.path, a.region, a.target_key_id) for a in key.aliases] == [
        ("keys/release-artifacts/alias", None, aws.ref("keys/release-artifacts/key", "id")),
        ("keys/release-artifacts/alias-us-west-2", "us-west-2",
         aws.ref("keys/release-artifacts/replica-us-west-2", "key_id"))]
    assert [(p.path, p.alias) for p in prod.providers] == [("providers/aws", None),
                                                           ("providers/aws-us-west-2", "us_west_2")]


def test_key_policies_name_roles_by_arn_and_keep_older_generations_verify_only(prod) -> None:
    signing = prod.key("code-signing")
    current = _statements(signing.generation(4).policy)
    older = _statements(signing.generation(3).policy)
    assert current["KeyUseReleasePipeline"]["Principal"] == {
        "AWS": "arn:aws:iam::210987654321:role/keyplane-prod-user-release-pipeline"}
    assert "kms:Sign" in current["KeyUseReleasePipeline"]["Action"]
    assert "kms:Sign" not in older["KeyUseReleasePipeline"]["Action"]
    assert "kms:Verify" in older["KeyUseReleasePipeline"]["Action"]
    assert current["DenyShortDeletionWindow"]["Condition"] == {
        "NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}}
    for key in prod.kms_keys():
        for stmt in key.policy["Statement"]:
            assert "*" not in json.dumps(stmt["Principal"]), (key.path, stmt["Sid"])
            assert "kms:*" not in stmt["Action"]


def test_imported_key_is_an_external_key_without_rotation(staging) -> None:
    key = staging.key("partner-test-signing").current
    assert (key.resource_type, key.origin, key.spec, key.usage) == (
        "aws_kms_external_key", "EXTERNAL", "RSA_3072", "SIGN_VERIFY")
    assert (key.rotation_enabled, key.replicas, key.custom_key_store_id) == (False, (), None)
    assert "kms:ImportKeyMaterial" in _statements(key.policy)["KeyAdministration"]["Action"]


# ---- audit, alarms, backup ----

def test_audit_sink_follows_the_highest_tier(prod, staging) -> None:
    audit = prod.audit
    assert (audit.trail.name, audit.log_group.name) == ("keyplane-prod", "/keyplane/prod/cloudtrail")
    assert audit.trail.is_multi_region_trail and audit.trail.enable_log_file_validation
    assert audit.trail.cloud_watch_logs_group_arn == aws.ref("audit/log-group", "arn") + ":*"
    assert audit.trail.depends_on == ("audit/bucket-policy",)
    assert (audit.log_group.retention_in_days, audit.bucket.object_lock_retention_in_days) == (365, 2555)
    assert audit.bucket.name == names.audit_bucket_name("prod", "210987654321")
    assert audit.key.aliases[0].name == "alias/keyplane-prod-audit"
    assert audit.key.tags["keyplane:key"] == "keyplane/audit"
    assert (staging.audit.log_group.retention_in_days,
            staging.audit.bucket.object_lock_retention_in_days) == (90, None)
    assert (staging.audit.key.deletion_window_in_days, staging.audit.key.prevent_destroy) == (14, False)


def test_alarms_per_tier(prod, staging, estate) -> None:
    evasion = ["BreakGlassAssumeRole", "DeleteAlias", "DeleteBackupVaultLockConfiguration",
               "DeleteCustomKeyStore", "DeleteImportedKeyMaterial", "DeleteTrail",
               "DisableKeyRotation", "DisconnectCustomKeyStore", "KmsAccessDeniedBurst",
               "PutEventSelectors", "StopLogging", "UpdateAlias", "UpdateTrail"]
    assert prod.alarms is not None and staging.alarms is not None
    assert sorted(a.alarm_name for a in prod.alarms.alarms) == sorted([
        *(f"keyplane-prod-{e}" for e in evasion),
        "keyplane-prod-CreateGrant", "keyplane-prod-DisableKey", "keyplane-prod-PutKeyPolicy",
        "keyplane-prod-ScheduleKeyDeletion", "keyplane-prod-SignOutsideCeremony-pki-issuing-ca",
        "keyplane-prod-SignOutsideCeremony-pki-root-ca",
        "keyplane-prod-SignVolume-code-signing", "keyplane-prod-SignVolume-document-signing"])
    assert staging.alarms.events() == [
        "DeleteAlias", "DeleteBackupVaultLockConfiguration", "DeleteCustomKeyStore",
        "DeleteImportedKeyMaterial", "DeleteTrail", "DisableKey", "ScheduleKeyDeletion",
        "StopLogging"]
    dev = estate["dev"]
    ephemeral = dev.model_copy(update={"keys": tuple(
        k for k in dev.keys_on(Cloud.AWS) if k.tier.value == "ephemeral")})
    only = aws.plan_environment(ephemeral)
    assert (only.tier.value, only.alarms, only.backup) == ("ephemeral", None, None)


def test_alarm_patterns_watch_every_generation_and_replica(prod) -> None:
    assert prod.alarms is not None
    by_event = {e: a for e, a in zip(prod.alarms.events(), prod.alarms.alarms, strict=True)}
    volume = by_event["SignVolume-code-signing"]
    assert volume.metric_filter.path == "alarms/filter-sign-volume-code-signing"
    assert {p for p, _ in aws.references(volume.metric_filter.pattern)} == {
        "keys/code-signing/g3/key", "keys/code-signing/g3/replica-us-west-2",
        "keys/code-signing/g4/key", "keys/code-signing/g4/replica-us-west-2"}
    assert [q.id for q in volume.metric_queries] == ["signs", "band"]
    assert volume.threshold_metric_id == "band" and volume.threshold is None
    ceremony = by_event["SignOutsideCeremony-pki-issuing-ca"]
    assert '"arn:aws:iam::210987654321:role/keyplane-prod-ceremony"' in ceremony.metric_filter.pattern
    assert ceremony.metric_filter.log_group_name == "/keyplane/prod/cloudtrail"
    burst = by_event["KmsAccessDeniedBurst"]
    assert (burst.threshold, burst.period, burst.alarm_actions) == (
        5, 300, (aws.ref("alarms/topic", "arn"),))


def test_prod_backup_is_locked_copied_and_restore_tested(prod, staging, estate) -> None:
    backup = prod.backup
    assert backup is not None and backup.plan is not None and backup.selection is not None
    assert backup.vault.name == names.backup_vault_name("prod") == "keyplane-prod"
    assert (backup.lock.mode, backup.lock.changeable_for_days, backup.lock.min_retention_days) == (
        "COMPLIANCE", 3, 365)
    assert backup.plan.copy_destination_vault_arn == \
        "arn:aws:backup:us-east-1:987654321098:backup-vault:keyplane-prod-copy"
    assert backup.selection.resources == (
        "arn:aws:dynamodb:us-east-1:210987654321:table/pki-ca-database",
        "arn:aws:s3:::acme-pki-certificate-inventory-prod")
    assert backup.restore_testing is not None
    assert backup.restore_testing.schedule_expression == "cron(0 6 1 */3 ? *)"
    assert [s.protected_resource_type for s in backup.restore_testing_selections] == ["DynamoDB", "S3"]
    assert "CrossAccountCopy" in _statements(backup.key.policy)
    # the copy account, and the drill account restore drills copy into
    assert backup.key.tags["keyplane:declared-accounts"] == "987654321098 456789012345"
    # the vault's key waits for every role, the service roles included
    assert backup.key.depends_on == tuple(r.path for r in prod.iam.roles)
    st = staging.backup
    assert st is not None and st.lock.changeable_for_days is None and st.restore_testing is None
    assert st.plan is not None and st.plan.copy_destination_vault_arn is None
    assert aws.plan_environment(estate["dev"]).backup.plan is None  # type: ignore[union-attr]


def test_cloudhsm_and_the_ssm_parameters_keystore_connect_reads(prod, staging, estate) -> None:
    hsm = prod.cloudhsm
    assert hsm is not None and staging.cloudhsm is None
    assert [h.availability_zone for h in hsm.hsms] == ["us-east-1a", "us-east-1b"]
    assert (hsm.cluster.hsm_type, hsm.cluster.mode) == ("hsm2m.medium", "FIPS")
    assert hsm.cluster.tags[AWS_TAG_BACKUP_RETENTION] == "379"
    # the store is found by name; keyplane connects it, so no plan carries its password
    assert hsm.key_store.name == hsm.connect.name == names.custom_key_store_name("prod")
    assert hsm.key_store.id == aws.ref("cloudhsm/key-store", "id")
    ca = [k for k in prod.keys if k.current.custom_key_store_id is not None]
    assert ca and all(k.current.custom_key_store_id == hsm.key_store.id for k in ca)
    # keystore connect finds the cluster by the tags the hsm stack gives it
    assert all(hsm.cluster.tags[k] == v for k, v in hsm.connect.cluster_tags.items())
    hsm_stack = aws.plan_hsm_stack(estate["prod"])
    assert hsm_stack is not None and hsm_stack.cloudhsm == hsm
    assert hsm_stack.provider.allowed_account_ids == (prod.account_id,)
    assert aws.plan_hsm_stack(estate["staging"]) is None
    assert prod.ssm_parameter_names == ("/keyplane/prod/cloudhsm/kmsuser-password",
                                   "/keyplane/prod/cloudhsm/customer-ca-certificate")
    assert staging.ssm_parameter_names == ()


# ---- names ----

def test_names_used_outside_the_plan_match_the_plan(prod) -> None:
    assert names.drill_restore_role_name("prod") == prod.iam.role("backup-service").name
    assert names.cloudtrail_role_name("prod") == prod.iam.role("cloudtrail-logs").name
    assert names.trail_name("prod") == prod.audit.trail.name
    assert names.audit_log_group_name("prod") == prod.audit.log_group.name
    assert prod.alarms is not None
    assert names.alarm_topic_name("prod") == prod.alarms.topic.name
    assert names.restore_testing_plan_name("my-env") == "keyplane_my_env_restore_testing"
    assert names.partition_of("us-gov-west-1") == "aws-us-gov"
    assert names.provider_alias("eu-central-1") == "eu_central_1"


# ---- refusals ----

def test_refuses_an_environment_without_aws_keys(estate) -> None:
    env = estate["prod"]
    gcp_only = env.model_copy(update={"keys": env.keys_on(Cloud.GCP)})
    with pytest.raises(AwsDeclarationError) as info:
        aws.plan_environment(gcp_only)
    assert (info.value.code, info.value.message) == (
        "KP310", "environment 'prod' has no aws keys; keyplane creates no aws resources for it")


def test_refuses_ca_keys_without_a_ceremony_role_before_planning_anything(estate) -> None:
    env = estate["prod"]
    env = env.model_copy(update={"principals": env.principals.model_copy(update={"ceremony": None})})
    with pytest.raises(AwsDeclarationError) as info:
        aws.plan_environment(env)
    assert (info.value.code, info.value.message) == (
        "KP306", "ca keys need principals.ceremony.aws (the ceremony role, mfa required)")
