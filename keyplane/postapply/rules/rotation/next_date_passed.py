"""A key's next scheduled rotation has not passed without a rotation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check
from keyplane.postapply.rules.rotation._automatic import rotating

SLACK = dt.timedelta(days=1)  # a rotation date a day late is the cloud's queue, not drift


@check(title="Scheduled rotations happen", control=Control.ROTATION, needs={Facet.ROTATION})
def next_date_passed(ctx: CheckContext) -> Iterator[Result]:
    """The next rotation date of a key with automatic rotation on (AWS `NextRotationDate`,
    Cloud KMS `next_rotation_time`) is not more than a day in the past.

    Why: a date that stays in the past means the cloud did not rotate the key when it
    should have (a key disabled at the time, a stuck schedule); the key is older than its
    cryptoperiod although every setting looks right.

    Fix: check the key's state and its rotation history (`aws kms list-key-rotations`,
    the key's versions), rotate it on demand if needed, and re-apply the stack to reset
    the schedule.

    See: https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
    """
    for pair, rot in rotating(ctx):
        if rot.next_rotation_date is not None and rot.next_rotation_date + SLACK < ctx.now:
            yield pair.fail(f"next rotation date {rot.next_rotation_date.date()} has passed "
                            "without a rotation",
                            actual=rot.next_rotation_date.date().isoformat())
    for gpair in ctx.gcp_keys():
        ck = gpair.observed.key
        if not gpair.expected.rotation_period_seconds or not ck.rotation_period_seconds:
            continue
        if ck.next_rotation_time is not None and ck.next_rotation_time + SLACK < ctx.now:
            yield gpair.fail(f"next_rotation_time {ck.next_rotation_time.date()} has passed",
                             actual=ck.next_rotation_time.date().isoformat())
