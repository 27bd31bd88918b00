"""Tier packs, as data: which rules run for a tier and at what severity.

One row per rule: (ca, production, non-production, ephemeral); None leaves the rule
out of that tier's pack. `PACKS` is the same table turned into tier -> {rule_id: severity}.
"""

from __future__ import annotations

from keyplane.model.tiers import Tier
from keyplane.policy.model import Severity

C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
_ORDER = (Tier.CA, Tier.PRODUCTION, Tier.NON_PRODUCTION, Tier.EPHEMERAL)

TABLE: dict[str, tuple[Severity | None, Severity | None, Severity | None, Severity | None]] = {
    # inventory
    "inventory_tier_context_present": (H, H, H, H),
    "inventory_resource_type_covered": (H, H, M, M),
    "inventory_tier_not_lowered": (H, H, H, H),
    # kms
    "aws_kms_key_rotation_enabled": (H, H, H, M),
    "aws_kms_key_rotation_period": (H, H, M, M),
    "aws_kms_key_deletion_window": (H, H, M, L),
    "aws_kms_key_spec_allowed": (H, H, M, M),
    "aws_kms_key_ca_custom_key_store": (C, None, None, None),
    "aws_kms_key_multi_region_replicas": (H, H, None, M),
    "kms_key_generation_age": (H, H, M, M),
    # key policy
    "aws_kms_key_policy_no_public_principal": (C, C, H, H),
    "aws_kms_key_policy_no_wildcard_actions": (C, C, H, M),
    "aws_kms_key_policy_admins_cannot_use": (C, C, None, None),
    "aws_kms_key_policy_admin_keeps_put_key_policy": (C, C, H, H),
    "aws_kms_key_policy_lockout_check_not_bypassed": (C, C, H, H),
    "aws_kms_key_policy_grants_declared": (H, H, M, M),
    "aws_kms_key_policy_deletion_window_floor": (H, H, None, None),
    # iam
    "aws_iam_oidc_trust_pinned": (C, C, H, H),
    "aws_iam_human_role_mfa_session": (H, H, M, M),
    "aws_iam_no_passrole_wildcard": (H, H, H, M),
    "aws_iam_role_attachment_not_admin": (C, C, H, H),
    # audit
    "aws_cloudtrail_multi_region": (H, H, M, None),
    "aws_cloudtrail_log_validation": (H, H, M, None),
    "aws_cloudtrail_kms_encrypted": (H, H, M, None),
    "aws_cloudtrail_kms_events_included": (H, H, M, None),
    "aws_cloudwatch_log_group_kms_encrypted": (H, H, M, L),
    "aws_cloudwatch_log_group_retention": (H, H, M, L),
    "aws_s3_audit_bucket_object_lock": (H, H, None, None),
    "gcp_kms_data_access_logs": (H, H, None, None),
    "gcp_audit_sink_locked": (H, H, M, None),
    # alarms
    "kms_alarms_required": (H, H, M, None),
    # backup
    "aws_backup_vault_customer_key": (H, H, M, L),
    "aws_backup_vault_lock": (H, H, M, None),
    "aws_backup_plan_retention": (H, H, M, None),
    # secrets
    "no_secret_in_clear": (C, C, C, C),
    "no_secret_in_state": (C, C, C, C),
    # lifecycle
    "lifecycle_destroy_blocked": (C, C, H, M),
    "lifecycle_prevent_destroy": (H, H, None, None),
    # gcp
    "gcp_kms_protection_level": (H, H, M, M),
    "gcp_kms_rotation_period": (H, H, M, M),
    "gcp_kms_destroy_scheduled_duration": (H, H, M, L),
    "gcp_kms_iam_no_public_or_primitive": (C, C, H, H),
    "gcp_kms_admin_user_separation": (H, H, M, None),
    "gcp_kms_algorithm_allowed": (H, H, M, M),
}


def _packs() -> dict[Tier, dict[str, Severity]]:
    out: dict[Tier, dict[str, Severity]] = {tier: {} for tier in _ORDER}
    for rule_id, sevs in TABLE.items():
        for tier, sev in zip(_ORDER, sevs, strict=True):
            if sev is not None:
                out[tier][rule_id] = sev
    return out


PACKS: dict[Tier, dict[str, Severity]] = _packs()

