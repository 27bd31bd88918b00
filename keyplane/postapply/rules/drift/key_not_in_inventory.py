"""Every key tagged for the environment matches a declared key or generation."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Cloud, Control
from keyplane.model.tags import AWS_TAG_ENV, AWS_TAG_KEY
from keyplane.postapply.registry import CheckContext, Result, check, fail


@check(title="Tagged keys are in the inventory", control=Control.PROTECTION)
def key_not_in_inventory(ctx: CheckContext) -> Iterator[Result]:
    """A key tagged for this environment (`keyplane:env`) matches a declared key and
    generation, in the environment's home Region, once.

    Why: such a key looks managed but is not: a generation removed from the inventory
    while its key lives on, a copy made by hand with the tags of another, or a key in the
    wrong Region. Nothing rotates, reviews or retires it.

    Fix: declare the generation again (with `verify_until` when it is retiring), or
    schedule the key's deletion once nothing depends on it.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html
    """
    for obs in ctx.matched.aws_not_in_inventory:
        tags = obs.tags or {}
        yield fail(ctx.undeclared(obs.key.arn, cloud=Cloud.AWS, region=obs.key.region),
                   f"tagged for {tags.get(AWS_TAG_ENV)} but no declared key or generation "
                   "matches it", actual=tags.get(AWS_TAG_KEY))
