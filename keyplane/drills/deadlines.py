"""Drill timing: the tier's restore deadline (from the tier table) and the drills' allowances."""

from __future__ import annotations

from keyplane.model.tiers import Tier, policy_for

# Seconds between polls of a restore job / cluster (AWS asks for no more than this rate).
POLL_SECONDS = {"backup": 30.0, "cloudhsm": 60.0}

# A CloudHSM backup is taken at least every 24 h; a little slack for a backup in progress.
CLOUDHSM_BACKUP_MAX_AGE_SECONDS = 24 * 3600.0
CLOUDHSM_BACKUP_AGE_SLACK_SECONDS = 2 * 3600.0

# How long a restored copy with wrong or partial data is kept for forensics (must be within
# BACKUP_RESTORE_VALIDATION_WINDOW, 0-168 h).
FORENSIC_KEEP_HOURS = 72


def restore_deadline(tier: Tier, scale: float = 1.0) -> float:
    """The tier's restore deadline in seconds, scaled (tests and demos only).

    A tier without a deadline (ephemeral: never drilled) gets the loosest one there is,
    for a drill asked for explicitly.
    """
    minutes = policy_for(tier).restore_deadline_in_minutes
    if minutes is None:
        minutes = max(p.restore_deadline_in_minutes or 0 for p in
                      (policy_for(t) for t in Tier))
    return minutes * 60.0 * scale
