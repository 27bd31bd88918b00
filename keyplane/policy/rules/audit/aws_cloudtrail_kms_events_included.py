"""The CloudTrail trail does not exclude KMS events."""

from __future__ import annotations

from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule

_KMS = "kms.amazonaws.com"


@rule(title="CloudTrail records KMS events", severity=Severity.HIGH,
      control=Control.AUDIT, types=("aws_cloudtrail",))
def aws_cloudtrail_kms_events_included(res: Resource, ctx: RuleContext) -> Verdict | None:
    """No event selector excludes `kms.amazonaws.com` management events, and no advanced
    event selector filters them out.

    Why: KMS is the noisiest management event source, so it is the first one people
    exclude; for a key estate those events (Sign, Decrypt, ScheduleKeyDeletion) are the
    evidence.

    Fix: remove `kms.amazonaws.com` from `exclude_management_event_sources` and from any
    `NotEquals`/`not_equals` field selector on `eventSource`.

    See: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-management-events-with-cloudtrail.html
    """
    for i, sel in enumerate(res.blocks("event_selector")):
        if not isinstance(sel, dict):
            continue
        excluded = sel.get("exclude_management_event_sources") or []
        if isinstance(excluded, str):
            return unknown("exclude_management_event_sources is known only after apply",
                           f"event_selector[{i}]")
        if _KMS in excluded:
            return failed("event_selector excludes kms.amazonaws.com management events",
                          f"event_selector[{i}].exclude_management_event_sources")
        if sel.get("include_management_events") is False:
            return failed("event_selector drops management events, kms among them",
                          f"event_selector[{i}].include_management_events")
    for i, sel in enumerate(res.blocks("advanced_event_selector")):
        fields = sel.get("field_selector") if isinstance(sel, dict) else None
        for f in fields if isinstance(fields, list) else [fields]:
            if isinstance(f, dict) and f.get("field") == "eventSource" and \
                    _KMS in (f.get("not_equals") or []):
                return failed("advanced_event_selector filters out kms.amazonaws.com",
                              f"advanced_event_selector[{i}]")
    return passed("kms events are recorded")
