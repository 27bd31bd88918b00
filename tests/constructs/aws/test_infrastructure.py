"""CloudHSM key store, audit sink, alarms and backup vault, asserted on the synthesized JSON."""

from __future__ import annotations

import json

import pytest

from keyplane.errors import KeyplaneError
from keyplane.model import Tier
from tests.constructs.aws.helpers import (
    data_sources,
    example_estate,
    resources,
    statements,
    synth_aws_estate,
)

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def docs():
    return synth_aws_estate()[1]


def _one(doc, rtype, path):
    return resources(doc, rtype)[path]


def _fails(fn, code: str, message: str) -> None:
    with pytest.raises(KeyplaneError) as info:
        fn()
    assert (info.value.code, info.value.message) == (code, message)


# ---- CloudHSM ----

def test_cloudhsm_cluster_and_hsms_are_their_own_stack_and_the_store_a_lookup(docs) -> None:
    out, _ = synth_aws_estate()
    hsm_doc = json.loads((out / "stacks" / "prod-aws-hsm" / "cdk.tf.json").read_text())
    cluster = _one(hsm_doc, "aws_cloudhsm_v2_cluster", "aws/cloudhsm/cluster")
    assert (cluster["hsm_type"], cluster["mode"]) == ("hsm2m.medium", "FIPS")
    assert cluster["subnet_ids"] == ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
    assert cluster["tags"]["keyplane:backup-retention-in-days"] == "379"
    assert cluster["lifecycle"] == {"prevent_destroy": True}
    hsms = resources(hsm_doc, "aws_cloudhsm_v2_hsm")
    assert sorted(h["subnet_id"] for h in hsms.values()) == cluster["subnet_ids"]
    assert not any("availability_zone" in h for h in hsms.values())  # one of the two, never both
    assert hsm_doc["provider"]["aws"][0]["allowed_account_ids"] == ["210987654321"]
    assert hsm_doc["terraform"]["backend"]["s3"]["key"] == "keyplane/prod-aws-hsm.tfstate"
    doc = docs["prod"]
    # the environment's stack holds no cluster, no store and no ssm read: nothing of the
    # kmsuser password reaches its plan or state
    assert not resources(doc, "aws_cloudhsm_v2_cluster")
    assert not resources(doc, "aws_kms_custom_key_store")
    assert not data_sources(doc, "aws_ssm_parameter")
    assert "kmsuser" not in json.dumps(doc) and "kmsuser" not in json.dumps(hsm_doc)
    lookup = data_sources(doc, "aws_kms_custom_key_store")
    assert [v["custom_key_store_name"] for v in lookup.values()] == ["keyplane-prod"]
    assert not resources(docs["staging"], "aws_cloudhsm_v2_cluster")


@pytest.fixture(scope="module")
def cloudhsm():
    from keyplane.desired import aws as cloudhsm

    return cloudhsm


def test_fails_hsms_in_one_availability_zone(cloudhsm) -> None:
    hsm = example_estate()["prod"].aws.cloudhsm
    one = hsm.model_copy(update={"hsms": (hsm.hsms[0], hsm.hsms[0])})
    _fails(lambda: cloudhsm.CloudHsmKeyStoreConfig(env_name="prod", cloudhsm=one), "KP307",
           "a custom key store needs at least 2 hsms in distinct availability zones, got 2 in 1")


def test_fails_backup_retention_below_the_ca_floor(cloudhsm) -> None:
    hsm = example_estate()["prod"].aws.cloudhsm.model_copy(
        update={"backup_retention_in_days": 30})
    _fails(lambda: cloudhsm.CloudHsmKeyStoreConfig(env_name="prod", cloudhsm=hsm), "KP307",
           "backup_retention_in_days must be between 365 and 379 days for the ca tier, got 30")


def test_fails_unknown_hsm_type(cloudhsm) -> None:
    hsm = example_estate()["prod"].aws.cloudhsm
    _fails(lambda: cloudhsm.CloudHsmKeyStoreConfig(env_name="prod", cloudhsm=hsm,
                                                   hsm_type="hsm9.huge"), "KP307",
           "hsm_type must be one of hsm2m.medium, hsm1.medium, got 'hsm9.huge'")


# ---- audit sink ----

