"""A key that cannot rotate in place is no older than its tier's maximum age."""

from __future__ import annotations

import datetime as dt

from keyplane.model import tags as T
from keyplane.policy.facts import (
    AWS_KEY_TYPES,
    GCP_KEY_TYPES,
    aws_eligibility,
    aws_key_facts,
    gcp_eligibility,
)
from keyplane.policy.model import (
    UNKNOWN,
    Control,
    Resource,
    Severity,
    Verdict,
    failed,
    not_applicable,
    passed,
    unknown,
)
from keyplane.policy.registry import RuleContext, rule


@rule(title="Signing-key generations are within the tier's maximum age",
      severity=Severity.HIGH, control=Control.PROTECTION, types=(*AWS_KEY_TYPES, *GCP_KEY_TYPES))
def kms_key_generation_age(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A key managed as generations was created no longer ago than its tier's max key age.

    Why: asymmetric, HMAC, imported and custom-store keys cannot rotate in place; keyplane
    renews them by generation (new key, alias swap) and the tier bounds a generation's age
    (ca 3650 days, production 365, non-production 730, ephemeral 30).

    Fix: run `keyplane rotate <key> --reason ...` and merge the pull request it opens; the
    created-on tag/label (`keyplane:created-on`, `keyplane-created-on`) records the date.

    See: shared/TIERS.md (signing-key rotation)
    """
    assert ctx.policy is not None
    if res.provider == "google":
        elig = gcp_eligibility(res)
    else:
        facts = aws_key_facts(res, ctx.index)
        # A replica shares its primary's material: it rotates (or ages) with the primary.
        subject = facts.primary if facts.primary is not None else res
        elig = aws_eligibility(subject, ctx.index)
        if facts.replica:
            if facts.primary is None:
                return unknown("the replica's primary key is not in this input")
            return not_applicable("a replica ages with its primary key")
    if elig is UNKNOWN:
        return unknown("key spec is known only after apply; cannot tell whether it rotates")
    if elig is not None and elig:
        return not_applicable("the key rotates automatically")
    attr = (f"labels.{T.GCP_LABEL_CREATED_ON}" if res.provider == "google"
            else f"tags.{T.AWS_TAG_CREATED_ON}")
    created = res.context.created_on
    if created is None:
        return unknown("the key cannot rotate in place and carries no created-on date, so its "
                       "age cannot be checked", attr)
    try:
        born = dt.date.fromisoformat(created)
    except ValueError:
        return failed(f"created-on '{created}' is not a date (yyyy-mm-dd)", attr)
    age = (ctx.today - born).days
    limit = ctx.policy.max_key_age_in_days
    if age > limit:
        return failed(f"generation {res.context.generation or '?'} is {age} days old, above "
                      f"the {ctx.policy.tier.value} maximum of {limit}", attr)
    return passed(f"generation {res.context.generation or '?'} is {age} days old "
                  f"(maximum {limit})")
