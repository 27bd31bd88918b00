"""A declared Cloud KMS key has the declared protection level."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Cloud KMS keys have the declared protection level", control=Control.PROTECTION)
def gcp_protection_level(ctx: CheckContext) -> Iterator[Result]:
    """A crypto key the stack declares has the declared protection level (SOFTWARE, HSM,
    EXTERNAL...).

    Why: the tier decides where the key material may live; a key whose versions are made in
    software where an HSM is declared gives the key material a weaker boundary than the tier
    promises, and the evidence report would claim otherwise.

    Fix: re-apply the environment's stack to restore the version template; versions already
    made at the wrong level cannot move, so declare a new generation (`keyplane rotate`) and
    move the workloads to it.

    See: https://cloud.google.com/kms/docs/protection-levels
    """
    for pair in ctx.gcp_keys():
        want, got = pair.expected.protection_level, pair.observed.key.protection_level
        if want != got:
            yield pair.fail(f"protection level is {got}, declared {want}", expected=want,
                            actual=got)
