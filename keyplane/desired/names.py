"""Every name keyplane gives a resource, and the ARNs built from them.

Names are part of keyplane's contract: key policies name roles by ARN before the roles
exist, drills find the vault and the restore role by name, post-apply finds the trail and
the log group by name. The plans (`keyplane.desired.aws`, `.gcp`) take every name from
here, so anything that needs one imports it without Node or a synthesized stack.
"""

from __future__ import annotations

import re

from keyplane.model.tags import role_name

__all__ = [
    "AUDIT_PURPOSE",
    "BACKUP_PURPOSE",
    "DRILL_PURPOSE",
    "GCP_AUDIT_KEY_NAME",
    "INLINE_POLICY_NAME",
    "account_root_arn",
    "alarm_name",
    "alarm_namespace",
    "alarm_topic_name",
    "audit_bucket_arn",
    "audit_bucket_name",
    "audit_log_group_arn",
    "audit_log_group_name",
    "backup_plan_name",
    "backup_selection_name",
    "backup_service_role_name",
    "backup_vault_arn",
    "backup_vault_name",
    "cloudtrail_role_name",
    "copy_vault_arn",
    "copy_vault_name",
    "custom_key_store_name",
    "drill_restore_role_arn",
    "drill_restore_role_name",
    "drill_vault_arn",
    "drill_vault_name",
    "gcp_alert_prefix",
    "gcp_audit_bucket_name",
    "gcp_audit_sink_name",
    "gcp_default_key_ring_name",
    "generation_alias",
    "metric_filter_name",
    "partition_of",
    "provider_alias",
    "recovery_points_arn",
    "restore_testing_plan_name",
    "restore_testing_selection_name",
    "role_arn",
    "role_name",
    "service_key_alias",
    "trail_arn",
    "trail_name",
]

# The name of the one inline policy keyplane puts on each of its roles.
INLINE_POLICY_NAME = "keyplane"
# Purposes of keyplane's own KMS keys (alias `alias/keyplane-<env>-<purpose>`).
AUDIT_PURPOSE = "audit"
BACKUP_PURPOSE = "backup"
# The key of the drill account's vault (`alias/keyplane-<env>-drill`, in the drill account).
DRILL_PURPOSE = "drill"
# The Cloud KMS key that encrypts the GCP audit bucket (reserved in its key ring).
GCP_AUDIT_KEY_NAME = "keyplane-audit"


# ---- AWS: partitions and ARNs ----

def partition_of(region: str) -> str:
    """The ARN partition of an AWS Region (aws, aws-us-gov, aws-cn, aws-iso...)."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


def account_root_arn(partition: str, account_id: str) -> str:
    """The account principal `arn:<partition>:iam::<account>:root`."""
    return f"arn:{partition}:iam::{account_id}:root"


def role_arn(partition: str, account_id: str, name: str) -> str:
    """The ARN of the IAM role `name` in `account_id`."""
    return f"arn:{partition}:iam::{account_id}:role/{name}"


def provider_alias(region: str) -> str:
    """The Terraform provider alias of a replica Region: `us_west_2`."""
    return region.replace("-", "_")


# ---- AWS: roles ----

def backup_service_role_name(env_name: str) -> str:
    """The role AWS Backup assumes for this environment's plan and restore tests."""
    return f"keyplane-{env_name}-backup-service"


def drill_restore_role_name(env_name: str) -> str:
    """The role restore drills pass to AWS Backup in the drill account (same name as at home)."""
    return backup_service_role_name(env_name)


def drill_restore_role_arn(partition: str, drill_account_id: str, env_name: str) -> str:
    """The ARN of the restore role in the drill account."""
    return role_arn(partition, drill_account_id, drill_restore_role_name(env_name))


def cloudtrail_role_name(env_name: str) -> str:
    """The role CloudTrail assumes to deliver events to CloudWatch Logs."""
    return f"keyplane-{env_name}-cloudtrail-logs"


# ---- AWS: keys ----

def service_key_alias(env_name: str, purpose: str) -> str:
    """The alias of keyplane's own key for `purpose`: `alias/keyplane-<env>-<purpose>`."""
    return f"alias/keyplane-{env_name}-{purpose}"


def generation_alias(alias: str, generation: int) -> str:
    """The alias of one generation of a declared key: `<alias>/g<N>`."""
    return f"{alias}/g{generation}"


def custom_key_store_name(env_name: str) -> str:
    """The CloudHSM custom key store of the environment: `keyplane-<env>`."""
    return f"keyplane-{env_name}"


# ---- AWS: audit sink ----

def trail_name(env_name: str) -> str:
    """The multi-Region CloudTrail trail: `keyplane-<env>`."""
    return f"keyplane-{env_name}"


def trail_arn(partition: str, region: str, account_id: str, env_name: str) -> str:
    """The ARN of the environment's trail (in its home Region)."""
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{trail_name(env_name)}"


