"""A declared key is deployed."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import (
    CheckContext,
    Result,
    check,
    expected_aws_subject,
    expected_gcp_subject,
    fail,
    unknown,
)


@check(title="Declared keys are deployed", control=Control.PROTECTION)
def key_missing(ctx: CheckContext) -> Iterator[Result]:
    """Every key (and generation) the stack declares exists: an AWS KMS key carrying its
    keyplane tags, a Cloud KMS crypto key at its declared name.

    Why: a declared key that is not deployed is a key nothing can sign or decrypt with;
    when it was deleted by hand, what it protected may already be unreadable. A key that
    could not be looked for (a Region, a location or a key's tags could not be read) is
    UNKNOWN, never missing.

    Fix: find out from the audit trail whether the key was deleted or its keyplane tags
    removed; restore the tags, or re-apply the synthesized stack to create the key.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/viewing-keys.html
    """
    for exp in ctx.matched.aws_missing:
        yield fail(expected_aws_subject(exp),
                   "declared but not deployed (no key carries its keyplane tags)")
    for exp in ctx.matched.aws_unsure:
        yield unknown(expected_aws_subject(exp),
                      "not found, but part of the account could not be read")
    for exp_g in ctx.matched.gcp_missing:
        yield fail(expected_gcp_subject(exp_g), "declared but not deployed")
    for exp_g in ctx.matched.gcp_unsure:
        yield unknown(expected_gcp_subject(exp_g),
                      "not found, but its location could not be read")
