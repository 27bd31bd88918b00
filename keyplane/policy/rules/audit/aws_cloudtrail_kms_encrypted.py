"""The CloudTrail trail encrypts its logs with a customer-managed KMS key."""

from __future__ import annotations

from keyplane.model.limits import AWS_RESERVED_ALIAS_PREFIX
from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="CloudTrail logs are encrypted with a customer-managed KMS key",
      severity=Severity.HIGH, control=Control.AUDIT, types=("aws_cloudtrail",))
def aws_cloudtrail_kms_encrypted(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`kms_key_id` names a customer-managed key (a reference counts; `alias/aws/...` does not).

    Why: the trail records who used which key; encrypting it with a key the estate controls
    keeps the record readable only by auditors.

    Fix: set `kms_key_id` to the environment's audit key.

    See: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/encrypting-cloudtrail-log-files-with-aws-kms.html
    """
    present = res.is_set("kms_key_id")
    if present is None:
        return unknown("kms_key_id is known only after apply", "kms_key_id")
    if not present:
        return failed("kms_key_id is not set: logs are encrypted with an aws-managed key",
                      "kms_key_id")
    raw = res.raw("kms_key_id")
    if isinstance(raw, str) and AWS_RESERVED_ALIAS_PREFIX in raw:
        return failed(f"kms_key_id is an aws-managed key ({raw})", "kms_key_id")
    return passed("encrypted with a customer-managed key")
