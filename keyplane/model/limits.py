"""Provider limits keyplane enforces itself, each with the document it comes from.

keyplane does not rely on the provider (or on a local emulator) to reject an
out-of-range value: it refuses it at load time, naming the range and the source.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """An inclusive numeric range a provider accepts for one setting."""

    name: str
    minimum: int
    maximum: int
    unit: str
    source: str
    default: int | None = None

    def contains(self, value: int) -> bool:
        """Whether `value` is inside the range."""
        return self.minimum <= value <= self.maximum

    def describe(self) -> str:
        """`between 7 and 30 days`."""
        return f"between {self.minimum} and {self.maximum} {self.unit}"


_AWS_KMS = "https://docs.aws.amazon.com/kms/latest"

AWS_KMS_DELETION_WINDOW = Limit(
    "deletion_window_in_days", 7, 30, "days",
    f"{_AWS_KMS}/developerguide/deleting-keys.html", default=30)
AWS_KMS_ROTATION_PERIOD = Limit(
    "rotation_period_in_days", 90, 2560, "days",
    f"{_AWS_KMS}/APIReference/API_EnableKeyRotation.html", default=365)
CLOUDHSM_BACKUP_RETENTION = Limit(
    "backup_retention_in_days", 7, 379, "days",
    "https://docs.aws.amazon.com/cloudhsm/latest/userguide/manage-backup-retention.html")
CLOUDHSM_MIN_HSMS_FOR_KEY_STORE = 2  # in distinct Availability Zones (custom key store prerequisites)
BACKUP_VAULT_LOCK_CHANGEABLE_FOR_DAYS = Limit(
    "changeable_for_days", 3, 36500, "days",
    "https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html")
BACKUP_VAULT_RETENTION = Limit(
    "retention_in_days", 1, 36500, "days",
    "https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html")
BACKUP_RESTORE_VALIDATION_WINDOW = Limit(
    "validation_window_hours", 0, 168, "hours",
    "https://docs.aws.amazon.com/aws-backup/latest/devguide/API_RestoreTestingSelectionForList.html")
GCP_ROTATION_PERIOD_HOURS = Limit(
    "rotation_period", 24, 876_000, "hours",
    "https://cloud.google.com/kms/docs/key-rotation")
GCP_DESTROY_SCHEDULED_DURATION = Limit(
    "destroy_scheduled_duration_in_days", 1, 120, "days",
    "https://cloud.google.com/kms/docs/destroy-restore", default=30)
CLOUDWATCH_LOG_RETENTION_DAYS = frozenset({
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653})  # the values PutRetentionPolicy accepts

# AWS KMS on-demand rotations per key: 10 in the API reference, 25 in the developer
# guide. keyplane reads the number at run time and never hard-codes it.

# Terraform's machine-readable plan: https://developer.hashicorp.com/terraform/internals/json-format
TERRAFORM_PLAN_FORMAT_MAJOR = 1  # terraform >= 1.1
TERRAFORM_PLAN_FORMAT_KNOWN_MINOR = 2  # newer minors are read with a warning
# Before 1.1 terraform wrote major 0 (0.1 from terraform 0.12 on, 0.2 by terraform 1.0) with
# the resource_changes the reader uses. 0.x made no compatibility promise, so a 0.x minor
# not listed here is refused rather than assumed to read the same.
TERRAFORM_PLAN_FORMAT_LEGACY_MAJOR = 0
TERRAFORM_PLAN_FORMAT_LEGACY_MINORS = (1, 2)  # terraform 0.12 to 1.0


def cloudwatch_retention_at_least(days: int) -> int:
    """The smallest retention CloudWatch Logs accepts that is >= `days`."""
    return min(v for v in CLOUDWATCH_LOG_RETENTION_DAYS if v >= days)


AWS_ALIAS_PATTERN = r"^alias/[a-zA-Z0-9/_-]{1,250}$"
AWS_RESERVED_ALIAS_PREFIX = "alias/aws/"
GCP_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,63}$"
