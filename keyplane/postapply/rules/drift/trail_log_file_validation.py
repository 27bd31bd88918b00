"""The declared audit trail still validates its log files."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="The audit trail validates its log files", control=Control.AUDIT,
       needs={Facet.TRAILS})
def trail_log_file_validation(ctx: CheckContext) -> Iterator[Result]:
    """A trail the stack declares with log-file validation has it on in the account.

    Why: log-file validation writes signed digest files; without them nobody can show that
    a delivered log file was not altered or deleted afterwards, so the audit trail is no
    longer evidence.

    Fix: `aws cloudtrail update-trail --name <trail> --enable-log-file-validation`, or
    re-apply the environment's stack.

    See: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html
    """
    trails = ctx.observed.trails
    if trails is None:
        yield from unread(ctx, Facet.TRAILS, (e.address for e in ctx.state.trails))
        return
    by_name = {t.name: t for t in trails}
    for exp in ctx.state.trails:
        t = by_name.get(exp.name)
        if t is not None and exp.log_file_validation and not t.log_file_validation:
            yield fail(ctx.shared(t.arn, address=exp.address),
                       f"log-file validation is off on {exp.name}")
