"""The tier table of the product spec (shared/TIERS.md), as data, in one place.

Rules, constructs and hooks read these records; none of them repeats a number.
A key may tighten a control of its tier (shorter rotation, longer deletion
window) but never loosen it below the floor given here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    """The sensitivity tier of a key; it decides every control."""

    CA = "ca"
    PRODUCTION = "production"
    NON_PRODUCTION = "non-production"
    EPHEMERAL = "ephemeral"

    @property
    def rank(self) -> int:
        """Higher is more sensitive; shared resources carry the highest rank they serve."""
        return _RANK[self]


_RANK = {Tier.EPHEMERAL: 0, Tier.NON_PRODUCTION: 1, Tier.PRODUCTION: 2, Tier.CA: 3}


class EnvironmentKind(StrEnum):
    """What an environment's account or project is for."""

    PRODUCTION = "production"
    NON_PRODUCTION = "non-production"


class AwsProtection(StrEnum):
    """Where an AWS KMS key's material lives."""

    CLOUDHSM = "cloudhsm"  # custom key store, origin AWS_CLOUDHSM
    KMS = "kms"  # AWS KMS's own FIPS 140-3 validated HSMs


class SeparationOfDuties(StrEnum):
    """How far apart the principals around a key must be."""

    FULL = "full"  # admin, user, backup operator, auditor distinct; admins cannot use
    ADMIN_NOT_USER = "admin-not-user"
    NONE = "none"


class RotationMode(StrEnum):
    """How a key's material is renewed."""

    AUTOMATIC = "automatic"  # the cloud rotates symmetric keys on a period
    GENERATIONS = "generations"  # new key per generation, alias swap, overlap window
    CEREMONY = "ceremony"  # generations too, but created in a witnessed key ceremony


@dataclass(frozen=True)
class TierPolicy:
    """Every control of one tier; field names carry their units."""

    tier: Tier
    aws_protection: AwsProtection
    gcp_protection_levels: frozenset[str]
    gcp_default_protection_level: str
    external_origin_allowed: bool  # imported material, with an encrypted escrow copy
    max_rotation_period_in_days: int  # symmetric keys, automatic rotation
    non_rotatable_mode: RotationMode
    max_key_age_in_days: int  # keys that cannot rotate automatically
    generation_overlap_in_days: int
    min_deletion_window_in_days: int  # also the floor of kms:ScheduleKeyDeletionPendingWindowInDays
    default_deletion_window_in_days: int
    prevent_destroy: bool
    min_replica_regions: int
    replicas_allowed: bool
    environment_kinds: frozenset[EnvironmentKind]
    dedicated_account: bool
    human_use_allowed: bool  # with MFA
    separation_of_duties: SeparationOfDuties
    ceremony_role_required: bool
    object_lock_retention_in_days: int | None  # S3 Object Lock COMPLIANCE on the audit bucket
    log_retention_in_days: int  # CloudWatch Logs / GCP sink
    gcp_data_access_logs: bool  # DATA_READ, DATA_WRITE, ADMIN_READ for cloudkms
    gcp_sink_retention_in_days: int | None
    alarms: frozenset[str]
    sign_volume_anomaly_alarm: bool
    cloudhsm_backup_retention_in_days: int | None
    vault_lock_mode: str | None  # COMPLIANCE | GOVERNANCE
    vault_min_retention_in_days: int | None
    cross_account_backup_copy: bool
    drill_cadence_in_days: int | None
    # keyplane's choice (the spec sets cadences, not durations): how long a restore drill
    # (AWS Backup restore, CloudHSM cluster from backup) may take before it is TIMED_OUT.
    restore_deadline_in_minutes: int | None
    min_rsa_bits: int


# Human role sessions (ceremony, break-glass, admins) are short: one hour is enough for a
# ceremony or a break-glass action, and a leaked session expires soon.
HUMAN_SESSION_MAX_SECONDS = 3600

