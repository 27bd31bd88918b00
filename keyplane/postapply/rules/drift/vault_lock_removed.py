"""The declared backup vault still has its Vault Lock."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="The backup vault is locked", control=Control.BACKUP, needs={Facet.VAULTS})
def vault_lock_removed(ctx: CheckContext) -> Iterator[Result]:
    """A declared backup vault that exists still has a Vault Lock (a minimum retention).

    Why: without the lock anyone with backup permissions can delete recovery points or
    shorten their retention, so the backups the restore drills prove can disappear before
    they are needed.

    Fix: put the lock back (`aws backup put-backup-vault-lock-configuration`, or re-apply
    the environment's stack) and find out who called DeleteBackupVaultLockConfiguration. A
    lock in compliance mode cannot be removed once its grace time has passed.

    See: https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html
    """
    vaults = ctx.observed.vaults
    if vaults is None:
        yield from unread(ctx, Facet.VAULTS, (e.address for e in ctx.state.vaults))
        return
    by_name = {v.name: v for v in vaults}
    for exp in ctx.state.vaults:
        v = by_name.get(exp.name)
        if v is not None and v.min_retention_days is None:
            yield fail(ctx.shared(v.arn, address=exp.address),
                       f"vault lock of {exp.name} was removed",
                       expected=f"{exp.lock_mode}, >= {exp.min_retention_days} d",
                       actual="no lock")
