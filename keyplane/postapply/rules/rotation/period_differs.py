"""A key's rotation period is the declared one."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tiers import TIERS
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, unknown
from keyplane.postapply.rules.rotation._automatic import rotating

NOT_REPORTED = "rotation period not reported by the endpoint"


@check(title="Rotation period as declared", control=Control.ROTATION, needs={Facet.ROTATION})
def period_differs(ctx: CheckContext) -> Iterator[Result]:
    """The deployed rotation period of a key with automatic rotation is the declared one
    (a period above the tier's maximum is `rotation.period_above_tier` instead).

    Why: a period changed outside the stack is drift: the next `terraform apply` silently
    sets it back, and until then the key rotates on a schedule nobody reviewed.

    Fix: set the period through the stack (change `rotation_period_in_days` in the
    inventory, or re-apply to restore it) and find out from the audit trail who changed it.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
    """
    for pair, rot in rotating(ctx):
        exp = pair.expected
        if rot.period_in_days is None:
            yield unknown(pair.subject, NOT_REPORTED)
            continue
        if (rot.period_in_days <= TIERS[exp.key.tier].max_rotation_period_in_days
                and rot.period_in_days != exp.rotation_period_in_days):
            yield pair.fail(f"rotation period is {rot.period_in_days} d, declared "
                            f"{exp.rotation_period_in_days} d",
                            expected=exp.rotation_period_in_days, actual=rot.period_in_days)
    for gpair in ctx.gcp_keys():
        key, seconds = gpair.expected.key, gpair.observed.key.rotation_period_seconds
        if not gpair.expected.rotation_period_seconds or not seconds:
            continue
        days = seconds / 86400
        if (days <= TIERS[key.tier].max_rotation_period_in_days
                and seconds != gpair.expected.rotation_period_seconds):
            yield gpair.fail(f"rotation_period is {days:g} d, declared "
                             f"{key.rotation_period_in_days} d",
                             expected=key.rotation_period_in_days, actual=round(days, 2))
