"""A generation declared disabled is not enabled."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Retired generations are not enabled", control=Control.PROTECTION)
def key_enabled(ctx: CheckContext) -> Iterator[Result]:
    """A generation the inventory declares disabled (past its verification window) is not
    Enabled, nor is any of its replicas.

    Why: a retired generation left enabled can still sign (or decrypt) long after its
    overlap window ended: a compromise of it stays usable, and relying parties that still
    trust it can be handed new signatures.

    Fix: disable the generation (`aws kms disable-key --key-id <id>`), or extend its
    `verify_until` in the inventory when it must stay usable.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/enabling-keys.html
    """
    for pair in ctx.aws_keys_and_replicas():
        if pair.observed.key.key_state == "Enabled" and not pair.expected.enabled:
            yield pair.fail(f"generation {pair.expected.generation} is enabled; the inventory "
                            "declares it disabled", expected="Disabled", actual="Enabled")
