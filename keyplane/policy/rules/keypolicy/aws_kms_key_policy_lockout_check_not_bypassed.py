"""The key-policy lockout safety check is never bypassed."""

from __future__ import annotations

from keyplane.policy.facts import as_bool
from keyplane.policy.keypolicy import KEY_TYPES
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule


@rule(title="The key policy lockout safety check is not bypassed", severity=Severity.CRITICAL,
      control=Control.ACCESS, types=(*KEY_TYPES, "aws_kms_key_policy"))
def aws_kms_key_policy_lockout_check_not_bypassed(res: Resource,
                                                  ctx: RuleContext) -> Verdict | None:
    """`bypass_policy_lockout_safety_check` is never true.

    Why: the check makes KMS refuse a policy that would stop the caller from changing it
    again; bypassing it is how keys become unmanageable.

    Fix: remove `bypass_policy_lockout_safety_check` (default: false) and fix the policy so
    the key-admin role keeps `kms:PutKeyPolicy`.

    See: https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
    """
    value = res.get("bypass_policy_lockout_safety_check")
    if value is UNKNOWN:
        return unknown("bypass_policy_lockout_safety_check is known only after apply",
                       "bypass_policy_lockout_safety_check")
    if as_bool(value) is True:
        return failed("bypass_policy_lockout_safety_check is true",
                      "bypass_policy_lockout_safety_check")
    return passed("the lockout safety check applies")
