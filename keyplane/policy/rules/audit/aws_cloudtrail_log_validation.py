"""The CloudTrail trail validates its log files."""

from __future__ import annotations

from keyplane.policy.facts import as_bool
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="CloudTrail log file validation is enabled", severity=Severity.HIGH, control=Control.AUDIT,
      types=("aws_cloudtrail",))
def aws_cloudtrail_log_validation(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`enable_log_file_validation` is true.

    Why: digest files prove that no log of a key's use was altered or removed; evidence
    without them is only a claim.

    Fix: set `enable_log_file_validation = true`.

    See: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html
    """
    value = res.get("enable_log_file_validation")
    if value is UNKNOWN:
        return unknown("enable_log_file_validation is known only after apply",
                       "enable_log_file_validation")
    if as_bool(value) is True:
        return passed("log file validation is enabled")
    return failed("enable_log_file_validation is not true", "enable_log_file_validation")
