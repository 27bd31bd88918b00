"""A Cloud KMS key's primary version is younger than its rotation period."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.registry import CheckContext, Result, check

SLACK = dt.timedelta(days=1)  # a rotation a day late is the cloud's queue, not drift


@check(title="Primary versions are younger than the rotation period", control=Control.ROTATION)
def primary_version_stale(ctx: CheckContext) -> Iterator[Result]:
    """The primary version of a Cloud KMS key with automatic rotation was created within its
    `rotation_period` (plus a day).

    Why: Cloud KMS rotates by creating a new version and making it primary; a primary
    older than the period means new data is still protected by the old version (a
    rotation that did not happen, or a primary set back by hand).

    Fix: look at the key's versions (`gcloud kms keys versions list`) and the audit log for
    `UpdateCryptoKeyPrimaryVersion`; create a new version and make it primary if the
    rotation did not happen.

    See: https://cloud.google.com/kms/docs/key-rotation
    """
    for gpair in ctx.gcp_keys():
        ck = gpair.observed.key
        if not gpair.expected.rotation_period_seconds or not ck.rotation_period_seconds:
            continue
        primary = ck.primary
        if primary is None or primary.create_time is None:
            continue
        age = ctx.now - primary.create_time
        if age.total_seconds() > ck.rotation_period_seconds + SLACK.total_seconds():
            yield gpair.fail(f"primary version is {age.days} days old, older than the rotation "
                             "period", actual=f"{age.days} d")
