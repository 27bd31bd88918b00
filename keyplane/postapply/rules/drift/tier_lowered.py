"""The tier tag or label of a declared key is not below its declared tier."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tags import AWS_TAG_TIER, GCP_LABEL_TIER
from keyplane.model.tiers import Tier
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import (
    CheckContext,
    Result,
    check,
    expected_aws_subject,
    unknown,
)

UNSURE = "not found, but part of the account could not be read"


def lowered(declared: Tier, observed: str | None) -> str | None:
    """The observed tier tag/label when it is missing, unknown or below the declared tier."""
    try:
        seen = Tier(observed) if observed is not None else None
    except ValueError:
        seen = None
    if seen is not None and seen.rank >= declared.rank:
        return None
    return observed if observed is not None else "(none)"


@check(title="Tier tags and labels are not lowered", control=Control.PROTECTION,
       needs={Facet.TAGS})
def tier_lowered(ctx: CheckContext) -> Iterator[Result]:
    """A key's `keyplane:tier` tag (AWS) or `keyplane-tier` label (Cloud KMS) names its
    declared tier or a higher one; missing or unknown values count as lowered.

    Why: the gate and every check read a deployed key's tier from this tag: a lowered
    tier silently weakens them all (a CA key tagged ephemeral is judged as ephemeral).
    A declared key whose tags could not be read is UNKNOWN.

    Fix: set the tag or label back to the declared tier (re-apply the synthesized stack)
    and find out who changed it (TagResource, UpdateCryptoKey) from the audit trail.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html
    """
    for pair in ctx.aws_keys(Facet.TAGS):
        tier = pair.expected.key.tier
        got = lowered(tier, (pair.observed.tags or {}).get(AWS_TAG_TIER))
        if got:
            yield pair.fail(f"tag {AWS_TAG_TIER} is {got!r}, declared {tier.value}: the gate "
                            "and every check read the tier from this tag, so a lowered tier "
                            "weakens them all", expected=tier.value, actual=got)
    for exp in ctx.matched.aws_unsure:  # keys are found by their tags: these are unread
        yield unknown(expected_aws_subject(exp), UNSURE)
    for gpair in ctx.gcp_keys():
        tier = gpair.expected.key.tier
        got = lowered(tier, gpair.observed.key.labels.get(GCP_LABEL_TIER))
        if got:
            yield gpair.fail(f"label {GCP_LABEL_TIER} is {got!r}, declared {tier.value}: the "
                             "gate and every check read the tier from this label, so a lowered "
                             "tier weakens them all", expected=tier.value, actual=got)
