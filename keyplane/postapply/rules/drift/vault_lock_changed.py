"""The declared backup vault's Vault Lock is as strong as declared."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail
from keyplane.postapply.rules.drift._shared_reads import unread


@check(title="The Vault Lock is as strong as declared", control=Control.BACKUP,
       needs={Facet.VAULTS})
def vault_lock_changed(ctx: CheckContext) -> Iterator[Result]:
    """A locked, declared backup vault keeps its declared minimum retention, and a vault
    declared in compliance mode is in compliance mode (its lock has a lock date).

    Why: a lower minimum retention lets recovery points be deleted sooner than the tier
    allows; a lock in governance mode can be removed by anyone with the right permission,
    so it protects the backups only against mistakes, not against an attacker.

    Fix: raise the minimum retention again (`aws backup put-backup-vault-lock-configuration`
    or re-apply the environment's stack); a governance-mode lock becomes compliance mode
    when it is configured with `--changeable-for-days`. Find out who changed the lock.

    See: https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html
    """
    vaults = ctx.observed.vaults
    if vaults is None:
        yield from unread(ctx, Facet.VAULTS, (e.address for e in ctx.state.vaults))
        return
    by_name = {v.name: v for v in vaults}
    for exp in ctx.state.vaults:
        v = by_name.get(exp.name)
        if v is None or v.min_retention_days is None:  # drift.vault_missing / vault_lock_removed
            continue
        subject = ctx.shared(v.arn, address=exp.address)
        if v.min_retention_days < exp.min_retention_days:
            yield fail(subject, f"vault lock minimum retention is {v.min_retention_days} d, "
                                f"declared {exp.min_retention_days} d",
                       expected=exp.min_retention_days, actual=v.min_retention_days)
        elif exp.lock_mode == "COMPLIANCE" and v.lock_date is None:
            yield fail(subject, f"vault lock of {exp.name} is in governance mode; compliance "
                                "mode is declared", expected="COMPLIANCE", actual="GOVERNANCE")
