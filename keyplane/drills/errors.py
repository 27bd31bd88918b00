"""Errors of restore drills (codes KP70x)."""

from __future__ import annotations

from typing import Any

from keyplane.errors import KeyplaneError

ALREADY_RUNNING = "KP702"
TARGET_REFUSED = "KP703"
DRILL_SETUP = "KP704"
WAIT_TIMED_OUT = "KP705"
JOURNAL_FAILED = "KP706"


class DrillSetupError(KeyplaneError):
    """The drill cannot start: bad selection, missing drill account, unreadable journal (exit 2)."""

    code = DRILL_SETUP


class AlreadyRunningError(KeyplaneError):
    """Another run holds the single-flight lock of this (environment, target) (exit 3)."""

    code = ALREADY_RUNNING
    exit_code = 3

    def __init__(self, target: str, owner: str, last_heartbeat: str, expires_at: str) -> None:
        super().__init__(f"drill {target} is already running (owner {owner}, last heartbeat "
                         f"{last_heartbeat}); if that run died, its lock is taken over after "
                         f"{expires_at}")
        self.target = target
        self.owner = owner
        self.last_heartbeat = last_heartbeat
        self.expires_at = expires_at


class TargetRefusedError(KeyplaneError):
    """A restore would land in the production account or resource; refused (exit 2)."""

    code = TARGET_REFUSED


class WaitTimeout(KeyplaneError):
    """A waiter gave up at its deadline; carries the name, the reason and the last response."""

    code = WAIT_TIMED_OUT
    exit_code = 3

    def __init__(self, name: str, reason: str, last_response: Any, waited_seconds: float) -> None:
        super().__init__(f"{name} did not finish within {waited_seconds:.0f} s: {reason}")
        self.name = name
        self.reason = reason
        self.last_response = last_response
        self.waited_seconds = waited_seconds
