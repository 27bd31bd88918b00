"""A key declared with automatic rotation is a key its cloud can rotate."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tiers import RotationMode
from keyplane.postapply.collect import rotation_applicable
from keyplane.postapply.registry import CheckContext, Result, check


@check(title="Keys declared with automatic rotation can rotate", control=Control.ROTATION)
def not_supported(ctx: CheckContext) -> Iterator[Result]:
    """A key declared with automatic rotation is deployed as a key AWS can rotate in place:
    symmetric, with key material AWS KMS generated, outside a custom key store.

    Why: AWS rotates only such keys; an asymmetric, HMAC, imported or custom-key-store key
    deployed where automatic rotation was declared never rotates, and no rotation setting
    can show it. The declaration and the deployed key disagree on how the key is renewed.

    Fix: find out why the deployed key differs from the declaration (a replaced key, a
    hand-made one behind the alias) and re-apply the stack; a key that must be asymmetric
    or imported is declared with generations instead of `rotation_period_in_days`.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
    """
    for pair in ctx.aws_keys():
        k = pair.observed.key
        if k.key_state == "PendingDeletion":
            continue
        if pair.expected.key.rotation_mode is RotationMode.AUTOMATIC and not rotation_applicable(k):
            yield pair.fail(f"declared with automatic rotation but the deployed key cannot "
                            f"rotate ({k.key_spec}, {k.origin})")