DESTRUCTIVE_EVENTS = frozenset({"DisableKey", "ScheduleKeyDeletion", "DestroyCryptoKeyVersion"})
POLICY_EVENTS = frozenset({"PutKeyPolicy", "CreateGrant", "SetIamPolicy"})
SIGN_OUTSIDE_CEREMONY = "SignOutsideCeremony"
# Evasion: what an attacker (or a careless operator) does to take a key, or the record of its
# use, away without a destructive call on the key itself. The ones that remove something:
EVASION_REMOVALS = frozenset({
    "DeleteAlias", "DeleteImportedKeyMaterial", "DeleteCustomKeyStore",  # kms
    "StopLogging", "DeleteTrail",  # cloudtrail: the audit trail itself
    "DeleteBackupVaultLockConfiguration",  # backup: the lock that keeps recovery points
    "DeleteSink",  # gcp logging: the locked audit sink
})
# ... and the ones that quietly change it (an alias moved to a rogue key, rotation off, the
# trail narrowed), plus two signals of misuse: the break-glass role assumed, and a burst of
# AccessDenied on KMS (someone probing what a stolen identity can do).
BREAK_GLASS_ASSUMED = "BreakGlassAssumeRole"
KMS_ACCESS_DENIED_BURST = "KmsAccessDeniedBurst"
EVASION_CHANGES = frozenset({
    "UpdateAlias", "DisableKeyRotation", "DisconnectCustomKeyStore",  # kms
    "UpdateTrail", "PutEventSelectors",  # cloudtrail
    "UpdateCryptoKeyPrimaryVersion", "UpdateCryptoKey", "UpdateSink",  # gcp
    BREAK_GLASS_ASSUMED, KMS_ACCESS_DENIED_BURST,
})

_FULL_HSM = frozenset({"HSM"})

