"""Every key in the account or project is declared."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Cloud, Control
from keyplane.postapply.registry import CheckContext, Result, check, fail


@check(title="No undeclared keys", control=Control.PROTECTION)
def key_undeclared(ctx: CheckContext) -> Iterator[Result]:
    """Every customer-managed KMS key of the account (and every Cloud KMS crypto key of the
    environment's key rings) carries keyplane's tags or labels. An undeclared key already
    scheduled for deletion is reported at the pack's reduced severity.

    Why: a key nobody declared has no owner, no tier, no rotation and no review: whatever
    it protects is outside every control keyplane proves, and its policy was never gated.

    Fix: run `keyplane discover` to draft its inventory entry and adopt it, or schedule
    its deletion once nothing depends on it.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/viewing-keys.html
    """
    for obs in ctx.matched.aws_undeclared:
        k = obs.key
        yield fail(ctx.undeclared(k.arn, cloud=Cloud.AWS, region=k.region),
                   "a key with no keyplane tags is in the account; run `keyplane discover` "
                   "to draft its inventory entry",
                   actual={"spec": k.key_spec, "state": k.key_state},
                   reduced=k.key_state == "PendingDeletion")
    for gobs in ctx.matched.gcp_undeclared:
        ck = gobs.key
        yield fail(ctx.undeclared(ck.name, cloud=Cloud.GCP),
                   "a crypto key with no keyplane labels is in the project; run "
                   "`keyplane discover` to draft its inventory entry",
                   actual={"purpose": ck.purpose, "algorithm": ck.algorithm})
