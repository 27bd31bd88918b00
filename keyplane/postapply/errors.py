"""Errors of the post-apply jobs (codes KP6xx)."""

from __future__ import annotations

from keyplane.errors import KeyplaneError

ACCOUNT_MISMATCH = "KP601"
PROJECT_MISMATCH = "KP602"
CREDENTIALS_EXPIRED = "KP603"
SETUP_FAILED = "KP604"
KNOWN_DRIFT_INVALID = "KP605"
SANDBOX_FAILED = "KP606"
RESUME_INVALID = "KP607"
SYNTH_INVALID = "KP608"
SYNTH_MISSING = "KP609"


class HookSetupError(KeyplaneError):
    """The job cannot start: wrong account or project, no endpoint, bad option (exit 2)."""

    code = SETUP_FAILED


class KnownDriftError(KeyplaneError):
    """The known-drift file is unreadable or an entry misses a field (exit 2)."""

    code = KNOWN_DRIFT_INVALID
