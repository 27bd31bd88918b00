"""A replica's key policy is the primary's."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.policy.policydoc import compare
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, unknown


@check(title="Replica policies match their primary's", control=Control.ACCESS,
       needs={Facet.POLICY})
def replica_policy(ctx: CheckContext) -> Iterator[Result]:
    """A replica of a multi-Region key has the same key policy as its primary (compared
    semantically); a replica whose primary's policy could not be read is UNKNOWN.

    Why: a replica's policy is its own and is not synchronized: a replica with a weaker
    policy opens the same key material, in another Region, to principals the primary
    keeps out.

    Fix: put the primary's policy on the replica (re-apply the synthesized stack, or
    `aws kms put-key-policy` in the replica's Region) and find out who changed it
    (PutKeyPolicy) from the audit trail.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-auth.html
    """
    primaries = {exp.id: obs for exp, obs in ctx.matched.aws}
    for pair in ctx.aws_replicas(Facet.POLICY):
        primary = primaries[pair.expected.id]
        if pair.observed.policy is None:
            continue
        if primary.policy is None:
            reason = primary.unknown.get(Facet.POLICY.value)
            if reason:
                yield unknown(pair.subject, f"the primary's key policy could not be read: "
                                            f"{reason}")
            continue
        diff = compare(primary.policy, pair.observed.policy)
        if diff:
            yield pair.fail(f"replica policy differs from the primary's: {diff.describe()}")