def test_trail_is_multi_region_validated_encrypted_and_keeps_kms_events(docs) -> None:
    for doc in docs.values():
        trail = _one(doc, "aws_cloudtrail", "aws/audit/trail")
        assert trail["is_multi_region_trail"] is True
        assert trail["enable_log_file_validation"] is True
        assert trail["include_global_service_events"] is True
        assert trail["kms_key_id"].startswith("${aws_kms_key.aws_audit_key_")
        assert trail["event_selector"] == [{"exclude_management_event_sources": [],
                                            "include_management_events": True,
                                            "read_write_type": "All"}]
        assert trail["cloud_watch_logs_group_arn"].endswith(":*")


def test_log_retention_and_object_lock_follow_the_highest_tier(docs) -> None:
    expected = {"prod": (365, 2555), "staging": (90, None), "dev": (90, None)}
    for env, (days, lock) in expected.items():
        group = _one(docs[env], "aws_cloudwatch_log_group", "aws/audit/log-group")
        assert group["retention_in_days"] == days
        assert group["kms_key_id"].startswith("${aws_kms_key.aws_audit_key_")
        locks = resources(docs[env], "aws_s3_bucket_object_lock_configuration")
        bucket = _one(docs[env], "aws_s3_bucket", "aws/audit/bucket")
        if lock is None:
            assert not locks and "object_lock_enabled" not in bucket
        else:
            assert bucket["object_lock_enabled"] is True
            assert locks["aws/audit/bucket-object-lock"]["rule"] == {
                "default_retention": {"days": lock, "mode": "COMPLIANCE"}}


def test_audit_bucket_is_private_versioned_kms_encrypted_and_tls_only(docs) -> None:
    doc = docs["prod"]
    assert _one(doc, "aws_s3_bucket", "aws/audit/bucket")["bucket"] == \
        "keyplane-prod-audit-210987654321"
    block = _one(doc, "aws_s3_bucket_public_access_block", "aws/audit/bucket-public-access-block")
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy",
                                          "ignore_public_acls", "restrict_public_buckets"))
    assert _one(doc, "aws_s3_bucket_versioning", "aws/audit/bucket-versioning")[
        "versioning_configuration"] == {"status": "Enabled"}
    (rule,) = _one(doc, "aws_s3_bucket_server_side_encryption_configuration",
                   "aws/audit/bucket-encryption")["rule"]
    assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    stmts = statements(_one(doc, "aws_s3_bucket_policy", "aws/audit/bucket-policy"))
    assert stmts["DenyInsecureTransport"]["Effect"] == "Deny"
    assert stmts["DenyInsecureTransport"]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}}
    assert stmts["CloudTrailWrite"]["Condition"]["StringEquals"]["aws:SourceArn"] == \
        "arn:aws:cloudtrail:us-east-1:210987654321:trail/keyplane-prod"


def test_audit_key_rotates_and_serves_only_pinned_services(docs) -> None:
    key = _one(docs["prod"], "aws_kms_key", "aws/audit/key")
    assert (key["enable_key_rotation"], key["rotation_period_in_days"]) == (True, 365)
    stmts = statements(key)
    for sid in ("CloudTrailEncryptsLogs", "CloudWatchLogsEncrypts", "CloudWatchAlarmsPublish"):
        assert stmts[sid]["Condition"], sid
    dev_key = _one(docs["dev"], "aws_kms_key", "aws/audit/key")
    assert dev_key["deletion_window_in_days"] == 14 and "lifecycle" not in dev_key


@pytest.fixture(scope="module")
def audit():
    from keyplane.desired import aws as audit

    return audit


def test_fails_audit_bucket_name_too_long(audit) -> None:
    name = "e" * 40
    _fails(lambda: audit.AuditSinkConfig(env_name=name, account_id="210987654321",
                                         region="us-east-1", tier=Tier.PRODUCTION), "KP308",
           f"audit bucket name 'keyplane-{name}-audit-210987654321' is longer than 63 "
           "characters; shorten the environment name")


# ---- alarms ----

def _alarm_names(doc):
    return sorted(a["alarm_name"] for a in resources(doc, "aws_cloudwatch_metric_alarm").values())


