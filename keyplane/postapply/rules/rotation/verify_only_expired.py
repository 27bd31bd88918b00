"""A verify-only generation is retired once its verification window has passed."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tiers import RotationMode
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Verify-only generations are retired after their window", control=Control.ROTATION)
def verify_only_expired(ctx: CheckContext) -> Iterator[Result]:
    """A generation kept for verification only (not current, still `enabled` in the
    inventory) is past its `verify_until` date no longer: once the window ends, the
    inventory disables it.

    Why: a verify-only generation exists so that signatures made before a rotation can
    still be checked for a while; past its window it is an enabled key nobody needs, still
    usable by whoever holds its permissions, and old material outlives its cryptoperiod.

    Fix: open the pull request that sets `enabled: false` on the generation in the
    environment's inventory, and apply it once merged.

    See: https://csrc.nist.gov/pubs/sp/800/57/pt1/r5/final
    """
    for pair in ctx.aws_keys():
        exp, obs = pair.expected, pair.observed
        if obs.key.key_state == "PendingDeletion" or exp.key.rotation_mode is RotationMode.AUTOMATIC:
            continue
        if exp.current or exp.generation is None:
            continue
        gen = next((g for g in exp.key.generations if g.generation == exp.generation), None)
        if gen and gen.enabled and gen.verify_until and gen.verify_until < ctx.today:
            yield pair.fail(f"verify-only generation {gen.generation} passed its window on "
                            f"{gen.verify_until}; open the pr that disables it (set "
                            "`enabled: false` in the inventory)",
                            expected=f"retired after {gen.verify_until}", actual=obs.key.key_state)
