"""The tags (AWS) and labels (GCP) keyplane puts on everything it creates.

The PR gate reads tier context from them and the post-apply jobs find keyplane's
resources by them, so their names are part of keyplane's contract.
"""

from __future__ import annotations

from keyplane.model.tiers import Tier

AWS_TAG_ENV = "keyplane:env"
AWS_TAG_TIER = "keyplane:tier"
AWS_TAG_KEY = "keyplane:key"
GCP_LABEL_ENV = "keyplane-env"
GCP_LABEL_TIER = "keyplane-tier"
GCP_LABEL_KEY = "keyplane-key"


# keyplane's own service keys (the audit trail's, the backup vault's) are tagged
# `keyplane:key = keyplane/<purpose>`: never an inventory key name (those have no '/'), so
# post-apply knows them for keyplane's own and no inventory key can claim the tag.
SERVICE_KEY_PREFIX = "keyplane/"


def service_key_name(purpose: str) -> str:
    """The `keyplane:key` tag value of keyplane's own key for `purpose` (`keyplane/audit`)."""
    return f"{SERVICE_KEY_PREFIX}{purpose}"


def aws_tags(env: str, tier: Tier, key: str | None = None) -> dict[str, str]:
    """Tags for an AWS resource; shared resources carry the highest tier they serve."""
    tags = {AWS_TAG_ENV: env, AWS_TAG_TIER: tier.value}
    if key is not None:
        tags[AWS_TAG_KEY] = key
    return tags


def gcp_labels(env: str, tier: Tier, key: str | None = None) -> dict[str, str]:
    """Labels for a GCP resource (values: lowercase letters, digits, '-' and '_')."""
    labels = {GCP_LABEL_ENV: env, GCP_LABEL_TIER: tier.value}
    if key is not None:
        labels[GCP_LABEL_KEY] = key
    return labels

# Signing-key generations: which generation a key (or key version) is and when it was
# created, so the PR gate can check its age without the inventory.
AWS_TAG_GENERATION = "keyplane:generation"
AWS_TAG_CREATED_ON = "keyplane:created-on"
GCP_LABEL_GENERATION = "keyplane-generation"
GCP_LABEL_CREATED_ON = "keyplane-created-on"

# Cross-account access the inventory declares (e.g. the ca backup copy account): AWS
# account ids separated by spaces. The PR gate allows principals of these accounts only.
AWS_TAG_DECLARED_ACCOUNTS = "keyplane:declared-accounts"

# Separation-of-duties roles: IAM roles carry `keyplane:role` with one of these values and
# are named `keyplane-<env>-<role>` (workload key-user roles: `keyplane-<env>-user-<workload>`).
AWS_TAG_ROLE = "keyplane:role"
ROLE_KEY_ADMIN = "key-admin"
ROLE_KEY_USER = "key-user"
ROLE_BACKUP_OPERATOR = "backup-operator"
ROLE_AUDITOR = "auditor"
ROLE_BREAK_GLASS = "break-glass"
ROLE_CEREMONY = "ceremony"
ROLE_SERVICE = "service"  # roles AWS services assume for keyplane (CloudTrail to Logs, Backup)
ROLES = (ROLE_KEY_ADMIN, ROLE_KEY_USER, ROLE_BACKUP_OPERATOR, ROLE_AUDITOR, ROLE_BREAK_GLASS,
         ROLE_CEREMONY, ROLE_SERVICE)


def role_name(env: str, role: str, workload: str | None = None) -> str:
    """The IAM role name keyplane gives a separation-of-duties role."""
    return f"keyplane-{env}-user-{workload}" if workload else f"keyplane-{env}-{role}"

# The CloudHSM cluster's backup retention: the AWS provider has no argument for it, so the
# stack carries it as this tag; post-apply and the cloudhsm drill compare it with the cluster.
AWS_TAG_BACKUP_RETENTION = "keyplane:backup-retention-in-days"
