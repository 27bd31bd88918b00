"""The key spec of a declared key is as declared."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Key specs are as declared", control=Control.PROTECTION)
def key_spec(ctx: CheckContext) -> Iterator[Result]:
    """A key's key spec is the one the stack declares.

    Why: the key spec fixes the algorithm: a different spec means a different key than the one
    relying parties were told about (another curve, another key size), usually a key
    recreated by hand.

    Fix: a key spec cannot be changed: find out how the key was replaced (audit trail),
    then re-apply the synthesized stack or rotate to a new generation with the declared spec.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html
    """
    for pair in ctx.aws_keys():
        want, got = pair.expected.key_spec, pair.observed.key.key_spec
        if want != got:
            yield pair.fail(f"key spec is {got}, declared {want}", expected=want, actual=got)
