"""Every replica Region the stack declares for a multi-Region key has its replica."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail, unknown


@check(title="Declared replicas exist", control=Control.PROTECTION)
def replica_missing(ctx: CheckContext) -> Iterator[Result]:
    """A multi-Region key has a replica in every replica Region the stack declares. A
    Region that could not be listed, or a replica whose tags could not be read, is
    UNKNOWN.

    Why: the replica is the key's copy for a regional outage: without it, what the key
    protects cannot be signed or decrypted from the other Region, and a deleted replica
    can only be recreated while the primary exists.

    Fix: re-apply the synthesized stack (or `aws kms replicate-key --replica-region
    <region>`), and find out who deleted it (ScheduleKeyDeletion) from the audit trail.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-replicate.html
    """
    observed = ctx.observed
    for pair in ctx.aws_keys():
        exp, k = pair.expected, pair.observed.key
        replicas = ctx.matched.replicas.get(exp.id, {})
        for region in exp.replica_regions:
            if region in replicas:
                continue
            subject = dataclasses.replace(pair.subject, region=region)
            if region in observed.unknown_regions or observed.stopped:
                yield unknown(subject, f"replica in {region} could not be read")
                continue
            # a replica keeps the primary's key id; one whose tags could not be read is
            # there, but not paired with its declaration
            untagged = next((o for o in observed.aws_keys
                             if o.key.region == region and o.key.key_id == k.key_id
                             and o.tags is None), None)
            if untagged is not None:
                yield unknown(dataclasses.replace(subject, resource=untagged.key.arn),
                              untagged.unknown.get(Facet.TAGS.value,
                                                   f"replica in {region} could not be read"))
                continue
            yield fail(subject, f"no replica in {region}; declared replica regions: "
                                f"{', '.join(exp.replica_regions)}")
