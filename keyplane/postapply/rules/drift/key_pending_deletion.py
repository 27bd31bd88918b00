"""A declared key is not scheduled for deletion."""

from __future__ import annotations

import math
from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check

PENDING = ("PendingDeletion", "PendingReplicaDeletion")


@check(title="Declared keys are not scheduled for deletion", control=Control.PROTECTION)
def key_pending_deletion(ctx: CheckContext) -> Iterator[Result]:
    """A key (or replica) the stack declares is not in PendingDeletion.

    Why: a scheduled deletion destroys the key material when the waiting period ends;
    everything it signed or encrypted stays unverifiable or unreadable for good. The
    waiting period is the only time left to cancel it.

    Fix: cancel with `aws kms cancel-key-deletion --key-id <id>` (then enable the key),
    and find out who scheduled it from the audit trail. keyplane reports; it never
    cancels a deletion itself.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html
    """
    for pair in ctx.aws_keys_and_replicas():
        k = pair.observed.key
        if k.key_state not in PENDING:
            continue
        left = None
        if k.deletion_date is not None:
            left = max(0, math.ceil((k.deletion_date - ctx.now).total_seconds() / 86400))
        when = k.deletion_date.date().isoformat() if k.deletion_date else "its deletion date"
        yield pair.fail(f"scheduled for deletion on {when} ({left} day(s) left to cancel with "
                        "CancelKeyDeletion; keyplane does not cancel it)",
                        expected="Enabled" if pair.expected.enabled else "Disabled",
                        actual=k.key_state, days_left=left)