def audit_log_group_name(env_name: str) -> str:
    """The CloudWatch log group the trail delivers to: `/keyplane/<env>/cloudtrail`."""
    return f"/keyplane/{env_name}/cloudtrail"


def audit_log_group_arn(partition: str, region: str, account_id: str, env_name: str) -> str:
    """The ARN of the audit log group (without the `:*` suffix)."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{audit_log_group_name(env_name)}"


def audit_bucket_name(env_name: str, account_id: str) -> str:
    """`keyplane-<env>-audit-<account>`: globally unique through the account id."""
    return f"keyplane-{env_name}-audit-{account_id}"


def audit_bucket_arn(partition: str, env_name: str, account_id: str) -> str:
    """The ARN of the audit bucket."""
    return f"arn:{partition}:s3:::{audit_bucket_name(env_name, account_id)}"


# ---- AWS: alarms ----

def alarm_topic_name(env_name: str) -> str:
    """The SNS topic alarms publish to: `keyplane-<env>-alarms`."""
    return f"keyplane-{env_name}-alarms"


def alarm_namespace(env_name: str) -> str:
    """The CloudWatch namespace of the metric filters' metrics: `keyplane/<env>`."""
    return f"keyplane/{env_name}"


def metric_filter_name(metric: str) -> str:
    """The metric filter of `metric`: `keyplane-<metric>`."""
    return f"keyplane-{metric}"


def alarm_name(env_name: str, metric: str) -> str:
    """The CloudWatch alarm on `metric`: `keyplane-<env>-<metric>`."""
    return f"{alarm_namespace(env_name)}/{metric}".replace("/", "-")


# ---- AWS: backup ----

def backup_vault_name(env_name: str) -> str:
    """`keyplane-<env>`; the copy account is expected to hold `keyplane-<env>-copy`."""
    return f"keyplane-{env_name}"


def copy_vault_name(env_name: str) -> str:
    """The vault in the copy account that receives cross-account copies."""
    return f"{backup_vault_name(env_name)}-copy"


def backup_vault_arn(partition: str, region: str, account_id: str, env_name: str) -> str:
    """The ARN of the environment's vault."""
    return f"arn:{partition}:backup:{region}:{account_id}:backup-vault:{backup_vault_name(env_name)}"


def copy_vault_arn(partition: str, region: str, copy_account_id: str, env_name: str) -> str:
    """The ARN of the copy vault in the copy account (same Region)."""
    return (f"arn:{partition}:backup:{region}:{copy_account_id}:"
            f"backup-vault:{copy_vault_name(env_name)}")


def drill_vault_name(env_name: str) -> str:
    """`keyplane-<env>-drill`: the vault in the drill account that restore drills copy into
    (a name of its own, so a drill account that is also the copy account keeps both)."""
    return f"{backup_vault_name(env_name)}-drill"


def drill_vault_arn(partition: str, region: str, drill_account_id: str, env_name: str) -> str:
    """The ARN of the drill vault in the drill account (same Region as the environment)."""
    return (f"arn:{partition}:backup:{region}:{drill_account_id}:"
            f"backup-vault:{drill_vault_name(env_name)}")


def recovery_points_arn(partition: str, region: str, account_id: str) -> str:
    """Every recovery point of the account in the Region (what a restore may start from)."""
    return f"arn:{partition}:backup:{region}:{account_id}:recovery-point:*"


def backup_plan_name(env_name: str) -> str:
    """The AWS Backup plan: `keyplane-<env>`."""
    return f"keyplane-{env_name}"


def backup_selection_name(env_name: str) -> str:
    """The plan's resource selection: `keyplane-<env>`."""
    return f"keyplane-{env_name}"


def restore_testing_plan_name(env_name: str) -> str:
    """The restore testing plan (letters, digits and `_` only): `keyplane_<env>_restore_testing`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"keyplane_{env_name}_restore_testing")


def restore_testing_selection_name(resource_type: str) -> str:
    """The restore testing selection of one resource type: `keyplane_dynamodb`."""
    return f"keyplane_{resource_type.lower()}"


# ---- GCP ----

def gcp_default_key_ring_name(env_name: str) -> str:
    """The key ring of keys that name none: `keyplane-<env>`."""
    return f"keyplane-{env_name}"


def gcp_audit_bucket_name(project_id: str) -> str:
    """The locked bucket the Cloud KMS audit sink writes to."""
    return f"{project_id}-keyplane-kms-audit"


def gcp_audit_sink_name(env_name: str) -> str:
    """The log sink of Cloud KMS audit entries: `keyplane-<env>-kms-audit`."""
    return f"keyplane-{env_name}-kms-audit"


def gcp_alert_prefix(env_name: str) -> str:
    """The prefix of the environment's log-based metrics: `keyplane-<env>`."""
    return f"keyplane-{env_name}"
