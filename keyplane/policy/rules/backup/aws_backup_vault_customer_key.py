"""Backup vaults are encrypted with the estate's own KMS key."""

from __future__ import annotations

from keyplane.model.limits import AWS_RESERVED_ALIAS_PREFIX
from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="Backup vaults are encrypted with a customer-managed key", severity=Severity.HIGH,
      control=Control.BACKUP, types=("aws_backup_vault",))
def aws_backup_vault_customer_key(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`kms_key_arn` names a customer-managed key, never the AWS-managed `alias/aws/backup`.

    Why: recovery points of a CA database are as sensitive as the CA; with the estate's own
    key, its key policy (not every backup user of the account) decides who can restore.

    Fix: set `kms_key_arn` to the environment's backup key.

    See: https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html
    """
    present = res.is_set("kms_key_arn")
    if present is None:
        return unknown("kms_key_arn is known only after apply", "kms_key_arn")
    if not present:
        return failed("kms_key_arn is not set: the vault uses the aws-managed backup key",
                      "kms_key_arn")
    raw = res.raw("kms_key_arn")
    if isinstance(raw, str) and AWS_RESERVED_ALIAS_PREFIX in raw:
        return failed(f"kms_key_arn is an aws-managed key ({raw})", "kms_key_arn")
    return passed("the vault uses a customer-managed key")
