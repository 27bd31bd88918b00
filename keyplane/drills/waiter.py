"""Polling with a deadline: injected clock and sleep, a timeout that says what it waited for."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keyplane.cloudcall import Throttled
from keyplane.drills.errors import WaitTimeout


@dataclass(frozen=True)
class Poll:
    """One look at the thing waited on: done or not, the raw response, and why not yet."""

    done: bool
    response: Any = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Timing:
    """The clock and sleep of a run (tests inject fakes; nothing sleeps for real there)."""

    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass(kw_only=True)
class Waiter:
    """Polls until done or the deadline passes.

    name: what is waited on (appears in the timeout). delay_seconds: pause between polls.
    deadline_seconds: total time allowed, from the first poll. A transient error of a poll
    (throttling) counts as "not yet", never as done.
    """

    name: str
    delay_seconds: float
    deadline_seconds: float
    timing: Timing = field(default_factory=Timing)
    polls: int = 0
    heartbeat: Callable[[], None] = field(default=lambda: None)  # each poll renews the lock

    def wait(self, poll: Callable[[], Poll]) -> Any:
        """The response of the first poll that is done; WaitTimeout at the deadline."""
        start = self.timing.clock()
        last: Poll = Poll(False, None, "not polled yet")
        while True:
            self.polls += 1
            self.heartbeat()
            try:
                last = poll()
            except Throttled as exc:
                last = Poll(False, last.response, f"transient: {exc}")
            if last.done:
                return last.response
            waited = self.timing.clock() - start
            if waited >= self.deadline_seconds:
                raise WaitTimeout(self.name, last.reason or "not done", last.response,
                                  self.deadline_seconds)
            self.timing.sleep(min(self.delay_seconds, max(self.deadline_seconds - waited, 0.0))
                              or self.delay_seconds)
