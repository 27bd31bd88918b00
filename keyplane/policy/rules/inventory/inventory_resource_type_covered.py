"""Resource types that touch KMS, IAM, backup or logging are known to the gate."""

from __future__ import annotations

from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed
from keyplane.policy.registry import ANY_TYPE, RuleContext, rule

# Type prefixes of the services that hold, grant, protect or audit keys.
SENSITIVE_PREFIXES = ("aws_kms_", "aws_iam_", "aws_backup_", "aws_cloudtrail",
                      "aws_cloudwatch_log", "aws_cloudhsm", "aws_s3_bucket_object_lock",
                      "google_kms_", "google_logging_", "google_project_iam",
                      "google_organization_iam", "google_folder_iam",
                      "google_service_account_iam")

# Types keyplane reviewed that carry no control of their own: their content is checked
# through the resource they attach to (alias -> key, lock -> vault or bucket, ...).
REVIEWED_TYPES = frozenset({
    "aws_kms_alias", "aws_kms_key_policy", "aws_kms_custom_key_store", "aws_kms_grant",
    "aws_iam_role_policy_attachment", "aws_iam_openid_connect_provider",
    "aws_iam_service_linked_role", "aws_backup_vault_lock_configuration",
    "aws_backup_selection", "aws_backup_vault_policy", "aws_backup_vault_notifications",
    "aws_cloudwatch_log_metric_filter", "aws_cloudwatch_log_resource_policy",
    "aws_cloudhsm_v2_cluster", "aws_cloudhsm_v2_hsm", "aws_s3_bucket_object_lock_configuration",
    "google_kms_key_ring", "google_kms_crypto_key_version", "google_logging_metric",
    "google_logging_project_bucket_config", "google_project_iam_audit_config",
    "aws_backup_restore_testing_plan", "aws_backup_restore_testing_selection",
})


@rule(title="Resource types touching KMS, IAM, backup or logging are covered by the gate",
      severity=Severity.HIGH, control=Control.PROTECTION, needs_tier=False, types=(ANY_TYPE,))
def inventory_resource_type_covered(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A resource type of KMS, IAM, backup or logging is checked by a rule or reviewed.

    Why: a general scanner passes what it does not know; a gate for keys must not. A new
    type (a grant, a policy attachment, a sink) can widen access to a key silently.

    Fix: add a rule for the type under keyplane/policy/rules/, or add it to the reviewed
    types when another rule already checks it through the resource it attaches to; until
    then, a waiver naming the resource.

    See: SCENARIOS.md item 11
    """
    if not res.type.startswith(SENSITIVE_PREFIXES):
        return None
    if res.type in ctx.covered_types or res.type in REVIEWED_TYPES:
        return passed(f"{res.type} is checked by keyplane")
    return failed(f"resource type {res.type} touches kms, iam, backup or logging and no "
                  "keyplane rule checks it")