# Post-apply checks (keyplane/postapply/rules): the same table, for the deployed state.
# Every check runs for every tier; the row says how bad its failure is there.
N = Severity.INFO  # for the record only: never fails a run
CHECKS: dict[str, tuple[Severity, Severity, Severity, Severity]] = {
    # rotation
    "rotation.disabled": (H, H, M, M),
    "rotation.generation_too_old": (H, H, M, M),
    "rotation.next_date_passed": (H, H, M, M),
    "rotation.not_supported": (H, H, M, M),
    "rotation.on_demand_used": (N, N, N, N),
    "rotation.period_above_tier": (H, H, M, M),
    "rotation.period_differs": (M, M, M, M),
    "rotation.primary_version_stale": (H, H, M, M),
    "rotation.verify_only_expired": (M, M, M, M),
    # drift: the keys
    "drift.key_missing": (C, C, H, H),
    "drift.key_pending_deletion": (C, C, H, H),
    "drift.key_disabled": (C, C, H, H),
    "drift.key_enabled": (M, M, M, M),
    "drift.key_state": (C, C, H, H),
    "drift.generation_disabled": (C, C, H, H),
    "drift.key_store_missing": (C, C, H, H),
    "drift.key_store_disconnected": (C, C, H, H),
    "drift.key_spec": (C, C, H, H),
    "drift.key_usage": (C, C, H, H),
    "drift.origin": (C, C, H, H),
    "drift.multi_region": (H, H, H, H),
    "drift.key_policy": (C, C, H, H),
    "drift.grant_not_declared": (C, C, H, H),
    "drift.tier_lowered": (H, H, H, H),
    "drift.tags": (L, L, L, L),
    "drift.labels": (L, L, L, L),
    "drift.alias_missing": (C, C, H, H),
    "drift.alias_target": (C, C, H, H),
    "drift.replica_missing": (C, C, H, H),
    "drift.replica_policy": (C, C, H, H),
    "drift.key_undeclared": (M, M, M, M),
    "drift.key_not_in_inventory": (M, M, M, M),
    "drift.gcp_purpose": (C, C, H, H),
    "drift.gcp_algorithm": (C, C, H, H),
    "drift.gcp_protection_level": (C, C, H, H),
    "drift.version_destroy_scheduled": (C, C, H, H),
    "drift.version_destroyed": (C, C, H, H),
    # drift: what the environment shares (judged at its highest tier)
    "drift.trail_missing": (C, C, H, H),
    "drift.trail_logging_stopped": (C, C, H, H),
    "drift.trail_multi_region": (C, C, H, H),
    "drift.trail_log_file_validation": (C, C, H, H),
    "drift.trail_event_selectors": (C, C, H, H),
    "drift.log_group_missing": (C, C, H, H),
    "drift.log_retention_lowered": (C, C, H, H),
    "drift.vault_missing": (C, C, H, H),
    "drift.vault_lock_removed": (C, C, H, H),
    "drift.vault_lock_changed": (C, C, H, H),
    "drift.cloudhsm_cluster_missing": (C, C, H, H),
    "drift.cloudhsm_backup_retention": (C, C, H, H),
    "drift.alarm_missing": (C, C, H, H),
    "drift.alarm_disabled": (H, H, M, M),
    "drift.gcp_alert_missing": (C, C, H, H),
    "drift.gcp_alert_disabled": (H, H, M, M),
    # access review
    "access.wildcard_principal": (C, C, H, H),
    "access.gcp_project_kms_roles": (C, C, H, M),
    "access.cross_account": (C, C, H, H),
    "access.admin_can_use": (C, C, H, H),
    "access.human_can_use": (C, C, H, H),
    "access.principal_not_declared": (M, M, M, M),
    "access.role_trust_changed": (C, C, H, H),
    "access.role_policy_added": (C, C, H, H),
    "access.role_missing": (H, H, M, M),
    "access.role_not_declared": (M, M, M, M),
    # discover
    "discover.unmanaged_key": (M, M, M, M),
}


# A check's severity when its subject is already on its way out (an undeclared key pending
# deletion): worth a line in the report, not the pack's full weight.
REDUCED: dict[str, Severity] = {
    "drift.key_undeclared": L,
    "discover.unmanaged_key": N,
}


def check_severity(check_id: str, tier: Tier, reduced: bool = False) -> Severity | None:
    """The severity of a post-apply check's failure for `tier` (None: not a known check);
    `reduced`: the subject is on its way out (`REDUCED`, else the pack's row)."""
    if reduced and check_id in REDUCED:
        return REDUCED[check_id]
    row = CHECKS.get(check_id)
    return row[_ORDER.index(tier)] if row else None

# Restore drills: how bad a drill that did not pass is, by tier (the drill's own outcome,
# e.g. INTEGRITY_ALARM or TIMED_OUT, stays in its evidence record).
DRILLS: dict[str, tuple[Severity, Severity, Severity, Severity]] = {
    "drill.sign-canary": (C, C, H, M),
    "drill.replica": (C, C, H, M),
    "drill.cloudhsm": (C, C, H, M),
    "drill.backup": (C, C, H, M),
    "drill.escrow": (C, C, H, M),
}


def drill_severity(rule_id: str, tier: Tier) -> Severity:
    """The severity of a drill that did not pass, for `tier` (HIGH for an unknown drill)."""
    row = DRILLS.get(rule_id)
    return row[_ORDER.index(tier)] if row else H


# Certificates (`keyplane certs`): how bad a certificate finding is, by the tier of the key
# behind the certificate (None: the finding does not apply to that tier). A ca certificate
# whose key is not shown to be in an HSM is judged at the ca tier only.
CERTS: dict[str, tuple[Severity | None, Severity | None, Severity | None, Severity | None]] = {
    "certs.key_not_in_inventory": (C, C, H, M),
    "certs.retired_generation": (H, H, M, L),
    "certs.outlives_key": (H, H, M, L),
    "certs.expiring_without_successor": (H, H, M, L),
    "certs.ca_key_not_in_hsm": (C, None, None, None),
}


def cert_severity(rule_id: str, tier: Tier) -> Severity | None:
    """The severity of a certificate finding for `tier` (None: not in that tier's pack, or
    not a known certificate rule)."""
    row = CERTS.get(rule_id)
    return row[_ORDER.index(tier)] if row else None
