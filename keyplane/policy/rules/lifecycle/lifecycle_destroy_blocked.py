"""A plan never deletes or replaces a key, key version, key store, vault or vault lock."""

from __future__ import annotations

from keyplane.policy.model import Action, Control, Resource, Severity, Verdict, failed, passed
from keyplane.policy.registry import RuleContext, rule

PROTECTED_TYPES = ("aws_kms_key", "aws_kms_replica_key", "aws_kms_external_key",
                   "aws_kms_replica_external_key", "aws_kms_custom_key_store",
                   "google_kms_crypto_key", "google_kms_crypto_key_version",
                   "google_kms_key_ring", "aws_backup_vault",
                   "aws_backup_vault_lock_configuration", "aws_cloudhsm_v2_cluster")


@rule(title="Plans do not delete or replace keys, key stores or vaults",
      severity=Severity.CRITICAL,
      control=Control.PROTECTION, types=PROTECTED_TYPES, needs_tier=False, inputs=("plan",),
      include_deleted=True)
def lifecycle_destroy_blocked(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A plan's action on a key, key version, custom key store, backup vault or vault lock
    is never delete or replace.

    Why: deleting a key destroys everything encrypted or signed under it once the waiting
    period ends; a replace (often caused by renaming a construct ID) does the same with a
    new key in its place. Such a change needs a named, expiring waiver.

    Fix: restore the construct ID or attribute that forces replacement (see the plan's
    `replace_paths`); retire keys through generations; if the deletion is intended, add a
    waiver naming this resource, owner, reason and expiry.

    See: https://developer.hashicorp.com/terraform/internals/json-format
    """
    if res.action in (Action.DELETE, Action.REPLACE):
        return failed(f"the plan would {res.action.value} this {res.type}")
    return passed(f"plan action {res.action.value if res.action else 'none'}")
