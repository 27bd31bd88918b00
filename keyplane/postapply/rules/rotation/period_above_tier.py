"""A key's rotation period is within its tier's maximum."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tiers import TIERS
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, unknown
from keyplane.postapply.rules.rotation._automatic import rotating

NOT_REPORTED = "rotation period not reported by the endpoint"


@check(title="Rotation period within the tier's maximum", control=Control.ROTATION,
       needs={Facet.ROTATION})
def period_above_tier(ctx: CheckContext) -> Iterator[Result]:
    """The deployed rotation period of a key with automatic rotation is at most its tier's
    maximum (AWS `RotationPeriodInDays`, Cloud KMS `rotation_period`).

    Why: the tier's maximum rotation period is its cryptoperiod; a longer period keeps one
    key version in use for more data and more time than the tier allows, and the evidence
    report would claim a rotation the key does not get.

    Fix: set the period back through the stack (`terraform apply` of the environment);
    find out from the audit trail who changed it (`EnableKeyRotation` with another
    period, `UpdateCryptoKey`).

    See: https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
    """
    for pair, rot in rotating(ctx):
        exp = pair.expected
        if rot.period_in_days is None:
            yield unknown(pair.subject, NOT_REPORTED)
            continue
        limit = TIERS[exp.key.tier].max_rotation_period_in_days
        if rot.period_in_days > limit:
            yield pair.fail(f"rotation period {rot.period_in_days} d is above the "
                            f"{exp.key.tier.value} tier's maximum of {limit} d",
                            expected=limit, actual=rot.period_in_days)
    for gpair in ctx.gcp_keys():
        key, seconds = gpair.expected.key, gpair.observed.key.rotation_period_seconds
        if not gpair.expected.rotation_period_seconds or not seconds:
            continue
        days, limit = seconds / 86400, TIERS[key.tier].max_rotation_period_in_days
        if days > limit:
            yield gpair.fail(f"rotation_period {days:g} d is above the {key.tier.value} tier's "
                             f"maximum of {limit} d", expected=limit, actual=round(days, 2))
