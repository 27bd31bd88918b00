"""Every replica Region the stack declares for a multi-Region key has its replica."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check, fail, unknown


@check(title="Declared replicas exist", control=Control.PROTECTION)
def replica_missing(ctx: CheckContext) -> Iterator[Result]:
    """A multi-Region key has a replica in every replica Region the stack declares (a
    replica is paired with its primary by key id, even when its tags cannot be read). A
    Region that could not be listed is UNKNOWN.

    Why: the replica is the key's copy for a regional outage: without it, what the key
    protects cannot be signed or decrypted from the other Region, and a deleted replica
    can only be recreated while the primary exists.

    Fix: re-apply the synthesized stack (or `aws kms replicate-key --replica-region
    <region>`), and find out who deleted it (ScheduleKeyDeletion) from the audit trail.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-replicate.html
    """
    observed = ctx.observed
    for pair in ctx.aws_keys():
        exp = pair.expected
        replicas = ctx.matched.replicas.get(exp.id, {})
        for region in exp.replica_regions:
            if region in replicas:
                continue
            subject = dataclasses.replace(pair.subject, region=region)
            if region in observed.unknown_regions or observed.stopped:
                yield unknown(subject, f"replica in {region} could not be read")
                continue
            yield fail(subject, f"no replica in {region}; declared replica regions: "
                                f"{', '.join(exp.replica_regions)}")
