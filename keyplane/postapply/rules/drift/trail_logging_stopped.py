"""The declared audit trail is logging."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="The audit trail is logging", control=Control.AUDIT, needs={Facet.TRAILS})
def trail_logging_stopped(ctx: CheckContext) -> Iterator[Result]:
    """Every declared CloudTrail trail that exists is logging (its status is not stopped).

    Why: a stopped trail still exists and still looks configured, but records nothing: key
    use and key changes after StopLogging leave no evidence. Stopping the trail is the first
    step of covering one's tracks.

    Fix: `aws cloudtrail start-logging --name <trail>`, then find out who called StopLogging
    (the call itself is in the CloudTrail event history).

    See: https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_StopLogging.html
    """
    trails = ctx.observed.trails
    if trails is None:
        yield from unread(ctx, Facet.TRAILS, (e.address for e in ctx.state.trails))
        return
    by_name = {t.name: t for t in trails}
    for exp in ctx.state.trails:
        t = by_name.get(exp.name)
        if t is not None and t.is_logging is False:
            yield fail(ctx.shared(t.arn, address=exp.address), f"trail {exp.name} is not logging",
                       expected=True, actual=False)
