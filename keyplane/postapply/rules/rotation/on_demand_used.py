"""On-demand rotations of a key are on record."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check
from keyplane.postapply.rules.rotation._automatic import rotating


@check(title="On-demand rotations are on record", control=Control.ROTATION,
       needs={Facet.ROTATION, Facet.ROTATIONS})
def on_demand_used(ctx: CheckContext) -> Iterator[Result]:
    """The on-demand rotations of an AWS key with automatic rotation on are reported (for the
    record: never a failure of the run).

    Why: AWS allows a small number of on-demand rotations per key for its lifetime; each
    one used is one fewer left for an emergency (a suspected compromise), and an
    unexpected one is worth asking about.

    Fix: nothing to fix when the rotation was planned; otherwise find who called
    `RotateKeyOnDemand` in the audit trail. The remaining quota is AWS's, read at run time.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys-on-demand.html
    """
    for pair, _ in rotating(ctx, Facet.ROTATIONS):
        on_demand = [r for r in pair.observed.rotations or [] if r.rotation_type == "ON_DEMAND"]
        if on_demand:
            yield pair.fail(f"{len(on_demand)} on-demand rotation(s) used (the per-key quota "
                            "is read from AWS at run time)", actual=len(on_demand))
