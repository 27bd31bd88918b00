"""The declared audit trail still logs KMS data events."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread

KMS_KEY = "AWS::KMS::Key"


@check(title="The audit trail logs KMS data events", control=Control.AUDIT, needs={Facet.TRAILS})
def trail_event_selectors(ctx: CheckContext) -> Iterator[Result]:
    """A trail the stack declares with KMS data events (`AWS::KMS::Key`) still selects them.

    Why: the event selectors decide what the trail records; an edited selector can keep the
    trail running while it stops recording the key operations (Sign, Decrypt) the stack
    asked it to log, so key use leaves no evidence.

    Fix: restore the declared event selectors (re-apply the environment's stack), and find
    out who called PutEventSelectors.

    See: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-data-events-with-cloudtrail.html
    """
    trails = ctx.observed.trails
    if trails is None:
        yield from unread(ctx, Facet.TRAILS, (e.address for e in ctx.state.trails))
        return
    by_name = {t.name: t for t in trails}
    for exp in ctx.state.trails:
        t = by_name.get(exp.name)
        if t is not None and exp.kms_data_events and KMS_KEY not in t.data_resource_types:
            yield fail(ctx.shared(t.arn, address=exp.address),
                       f"event selectors of {exp.name} no longer log kms data events (Sign, "
                       "Decrypt)", expected=f"{KMS_KEY} data events",
                       actual=list(t.data_resource_types))
