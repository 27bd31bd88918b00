"""The declared backup vault exists."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="The backup vault exists", control=Control.BACKUP, needs={Facet.VAULTS})
def vault_missing(ctx: CheckContext) -> Iterator[Result]:
    """Every AWS Backup vault the stack declares (with its Vault Lock) exists in the account.

    Why: the vault holds the backups of what the keys protect (and of the CloudHSM cluster);
    without it there is nothing to restore from, and the restore drills have nothing to
    prove.

    Fix: re-apply the environment's stack so Terraform creates the vault and its lock again,
    then check that the backup plans write to it; find out who called DeleteBackupVault.

    See: https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html
    """
    vaults = ctx.observed.vaults
    if vaults is None:
        yield from unread(ctx, Facet.VAULTS, (e.address for e in ctx.state.vaults))
        return
    names = {v.name for v in vaults}
    for exp in ctx.state.vaults:
        if exp.name not in names:
            yield fail(ctx.shared(exp.name, address=exp.address),
                       f"backup vault {exp.name} does not exist")