def test_alarms_by_tier(docs) -> None:
    evasion = ["BreakGlassAssumeRole", "DeleteAlias", "DeleteBackupVaultLockConfiguration",
               "DeleteCustomKeyStore", "DeleteImportedKeyMaterial", "DeleteTrail",
               "DisableKeyRotation", "DisconnectCustomKeyStore", "KmsAccessDeniedBurst",
               "PutEventSelectors", "StopLogging", "UpdateAlias", "UpdateTrail"]
    assert _alarm_names(docs["prod"]) == sorted([
        *(f"keyplane-prod-{e}" for e in evasion),
        "keyplane-prod-CreateGrant", "keyplane-prod-DisableKey", "keyplane-prod-PutKeyPolicy",
        "keyplane-prod-ScheduleKeyDeletion", "keyplane-prod-SignOutsideCeremony-pki-issuing-ca",
        "keyplane-prod-SignOutsideCeremony-pki-root-ca",
        "keyplane-prod-SignVolume-code-signing", "keyplane-prod-SignVolume-document-signing"])
    # non-production alarms on what removes a key, an alias, the trail or the vault lock
    assert _alarm_names(docs["staging"]) == [
        f"keyplane-staging-{e}" for e in (
            "DeleteAlias", "DeleteBackupVaultLockConfiguration", "DeleteCustomKeyStore",
            "DeleteImportedKeyMaterial", "DeleteTrail", "DisableKey", "ScheduleKeyDeletion",
            "StopLogging")]
    topic = _one(docs["prod"], "aws_sns_topic", "aws/alarms/topic")
    assert topic["kms_master_key_id"].startswith("${aws_kms_key.aws_audit_key_")


def test_sign_outside_ceremony_watches_ca_keys_except_the_ceremony_role(docs) -> None:
    filt = _one(docs["prod"], "aws_cloudwatch_log_metric_filter",
                "aws/alarms/filter-SignOutsideCeremony-pki-issuing-ca")
    pattern = filt["pattern"]
    assert ('$.userIdentity.sessionContext.sessionIssuer.arn != '
            '"arn:aws:iam::210987654321:role/keyplane-prod-ceremony"') in pattern
    assert "aws_keys_pki-issuing-ca_g1_key" in pattern and "aws_keys_pki-issuing-ca_g2_key" \
        in pattern and '($.eventName = "Sign")' in pattern
    assert filt["log_group_name"] == "/keyplane/prod/cloudtrail"


def test_sign_volume_anomaly_alarm_per_production_signing_key(docs) -> None:
    alarm = _one(docs["prod"], "aws_cloudwatch_metric_alarm",
                 "aws/alarms/alarm-sign-volume-code-signing")
    assert alarm["comparison_operator"] == "GreaterThanUpperThreshold"
    assert alarm["threshold_metric_id"] == "band"
    band = next(q for q in alarm["metric_query"] if q["id"] == "band")
    assert band["expression"] == "ANOMALY_DETECTION_BAND(signs, 2)"
    filt = _one(docs["prod"], "aws_cloudwatch_log_metric_filter",
                "aws/alarms/filter-sign-volume-code-signing")
    # every live generation (g4 current, g3 verifying) in both Regions: signing with the
    # overlap generation or in the replica Region is watched too
    for part in ("aws_keys_code-signing_g4_key_", "aws_keys_code-signing_g3_key_",
                 "aws_keys_code-signing_g4_replica-us-west-2_",
                 "aws_keys_code-signing_g3_replica-us-west-2_"):
        assert part in filt["pattern"], part


def test_evasion_alarms_name_their_service_and_the_break_glass_role(docs) -> None:
    def pattern(cid: str) -> str:
        return str(_one(docs["prod"], "aws_cloudwatch_log_metric_filter",
                        f"aws/alarms/filter-{cid}")["pattern"])

    assert pattern("StopLogging") == ('{ ($.eventSource = "cloudtrail.amazonaws.com") && '
                                      '($.eventName = "StopLogging") }')
    assert '"backup.amazonaws.com"' in pattern("DeleteBackupVaultLockConfiguration")
    assert ('($.requestParameters.roleArn = '
            '"arn:aws:iam::210987654321:role/keyplane-prod-break-glass")') \
        in pattern("BreakGlassAssumeRole")
    burst = _one(docs["prod"], "aws_cloudwatch_metric_alarm",
                 "aws/alarms/alarm-KmsAccessDeniedBurst")
    assert burst["threshold"] == 5 and '"AccessDenied*"' in pattern("KmsAccessDeniedBurst")


@pytest.fixture(scope="module")
def alarms():
    from keyplane.desired import aws as alarms
    from keyplane.desired import policy

    return alarms, policy


