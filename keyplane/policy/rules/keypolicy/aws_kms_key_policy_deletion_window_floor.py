"""The key policy enforces the tier's floor on the deletion waiting period."""

from __future__ import annotations

from keyplane.policy.facts import as_int
from keyplane.policy.keypolicy import KEY_TYPES, key_policy
from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule

_KEY = "kms:ScheduleKeyDeletionPendingWindowInDays"


@rule(title="Key policy enforces the deletion window floor", severity=Severity.HIGH, control=Control.ACCESS,
      types=KEY_TYPES)
def aws_kms_key_policy_deletion_window_floor(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A Deny statement refuses `kms:ScheduleKeyDeletion` with
    `kms:ScheduleKeyDeletionPendingWindowInDays` below the tier's floor, or every Allow of
    it requires at least the floor.

    Why: the key resource's deletion window applies to Terraform only; a break-glass call
    to ScheduleKeyDeletion chooses its own window. The policy keeps the tier's floor
    (30 days for ca and production) for every caller.

    Fix: add a Deny statement for `kms:ScheduleKeyDeletion` with
    `NumericLessThan: {kms:ScheduleKeyDeletionPendingWindowInDays: <floor>}`.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
    """
    assert ctx.policy is not None
    floor = ctx.policy.min_deletion_window_in_days
    kp = key_policy(res, ctx.index)
    if kp.unknown:
        return unknown("the key policy is known only after apply", "policy")
    if kp.error:
        return failed(kp.error, "policy")
    allows = []
    for st in kp.statements:
        if not st.grants("kms:ScheduleKeyDeletion"):
            continue
        if not st.allow:
            for v in st.condition_values(_KEY, frozenset({"numericlessthan"})):
                n = as_int(v)
                if n is not None and n >= floor:
                    return passed(f"{st.where} denies deletion windows below {n} days")
        else:
            allows.append(st)
    if allows and all(
            any((as_int(v) or 0) >= floor for v in st.condition_values(
                _KEY, frozenset({"numericgreaterthanequals"})))
            for st in allows):
        return passed(f"every allow of kms:ScheduleKeyDeletion requires >= {floor} days")
    return failed(f"no statement enforces {_KEY} >= {floor} (the {ctx.policy.tier.value} floor)",
                  "policy")
