"""The declared audit trail exists."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="The audit trail exists", control=Control.AUDIT, needs={Facet.TRAILS})
def trail_missing(ctx: CheckContext) -> Iterator[Result]:
    """Every CloudTrail trail the stack declares exists in the account.

    Why: the trail is the record of every use of every key (Sign, Decrypt, and every change
    to a key policy or schedule). Without it a misuse or a deletion leaves no evidence, and
    the audit control of every tier is unproven.

    Fix: re-apply the environment's stack so Terraform creates the trail again, and find out
    who deleted it (DeleteTrail is itself a management event, logged by any other trail and
    in the CloudTrail event history for 90 days).

    See: https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html
    """
    trails = ctx.observed.trails
    if trails is None:
        yield from unread(ctx, Facet.TRAILS, (e.address for e in ctx.state.trails))
        return
    names = {t.name for t in trails}
    for exp in ctx.state.trails:
        if exp.name not in names:
            yield fail(ctx.shared(exp.name, address=exp.address),
                       f"audit trail {exp.name} does not exist")
