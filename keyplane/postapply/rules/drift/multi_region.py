"""A declared key is multi-Region exactly when declared so."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Multi-Region keys are as declared", control=Control.PROTECTION)
def multi_region(ctx: CheckContext) -> Iterator[Result]:
    """A key is a multi-Region key exactly when the stack declares it one.

    Why: a key declared multi-Region but deployed single-Region has no replicas to fail
    over to; one deployed multi-Region against the declaration can be replicated into
    Regions nobody reviewed. Either way it is not the key the stack describes.

    Fix: multi-Region cannot be changed on a key: find out how it was replaced (audit
    trail), then re-apply the synthesized stack or rotate to a new generation.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html
    """
    for pair in ctx.aws_keys():
        want, got = pair.expected.multi_region, pair.observed.key.multi_region
        if want != got:
            yield pair.fail(f"multi-region is {got}, declared {want}", expected=want, actual=got)