TIERS: dict[Tier, TierPolicy] = {
    Tier.CA: TierPolicy(
        tier=Tier.CA,
        aws_protection=AwsProtection.CLOUDHSM,
        gcp_protection_levels=_FULL_HSM,
        gcp_default_protection_level="HSM",
        external_origin_allowed=False,
        max_rotation_period_in_days=365,
        non_rotatable_mode=RotationMode.CEREMONY,
        max_key_age_in_days=3650,
        generation_overlap_in_days=30,
        min_deletion_window_in_days=30,
        default_deletion_window_in_days=30,
        prevent_destroy=True,
        min_replica_regions=0,
        replicas_allowed=False,  # custom key stores are single-Region; CloudHSM backups recover
        environment_kinds=frozenset({EnvironmentKind.PRODUCTION}),
        dedicated_account=True,
        human_use_allowed=False,
        separation_of_duties=SeparationOfDuties.FULL,
        ceremony_role_required=True,
        object_lock_retention_in_days=2555,
        log_retention_in_days=365,
        gcp_data_access_logs=True,
        gcp_sink_retention_in_days=2555,
        alarms=DESTRUCTIVE_EVENTS | POLICY_EVENTS | EVASION_REMOVALS | EVASION_CHANGES
        | {SIGN_OUTSIDE_CEREMONY},
        sign_volume_anomaly_alarm=False,
        cloudhsm_backup_retention_in_days=365,
        vault_lock_mode="COMPLIANCE",
        vault_min_retention_in_days=365,
        cross_account_backup_copy=True,
        drill_cadence_in_days=90,
        restore_deadline_in_minutes=240,
        min_rsa_bits=3072,
    ),
    Tier.PRODUCTION: TierPolicy(
        tier=Tier.PRODUCTION,
        aws_protection=AwsProtection.KMS,
        gcp_protection_levels=_FULL_HSM,
        gcp_default_protection_level="HSM",
        external_origin_allowed=False,
        max_rotation_period_in_days=365,
        non_rotatable_mode=RotationMode.GENERATIONS,
        max_key_age_in_days=365,
        generation_overlap_in_days=30,
        min_deletion_window_in_days=30,
        default_deletion_window_in_days=30,
        prevent_destroy=True,
        min_replica_regions=1,
        replicas_allowed=True,
        environment_kinds=frozenset({EnvironmentKind.PRODUCTION}),
        dedicated_account=False,
        human_use_allowed=False,
        separation_of_duties=SeparationOfDuties.FULL,
        ceremony_role_required=False,
        object_lock_retention_in_days=365,
        log_retention_in_days=365,
        gcp_data_access_logs=True,
        gcp_sink_retention_in_days=365,
        alarms=DESTRUCTIVE_EVENTS | POLICY_EVENTS | EVASION_REMOVALS | EVASION_CHANGES,
        sign_volume_anomaly_alarm=True,
        cloudhsm_backup_retention_in_days=None,
        vault_lock_mode="COMPLIANCE",
        vault_min_retention_in_days=35,
        cross_account_backup_copy=False,
        drill_cadence_in_days=30,
        restore_deadline_in_minutes=120,
        min_rsa_bits=3072,
    ),
    Tier.NON_PRODUCTION: TierPolicy(
        tier=Tier.NON_PRODUCTION,
        aws_protection=AwsProtection.KMS,
        gcp_protection_levels=frozenset({"SOFTWARE", "HSM"}),
        gcp_default_protection_level="SOFTWARE",
        external_origin_allowed=True,
        max_rotation_period_in_days=365,
        non_rotatable_mode=RotationMode.GENERATIONS,
        max_key_age_in_days=730,
        generation_overlap_in_days=7,
        min_deletion_window_in_days=7,
        default_deletion_window_in_days=14,
        prevent_destroy=False,
        min_replica_regions=0,
        replicas_allowed=True,
        environment_kinds=frozenset({EnvironmentKind.NON_PRODUCTION}),
        dedicated_account=False,
        human_use_allowed=True,
        separation_of_duties=SeparationOfDuties.ADMIN_NOT_USER,
        ceremony_role_required=False,
        object_lock_retention_in_days=None,
        log_retention_in_days=90,
        gcp_data_access_logs=False,
        gcp_sink_retention_in_days=90,
        alarms=DESTRUCTIVE_EVENTS | EVASION_REMOVALS,
        sign_volume_anomaly_alarm=False,
        cloudhsm_backup_retention_in_days=None,
        vault_lock_mode="GOVERNANCE",
        vault_min_retention_in_days=7,
        cross_account_backup_copy=False,
        drill_cadence_in_days=90,
        restore_deadline_in_minutes=480,
        min_rsa_bits=2048,
    ),
    Tier.EPHEMERAL: TierPolicy(
        tier=Tier.EPHEMERAL,
        aws_protection=AwsProtection.KMS,
        gcp_protection_levels=frozenset({"SOFTWARE"}),
        gcp_default_protection_level="SOFTWARE",
        external_origin_allowed=False,
        max_rotation_period_in_days=90,
        non_rotatable_mode=RotationMode.GENERATIONS,
        max_key_age_in_days=30,
        generation_overlap_in_days=0,
        min_deletion_window_in_days=7,
        default_deletion_window_in_days=7,
        prevent_destroy=False,
        min_replica_regions=0,
        replicas_allowed=False,
        environment_kinds=frozenset({EnvironmentKind.PRODUCTION, EnvironmentKind.NON_PRODUCTION}),
        dedicated_account=False,
        human_use_allowed=False,
        separation_of_duties=SeparationOfDuties.NONE,
        ceremony_role_required=False,
        object_lock_retention_in_days=None,
        log_retention_in_days=30,
        gcp_data_access_logs=False,
        gcp_sink_retention_in_days=None,
        alarms=frozenset(),
        sign_volume_anomaly_alarm=False,
        cloudhsm_backup_retention_in_days=None,
        vault_lock_mode=None,
        vault_min_retention_in_days=None,
        cross_account_backup_copy=False,
        drill_cadence_in_days=None,
        restore_deadline_in_minutes=None,
        min_rsa_bits=2048,
    ),
}


def policy_for(tier: Tier | str) -> TierPolicy:
    """The controls of `tier`."""
    return TIERS[Tier(tier)]


def highest(tiers: list[Tier]) -> Tier | None:
    """The most sensitive of `tiers`: what a shared resource (trail, vault, role) must meet."""
    return max(tiers, key=lambda t: t.rank) if tiers else None