def test_fails_ceremony_alarm_outside_the_ca_tier(alarms) -> None:
    mod, pol = alarms
    env = example_estate()["prod"]
    _fails(lambda: mod.KeyAlarmsConfig(
        env_name="prod", tier=Tier.PRODUCTION, log_group_name="g", topic_kms_key_arn="k",
        principals=pol.AccountPrincipals.of(env), ceremony_keys={"pki-root-ca": ["arn"]}),
        "KP311", "the production tier has no SignOutsideCeremony alarm; ceremony_keys apply "
                 "to ca only")


# ---- backup ----

def test_prod_vault_is_locked_in_compliance_mode_with_copy_and_restore_tests(docs) -> None:
    doc = docs["prod"]
    vault = _one(doc, "aws_backup_vault", "aws/backup/vault")
    assert vault["kms_key_arn"].startswith("${aws_kms_key.aws_backup_key_")
    lock = _one(doc, "aws_backup_vault_lock_configuration", "aws/backup/vault-lock")
    assert (lock["changeable_for_days"], lock["min_retention_days"]) == (3, 365)
    (rule,) = _one(doc, "aws_backup_plan", "aws/backup/plan")["rule"]
    assert rule["lifecycle"] == {"delete_after": 365}
    assert rule["copy_action"][0]["destination_vault_arn"] == \
        "arn:aws:backup:us-east-1:987654321098:backup-vault:keyplane-prod-copy"
    selection = _one(doc, "aws_backup_selection", "aws/backup/selection")
    assert selection["resources"] == [
        "arn:aws:dynamodb:us-east-1:210987654321:table/pki-ca-database",
        "arn:aws:s3:::acme-pki-certificate-inventory-prod"]
    assert selection["condition"][0]["string_equals"] == [
        {"key": "aws:ResourceTag/keyplane:env", "value": "prod"}]
    testing = _one(doc, "aws_backup_restore_testing_plan", "aws/backup/restore-testing")
    assert testing["schedule_expression"] == "cron(0 6 1 */3 ? *)"  # ca: every 90 days
    types = sorted(s["protected_resource_type"] for s in
                   resources(doc, "aws_backup_restore_testing_selection").values())
    assert types == ["DynamoDB", "S3"]
    key = _one(doc, "aws_kms_key", "aws/backup/key")
    assert "CrossAccountCopy" in statements(key)


def test_non_production_vault_is_governance_without_restore_tests(docs) -> None:
    doc = docs["staging"]
    lock = _one(doc, "aws_backup_vault_lock_configuration", "aws/backup/vault-lock")
    assert "changeable_for_days" not in lock and lock["min_retention_days"] == 7
    assert "copy_action" not in _one(doc, "aws_backup_plan", "aws/backup/plan")["rule"][0]
    assert not resources(doc, "aws_backup_restore_testing_plan")
    dev = docs["dev"]
    assert resources(dev, "aws_backup_vault") and not resources(dev, "aws_backup_plan")


@pytest.fixture(scope="module")
def backup():
    from keyplane.desired import aws as backup

    return backup


def test_fails_ca_vault_without_a_copy_account(backup) -> None:
    _fails(lambda: backup.BackupVaultConfig(env_name="prod", region="us-east-1", tier=Tier.CA),
           "KP309", "the ca tier copies backups to another account; set "
                    "aws.backup.copy_to_account_id")


def test_fails_vault_for_ephemeral_tier(backup) -> None:
    _fails(lambda: backup.BackupVaultConfig(env_name="dev", region="eu-west-1",
                                            tier=Tier.EPHEMERAL),
           "KP309", "the ephemeral tier has no backup vault")


def test_fails_resource_aws_backup_cannot_protect(backup) -> None:
    aws_backup = example_estate()["staging"].aws.backup
    bad = aws_backup.model_copy(update={"resources": (aws_backup.resources[0].model_copy(
        update={"arn": "arn:aws:sqs:us-east-1:345678901234:queue"}),)})
    _fails(lambda: backup.BackupVaultConfig(env_name="staging", region="us-east-1",
                                            tier=Tier.NON_PRODUCTION, backup=bad),
           "KP309", "cannot back up 'arn:aws:sqs:us-east-1:345678901234:queue': service 'sqs' "
                    "is not one of docdb, dynamodb, ec2, elasticfilesystem, fsx, rds, s3")
