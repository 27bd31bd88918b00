"""The CloudTrail trail records every Region."""

from __future__ import annotations

from keyplane.policy.facts import as_bool
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="CloudTrail trail is multi-Region", severity=Severity.HIGH, control=Control.AUDIT,
      types=("aws_cloudtrail",))
def aws_cloudtrail_multi_region(res: Resource, ctx: RuleContext) -> Verdict | None:
    """`is_multi_region_trail` is true.

    Why: key use and key changes happen in replica Regions too; a single-Region trail
    misses them.

    Fix: set `is_multi_region_trail = true`.

    See: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/receive-cloudtrail-log-files-from-multiple-regions.html
    """
    value = res.get("is_multi_region_trail")
    if value is UNKNOWN:
        return unknown("is_multi_region_trail is known only after apply", "is_multi_region_trail")
    if as_bool(value) is True:
        return passed("the trail is multi-region")
    return failed("is_multi_region_trail is not true", "is_multi_region_trail")
