"""Log groups are encrypted with a customer-managed KMS key."""

from __future__ import annotations

from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="CloudWatch log groups are KMS-encrypted", severity=Severity.HIGH, control=Control.AUDIT,
      types=("aws_cloudwatch_log_group",))
def aws_cloudwatch_log_group_kms_encrypted(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`kms_key_id` is set on every keyplane log group (a reference counts).

    Why: the log group holds the trail's copy of every key event; it is protected like the
    trail itself.

    Fix: set `kms_key_id` to the environment's audit key (its key policy must let the
    `logs.<region>.amazonaws.com` service use it).

    See: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    """
    present = res.is_set("kms_key_id")
    if present is None:
        return unknown("kms_key_id is known only after apply", "kms_key_id")
    if not present:
        return failed("kms_key_id is not set on the log group", "kms_key_id")
    return passed("the log group is kms-encrypted")
