"""The origin of a declared key is as declared."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Key material origins are as declared", control=Control.PROTECTION)
def origin(ctx: CheckContext) -> Iterator[Result]:
    """A key's origin is the one the stack declares.

    Why: the origin says where the key material lives (KMS, a CloudHSM cluster, imported):
    a CA key whose material left the CloudHSM cluster no longer meets its tier.

    Fix: an origin cannot be changed: find out how the key was replaced (audit trail),
    then re-apply the synthesized stack or rotate to a new generation with the declared origin.

    See: https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html
    """
    for pair in ctx.aws_keys():
        want, got = pair.expected.origin, pair.observed.key.origin
        if want != got:
            yield pair.fail(f"origin is {got}, declared {want}", expected=want, actual=got)
