"""The declared audit trail is still multi-Region."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="The audit trail covers every Region", control=Control.AUDIT, needs={Facet.TRAILS})
def trail_multi_region(ctx: CheckContext) -> Iterator[Result]:
    """A trail the stack declares multi-Region is multi-Region in the account.

    Why: multi-Region keys have replicas in other Regions, and a key can be created or used
    in any Region; a single-Region trail records none of that, so replica use and keys made
    outside the home Region go unlogged.

    Fix: `aws cloudtrail update-trail --name <trail> --is-multi-region-trail`, or re-apply
    the environment's stack.

    See: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/receive-cloudtrail-log-files-from-multiple-regions.html
    """
    trails = ctx.observed.trails
    if trails is None:
        yield from unread(ctx, Facet.TRAILS, (e.address for e in ctx.state.trails))
        return
    by_name = {t.name: t for t in trails}
    for exp in ctx.state.trails:
        t = by_name.get(exp.name)
        if t is not None and exp.multi_region and not t.multi_region:
            yield fail(ctx.shared(t.arn, address=exp.address),
                       f"trail {exp.name} is no longer multi-region")
