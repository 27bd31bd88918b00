"""The audit log group keeps its events at least as long as declared."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="Audit log retention is not lowered", control=Control.AUDIT,
       needs={Facet.LOG_GROUPS})
def log_retention_lowered(ctx: CheckContext) -> Iterator[Result]:
    """A declared log group's retention is not below the retention the stack declares
    (retention off, i.e. never expire, is not lower).

    Why: the tier sets how long key events must be kept; a shorter retention deletes the
    evidence an audit or an incident investigation needs before the period ends.

    Fix: `aws logs put-retention-policy --log-group-name <group> --retention-in-days <days>`
    with the declared value, or re-apply the environment's stack.

    See: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
    """
    groups = ctx.observed.log_groups
    if groups is None:
        yield from unread(ctx, Facet.LOG_GROUPS, (e.address for e in ctx.state.log_groups))
        return
    by_name = {g.name: g for g in groups}
    for exp in ctx.state.log_groups:
        g = by_name.get(exp.name)
        if g is not None and g.retention_in_days is not None \
                and g.retention_in_days < exp.retention_in_days:
            yield fail(ctx.shared(exp.name, address=exp.address),
                       f"retention is {g.retention_in_days} d, below the "
                       f"{exp.retention_in_days} d declared",
                       expected=exp.retention_in_days, actual=g.retention_in_days)
