"""Drill deadlines and allowances, as data: one table, read by every drill.

To move into the tier table (`keyplane.model.tiers.TierPolicy`) as
`restore_deadline_in_seconds` once the model owner takes it.
"""

from __future__ import annotations

from keyplane.model.tiers import Tier

# tier -> seconds a restore (AWS Backup restore, CloudHSM cluster from backup) may take
# before the drill is TIMED_OUT. ca: a cluster restore plus two HSMs takes about an hour
# in AWS; production restores of a table or bucket take minutes to an hour.
RESTORE_DEADLINE_SECONDS: dict[Tier, float | None] = {
    Tier.CA: 4 * 3600.0,
    Tier.PRODUCTION: 2 * 3600.0,
    Tier.NON_PRODUCTION: 8 * 3600.0,
    Tier.EPHEMERAL: None,  # never drilled
}

# Seconds between polls of a restore job / cluster (AWS asks for no more than this rate).
POLL_SECONDS = {"backup": 30.0, "cloudhsm": 60.0}

# A CloudHSM backup is taken at least every 24 h; a little slack for a backup in progress.
CLOUDHSM_BACKUP_MAX_AGE_SECONDS = 24 * 3600.0
CLOUDHSM_BACKUP_AGE_SLACK_SECONDS = 2 * 3600.0

# How long a restored copy with wrong or partial data is kept for forensics (must be within
# BACKUP_RESTORE_VALIDATION_WINDOW, 0-168 h).
FORENSIC_KEEP_HOURS = 72

# Lock lifetime beyond the deadline: a run killed mid-drill frees its target after this.
LOCK_MARGIN_SECONDS = 600.0


def restore_deadline(tier: Tier, scale: float = 1.0) -> float:
    """The tier's restore deadline in seconds, scaled (tests and demos only)."""
    base = RESTORE_DEADLINE_SECONDS[tier]
    if base is None:
        base = RESTORE_DEADLINE_SECONDS[Tier.NON_PRODUCTION] or 0.0
    return base * scale
