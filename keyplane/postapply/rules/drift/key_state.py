"""A declared key is in a usable state."""

from __future__ import annotations

from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check

# the states other checks judge: enabled/disabled (drift.key_disabled, drift.key_enabled) and
# a scheduled deletion (drift.key_pending_deletion)
JUDGED_ELSEWHERE = ("Enabled", "Disabled", "PendingDeletion", "PendingReplicaDeletion")


@check(title="Declared keys are in a usable state", control=Control.PROTECTION)
def key_state(ctx: CheckContext) -> Iterator[Result]:
    """A key (or replica) the stack declares is Enabled or Disabled, not in another state
    (PendingImport, Unavailable, Creating, Updating).

    Why: a key in any other state cannot be used: imported key material is missing or
    expired, or its custom key store is unavailable. Whatever depends on the key fails
    until it is back.

    Fix: see the state's cause in the audit trail: reimport the key material
    (`aws kms import-key-material`), or reconnect the key store.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    """
    for pair in ctx.aws_keys_and_replicas():
        state = pair.observed.key.key_state
        if state not in JUDGED_ELSEWHERE:
            yield pair.fail(f"the key is {state}", expected="Enabled", actual=state)
