"""What the automatic-rotation checks share: the keys they judge and their rotation status."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.model.tiers import RotationMode
from keyplane.postapply.collect import Facet
from keyplane.postapply.ports import RotationStatus
from keyplane.postapply.registry import AwsKeyPair, CheckContext


def automatic_keys(ctx: CheckContext, *facets: Facet) -> Iterator[AwsKeyPair]:
    """Matched AWS keys declared with automatic rotation and not pending deletion (drift
    reports those), whose `facets` were read; the others of them are judged UNKNOWN."""
    for pair in ctx.aws_keys():
        if pair.observed.key.key_state == "PendingDeletion" or \
                pair.expected.key.rotation_mode is not RotationMode.AUTOMATIC:
            continue
        if ctx.read(pair, *facets):
            yield pair


def rotating(ctx: CheckContext, *facets: Facet) -> Iterator[tuple[AwsKeyPair, RotationStatus]]:
    """`automatic_keys` (rotation status read) whose rotation is on; a key that cannot rotate
    or whose rotation is off is rotation.not_supported's or rotation.disabled's."""
    for pair in automatic_keys(ctx, Facet.ROTATION, *facets):
        rot = pair.observed.rotation
        if rot is not None and rot.enabled:
            yield pair, rot
