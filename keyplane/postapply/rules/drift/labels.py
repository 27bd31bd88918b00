"""A declared Cloud KMS key carries its declared labels."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tags import GCP_LABEL_TIER
from keyplane.model.tiers import Tier
from keyplane.postapply.registry import CheckContext, Result, check


def _tier_lowered(declared: Tier, observed: str | None) -> bool:
    """Whether the tier label is missing, unknown or below the declared tier (the finding of
    drift.tier_lowered, not of this check)."""
    try:
        seen = Tier(observed) if observed is not None else None
    except ValueError:
        seen = None
    return seen is None or seen.rank < declared.rank


@check(title="Cloud KMS keys carry their declared labels", control=Control.PROTECTION)
def labels(ctx: CheckContext) -> Iterator[Result]:
    """Every label the stack declares on a crypto key has the declared value (other labels
    may be added; a lowered `keyplane-tier` label is drift.tier_lowered's finding).

    Why: keyplane finds a key's declaration, environment, generation and creation date by
    its labels; a changed label makes rotation ages, inventory matches and the evidence
    report read wrong values.

    Fix: re-apply the environment's stack to restore the labels, or correct them with
    `gcloud kms keys update <key> --update-labels ...`.

    See: https://cloud.google.com/kms/docs/creating-managing-labels
    """
    for pair in ctx.gcp_keys():
        seen = pair.observed.key.labels
        wrong = {k: v for k, v in pair.expected.labels.items() if seen.get(k) != v}
        if _tier_lowered(pair.expected.key.tier, seen.get(GCP_LABEL_TIER)):
            wrong.pop(GCP_LABEL_TIER, None)
        if wrong:
            yield pair.fail(f"labels differ: {', '.join(sorted(wrong))}", expected=wrong,
                            actual={k: seen.get(k) for k in wrong})
