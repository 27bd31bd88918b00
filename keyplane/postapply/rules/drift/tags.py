"""A declared key carries the tags the stack declares."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tags import AWS_TAG_TIER
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import (
    CheckContext,
    Result,
    check,
    expected_aws_subject,
    unknown,
)
from keyplane.postapply.rules.drift.tier_lowered import UNSURE, lowered


@check(title="Key tags are as declared", control=Control.PROTECTION, needs={Facet.TAGS})
def tags(ctx: CheckContext) -> Iterator[Result]:
    """An AWS key carries every tag the stack declares, with the declared value (a lowered
    tier tag is reported once, by drift.tier_lowered).

    Why: keyplane finds a key, its generation and its creation date by these tags;
    reports, cost allocation and tag-based access conditions read them too. A declared
    key whose tags could not be read is UNKNOWN.

    Fix: re-apply the synthesized stack (or `aws kms tag-resource`) and find out who
    changed them (TagResource, UntagResource) from the audit trail.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html
    """
    for pair in ctx.aws_keys(Facet.TAGS):
        seen = pair.observed.tags or {}
        wrong = {t: v for t, v in pair.expected.tags.items() if seen.get(t) != v}
        if lowered(pair.expected.key.tier, seen.get(AWS_TAG_TIER)):
            wrong.pop(AWS_TAG_TIER, None)
        if wrong:
            yield pair.fail(f"tags differ: {', '.join(sorted(wrong))}", expected=wrong,
                            actual={t: seen.get(t) for t in wrong})
    for exp in ctx.matched.aws_unsure:  # keys are found by their tags: these are unread
        yield unknown(expected_aws_subject(exp), UNSURE)
