"""The declared CloudHSM cluster exists."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.model.tags import AWS_TAG_ENV
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="The CloudHSM cluster exists", control=Control.BACKUP, needs={Facet.CLUSTERS})
def cloudhsm_cluster_missing(ctx: CheckContext) -> Iterator[Result]:
    """When the environment declares a CloudHSM cluster, a cluster tagged with the
    environment (`keyplane:env`) is in the account.

    Why: the keys of a CloudHSM custom key store live in that cluster; without it (or
    without its tags, which is how keyplane finds it and its backups) the keys cannot be
    used and their backups cannot be proven.

    Fix: if the cluster was deleted, restore it from its latest backup
    (`aws cloudhsmv2 create-cluster --source-backup-id ...`) and reconnect the key store; if
    only its tags were removed, tag it again (re-apply the environment's stack).

    See: https://docs.aws.amazon.com/cloudhsm/latest/userguide/create-cluster-from-backups.html
    """
    if not ctx.state.cloudhsm_backup_retention_in_days:
        return
    clusters = ctx.observed.clusters
    if clusters is None:
        yield from unread(ctx, Facet.CLUSTERS, [None])
        return
    if not any(c.tags.get(AWS_TAG_ENV) == ctx.env_name for c in clusters):
        yield fail(ctx.shared(f"cloudhsm:{ctx.env_name}"),
                   "no cloudhsm cluster carries this environment's tags")
