"""A key declared with automatic rotation has it turned on."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check
from keyplane.postapply.rules.rotation._automatic import automatic_keys


@check(title="Automatic rotation is on where declared", control=Control.ROTATION,
       needs={Facet.ROTATION})
def disabled(ctx: CheckContext) -> Iterator[Result]:
    """A key declared with automatic rotation rotates: AWS key rotation is enabled, the
    Cloud KMS key has a `rotation_period`. Keys pending deletion are left to drift.

    Why: with rotation off the same key material protects every new message for as long
    as the key lives; the tier's cryptoperiod is no longer kept, and the longer a key is in
    use the more data a single compromise exposes.

    Fix: turn rotation back on through the stack (`terraform apply` of the environment),
    and find out from the audit trail who turned it off (`DisableKeyRotation`, or an
    `UpdateCryptoKey` clearing `rotation_period`).

    See: https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
    """
    for pair in automatic_keys(ctx, Facet.ROTATION):
        exp, obs = pair.expected, pair.observed
        if obs.rotation is not None and not obs.rotation.enabled:
            yield pair.fail(f"automatic rotation is off; declared every "
                            f"{exp.rotation_period_in_days} days",
                            expected=f"every {exp.rotation_period_in_days} d", actual="disabled")
    for gpair in ctx.gcp_keys():
        key = gpair.expected.key
        if gpair.expected.rotation_period_seconds and not gpair.observed.key.rotation_period_seconds:
            yield gpair.fail(f"rotation_period is not set; declared every "
                             f"{key.rotation_period_in_days} days",
                             expected=f"every {key.rotation_period_in_days} d", actual="disabled")
