"""Backup vaults are locked in the tier's mode with its minimum retention."""

from __future__ import annotations

from keyplane.model.limits import BACKUP_VAULT_LOCK_CHANGEABLE_FOR_DAYS, BACKUP_VAULT_RETENTION
from keyplane.policy.facts import as_int
from keyplane.policy.model import (
    UNKNOWN,
    Control,
    Resource,
    Severity,
    Verdict,
    failed,
    not_applicable,
    passed,
    unknown,
)
from keyplane.policy.registry import RuleContext, rule

LOCK_TYPE = "aws_backup_vault_lock_configuration"


@rule(title="Backup vault lock mode and retention meet the tier", severity=Severity.HIGH,
      control=Control.BACKUP, types=("aws_backup_vault",))
def aws_backup_vault_lock(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A vault has an `aws_backup_vault_lock_configuration` in the tier's mode (COMPLIANCE:
    `changeable_for_days` set, at least 3; GOVERNANCE: unset) whose `min_retention_days` is at
    least the tier's minimum.

    Why: a COMPLIANCE lock makes recovery points immutable once the cooling-off period ends,
    even for the account root; the minimum retention stops a short-lived plan from aging out
    the only copy.

    Fix: add a vault lock configuration with the tier's mode and `min_retention_days`.

    See: https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html
    """
    assert ctx.policy is not None
    mode = ctx.policy.vault_lock_mode
    if mode is None:
        return not_applicable("the tier requires no vault lock")
    locks = ctx.index.referrers(res, types=(LOCK_TYPE,), attrs=("backup_vault_name",))
    if not locks:
        return failed(f"no {LOCK_TYPE}: a {ctx.policy.tier.value} vault needs a {mode} lock")
    lock = locks[0]
    changeable = lock.get("changeable_for_days")
    minimum = lock.get("min_retention_days")
    if changeable is UNKNOWN or minimum is UNKNOWN:
        return unknown("the vault lock is known only after apply", lock.address)
    if mode == "COMPLIANCE":
        days = as_int(changeable)
        if days is None:
            return failed("changeable_for_days is not set: the lock is in governance mode, "
                          "the tier requires compliance", f"{lock.address}.changeable_for_days")
        if not BACKUP_VAULT_LOCK_CHANGEABLE_FOR_DAYS.contains(days):
            return failed(f"changeable_for_days must be "
                          f"{BACKUP_VAULT_LOCK_CHANGEABLE_FOR_DAYS.describe()}, got {days}",
                          f"{lock.address}.changeable_for_days")
    elif changeable is not None:
        return failed("changeable_for_days is set: the lock becomes compliance mode, the tier "
                      "uses governance", f"{lock.address}.changeable_for_days")
    floor = ctx.policy.vault_min_retention_in_days or BACKUP_VAULT_RETENTION.minimum
    have = as_int(minimum)
    if have is None or have < floor:
        return failed(f"min_retention_days is {minimum}, below the {ctx.policy.tier.value} "
                      f"floor of {floor}", f"{lock.address}.min_retention_days")
    return passed(f"{mode.lower()} lock, minimum retention {have} days")
