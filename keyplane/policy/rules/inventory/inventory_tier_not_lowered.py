"""A plan never lowers the tier of a key, crypto key or backup vault."""

from __future__ import annotations

from keyplane.model import tags as T
from keyplane.policy.model import Control, Resource, Severity, Verdict, failed, not_applicable, passed
from keyplane.policy.registry import RuleContext, rule


@rule(title="A change never lowers a key's or vault's tier", severity=Severity.HIGH,
      control=Control.PROTECTION, needs_tier=False, inputs=("plan",),
      types=("aws_kms_key", "aws_kms_external_key", "aws_kms_replica_key",
             "aws_kms_replica_external_key", "google_kms_crypto_key", "aws_backup_vault"))
def inventory_tier_not_lowered(res: Resource, ctx: RuleContext) -> Verdict | None:
    """An update keeps the tier the resource had before, or raises it.

    Why: every control keyplane checks is chosen by the tier tag (or label); a pull request
    that turns a production key's `keyplane:tier` into `ephemeral` would silently relax the
    gate, post-apply and drills for that key. A downgrade is a decision for the inventory
    (a reviewed change of `tier:` in environments/<env>.yaml, which also moves the key to
    another account's stack), never a tag edit.

    Fix: restore the tier tag; to reclassify a key, declare it anew in the inventory.

    See: shared/TIERS.md
    """
    prior = res.prior_context
    if prior is None or prior.tier is None:
        return not_applicable("no tier before this change")
    now = res.context.tier
    where = "labels" if res.provider == "google" else "tags"
    attr = f"{where}.{T.GCP_LABEL_TIER if res.provider == 'google' else T.AWS_TAG_TIER}"
    if now is None:
        return failed(f"the tier {prior.tier.value} is removed by this change "
                      f"({res.context.tier_raw or 'no tier'})", attr)
    if now.rank < prior.tier.rank:
        return failed(f"the tier is lowered from {prior.tier.value} to {now.value}", attr)
    return passed(f"tier {now.value} (was {prior.tier.value})")
