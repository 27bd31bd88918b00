"""The CloudHSM cluster keeps its backups at least as long as declared."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tags import AWS_TAG_ENV
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="CloudHSM backup retention is not lowered", control=Control.BACKUP,
       needs={Facet.CLUSTERS})
def cloudhsm_backup_retention(ctx: CheckContext) -> Iterator[Result]:
    """Every CloudHSM cluster tagged with the environment keeps its backups for at least the
    declared retention (a cluster with no retention policy fails too).

    Why: the cluster's backups are the only copy of the key material held in the HSMs; once
    the retention deletes them, a lost cluster cannot be restored and its keys are gone.

    Fix: `aws cloudhsmv2 modify-cluster --cluster-id <id> --backup-retention-policy
    Type=DAYS,Value=<days>` with the declared value, or re-apply the environment's stack.

    See: https://docs.aws.amazon.com/cloudhsm/latest/userguide/manage-backup-retention.html
    """
    want = ctx.state.cloudhsm_backup_retention_in_days
    if not want:
        return
    clusters = ctx.observed.clusters
    if clusters is None:
        yield from unread(ctx, Facet.CLUSTERS, [None])
        return
    for c in clusters:
        if c.tags.get(AWS_TAG_ENV) != ctx.env_name:
            continue
        if c.backup_retention_in_days is None or c.backup_retention_in_days < want:
            yield fail(ctx.shared(c.cluster_id), f"cloudhsm backup retention is "
                                                 f"{c.backup_retention_in_days} d, declared {want} d",
                       expected=want, actual=c.backup_retention_in_days)
