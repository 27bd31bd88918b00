"""Errors of incident responses (codes KP960-KP969).

Every refusal names what was given and what is allowed, and happens before anything is
changed. Bad input, an undeclared or undeployed generation and a refused break-glass role
exit 2; a deployed key that is not provably the generation's exits 1 (an integrity finding:
nothing is disabled on a guess); a cloud that is throttled or unavailable exits 3.
"""

from __future__ import annotations

from keyplane.errors import KeyplaneError

BAD_INPUT = "KP960"  # KEY@gN, --since, --reason or an option combination that is not allowed
GENERATION_UNKNOWN = "KP961"  # the key or the generation is not declared, or has no generations
NOT_DEPLOYED = "KP962"  # no deployed key is tagged as the generation (or not in the account)
IDENTITY_MISMATCH = "KP963"  # two keys claim the generation, or its alias points elsewhere
BREAK_GLASS_REFUSED = "KP964"  # no MFA for the break-glass role, or sts:AssumeRole refused
NOT_CONFIRMED = "KP965"  # --execute without --yes and without a confirmation typed at a terminal
CLOUD_CALL_FAILED = "KP966"  # a read the plan needs failed (denied: exit 2, throttled: exit 3)
JOURNAL_CONFLICT = "KP967"  # the journal's unfinished incident names other keys than the cloud


class IncidentError(KeyplaneError):
    """Base of the incident errors (exit 2 unless a subclass says otherwise)."""

    code = BAD_INPUT


class IncidentInputError(IncidentError):
    """KEY@gN, --since, --reason or the options are malformed or contradict each other."""

    code = BAD_INPUT


class GenerationError(IncidentError):
    """The key or generation is not declared, or the key is not managed as generations."""

    code = GENERATION_UNKNOWN


class NotDeployedError(IncidentError):
    """No deployed key (or version) is the generation, or it is in another account."""

    code = NOT_DEPLOYED


class IdentityMismatchError(IncidentError):
    """The cloud does not agree which key is the generation: nothing is disabled on a guess
    (an integrity finding, exit 1)."""

    code = IDENTITY_MISMATCH
    exit_code = 1


class BreakGlassError(IncidentError):
    """The break-glass role cannot be assumed: no MFA given, or STS refused."""

    code = BREAK_GLASS_REFUSED


class NotConfirmedError(IncidentError):
    """An --execute that was not confirmed (no --yes, no terminal, or a wrong answer)."""

    code = NOT_CONFIRMED


class IncidentCloudError(IncidentError):
    """A cloud read the plan needs failed: denied (exit 2) or throttled (exit 3)."""

    code = CLOUD_CALL_FAILED

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
        self.exit_code = 3 if transient else 2


class JournalConflictError(IncidentError):
    """An unfinished incident in the journal acted on keys the cloud no longer names as the
    generation: resuming it could act on the wrong key (exit 1)."""

    code = JOURNAL_CONFLICT
    exit_code = 1
