"""Every key in the environment's account and project is managed by keyplane."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Cloud, Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.discover import aliases_by_key, aws_draft, gcp_draft
from keyplane.postapply.registry import CheckContext, Result, check, fail, unknown


@check(title="No key outside keyplane", control=Control.PROTECTION,
       needs={Facet.TAGS, Facet.ALIASES})
def unmanaged_key(ctx: CheckContext) -> Iterator[Result]:
    """Every customer managed key of the environment's AWS account (home and replica
    Regions) and of its Cloud KMS key rings carries keyplane's tags or labels. Each one
    that does not gets a draft inventory entry in the report (`drafts`), with a suggested
    tier and why; a key already pending deletion is noted only. A key whose tags could not
    be read is UNKNOWN: it may be anyone's.

    Why: a key nobody declared has no tier, so none of its controls (rotation, deletion
    guard, access, audit, backup) is checked or enforced, and nobody is named to answer
    for it; inventory comes before classification.

    Fix: review the draft entry, confirm (or raise) its tier, add it to the environment's
    inventory and import the key into the stack; a key that is no longer used is scheduled
    for deletion after checking the audit trail for its last use.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/viewing-keys.html
    """
    state, matched = ctx.state, ctx.matched
    alias_of = aliases_by_key(ctx.observed.aliases)
    for obs in matched.aws_undeclared:
        k = obs.key
        subject = ctx.undeclared(k.arn, cloud=Cloud.AWS, region=k.region)
        if k.key_state == "PendingDeletion":
            yield fail(subject, "unmanaged key already pending deletion; no draft", reduced=True)
            continue
        draft = aws_draft(state, obs, alias_of.get(k.key_id))
        yield fail(subject, f"not managed by keyplane; draft entry '{draft['name']}' suggests "
                            f"tier {draft['tier']}")
    ours = {obs.key.key_id for _, obs in matched.aws}
    for obs in sorted(ctx.observed.aws_keys, key=lambda o: o.key.arn):
        if obs.tags is None and obs.key.key_id not in ours:
            # the read's own reason: the report lists the failed read once
            yield unknown(ctx.undeclared(obs.key.arn, cloud=Cloud.AWS, region=obs.key.region),
                          obs.unknown.get(Facet.TAGS.value, "tags not read"))
    for gobs in matched.gcp_undeclared:
        ck = gobs.key
        draft = gcp_draft(state, gobs)
        location = ck.name.split("/")[3] if ck.name.count("/") >= 3 else None
        yield fail(ctx.undeclared(ck.name, cloud=Cloud.GCP, region=location),
                   f"not managed by keyplane; draft entry '{draft['name']}' suggests tier "
                   f"{draft['tier']}")
