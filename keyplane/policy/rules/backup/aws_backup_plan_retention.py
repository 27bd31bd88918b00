"""Backup plan rules keep recovery points at least as long as the vault's minimum."""

from __future__ import annotations

from typing import Any

from keyplane.policy.facts import as_int
from keyplane.policy.model import UNKNOWN, Control, Resource, Severity, Verdict, failed, passed, unknown
from keyplane.policy.registry import RuleContext, rule

_VAULT, _LOCK = "aws_backup_vault", "aws_backup_vault_lock_configuration"


def _vault(res: Resource, ctx: RuleContext, name: Any) -> Resource | None:
    """The vault a rule's `target_vault_name` (reference or literal name) points to."""
    if not isinstance(name, str):
        return None
    for vault in ctx.index.targets(res, types=(_VAULT,)):
        if f"{vault.base_address}." in name:
            return vault
    for vault in ctx.index.of_type(_VAULT, like=res):
        if vault.get("name") == name:
            return vault
    return None


@rule(title="Backup plan retention meets the vault's minimum", severity=Severity.HIGH, control=Control.BACKUP,
      types=("aws_backup_plan",))
def aws_backup_plan_retention(res: Resource, ctx: RuleContext) -> Verdict | None:
    """Each rule's `lifecycle.delete_after` is at least the target vault lock's
    `min_retention_days` (or, without a lock, the tier's vault minimum).

    Why: a vault lock refuses recovery points that would expire earlier than its minimum:
    the backup job fails and the estate silently has no backup.

    Fix: raise `delete_after` to the vault's minimum retention or more.

    See: https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html
    """
    assert ctx.policy is not None
    for i, r in enumerate(res.blocks("rule")):
        if not isinstance(r, dict):
            continue
        floor: Any = ctx.policy.vault_min_retention_in_days
        vault = _vault(res, ctx, r.get("target_vault_name"))
        if vault is not None:
            for lock in ctx.index.referrers(vault, types=(_LOCK,)):
                floor = lock.get("min_retention_days", default=floor)
        if floor is UNKNOWN:
            return unknown("the vault's minimum retention is known only after apply",
                           f"rule[{i}].target_vault_name")
        minimum = as_int(floor)
        if minimum is None:
            continue
        lc = r.get("lifecycle")
        block = lc[0] if isinstance(lc, list) and lc else lc
        if not isinstance(block, dict) or block.get("delete_after") is None:
            continue  # kept until deleted by hand
        days = as_int(block["delete_after"])
        where = f"rule[{i}].lifecycle.delete_after"
        if days is None:
            return unknown(f"{where} is known only after apply", where)
        if days < minimum:
            return failed(f"{where} is {days} days, below the vault's minimum retention of "
                          f"{minimum}", where)
    return passed("every rule keeps recovery points at least the vault's minimum")
