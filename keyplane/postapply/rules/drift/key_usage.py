"""The key usage of a declared key is as declared."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Key usages are as declared", control=Control.PROTECTION)
def key_usage(ctx: CheckContext) -> Iterator[Result]:
    """A key's key usage is the one the stack declares.

    Why: the usage fixes what the key can do (encrypt, sign, MAC): a key with another
    usage is not the key the workloads were built for, usually a key recreated by hand.

    Fix: a key usage cannot be changed: find out how the key was replaced (audit trail),
    then re-apply the synthesized stack or rotate to a new generation with the declared usage.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-usage.html
    """
    for pair in ctx.aws_keys():
        want, got = pair.expected.key_usage, pair.observed.key.key_usage
        if want != got:
            yield pair.fail(f"key usage is {got}, declared {want}", expected=want, actual=got)
