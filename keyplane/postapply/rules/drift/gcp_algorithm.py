"""A declared Cloud KMS key has the declared algorithm."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Cloud KMS keys have the declared algorithm", control=Control.PROTECTION)
def gcp_algorithm(ctx: CheckContext) -> Iterator[Result]:
    """A crypto key the stack declares has the declared algorithm (its version template).

    Why: the algorithm is part of what the tier requires (key size, curve, padding); a
    template changed outside Terraform makes every new version, and so every rotation,
    produce keys of an algorithm nobody reviewed, and relying parties may reject them.

    Fix: re-apply the environment's stack to restore the version template, then check that
    the primary (or newest) version uses the declared algorithm; a version made with the
    wrong one needs a new generation (`keyplane rotate`).

    See: https://cloud.google.com/kms/docs/algorithms
    """
    for pair in ctx.gcp_keys():
        want, got = pair.expected.algorithm, pair.observed.key.algorithm
        if want != got:
            yield pair.fail(f"algorithm is {got}, declared {want}", expected=want, actual=got)
