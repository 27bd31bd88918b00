"""No version of a declared Cloud KMS key is scheduled for destruction."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail


@check(title="Cloud KMS key versions are not scheduled for destruction",
       control=Control.PROTECTION, needs={Facet.GCP_VERSIONS})
def version_destroy_scheduled(ctx: CheckContext) -> Iterator[Result]:
    """No version of a crypto key the stack declares is in DESTROY_SCHEDULED.

    Why: when the scheduled duration ends the version's key material is destroyed for good:
    what it encrypted cannot be decrypted and what it signed cannot be verified with it.
    The scheduled period is the only time left to restore it.

    Fix: `gcloud kms keys versions restore <version> --key <key> --keyring <ring> --location
    <location>` (then enable it), and find out who scheduled it from the audit logs.
    keyplane reports; it never restores a version itself.

    See: https://cloud.google.com/kms/docs/destroy-restore
    """
    for pair in ctx.gcp_keys(Facet.GCP_VERSIONS):
        for v in pair.observed.versions or []:
            if v.state != "DESTROY_SCHEDULED":
                continue
            left = None
            if v.destroy_time is not None:
                left = max(0, math.ceil((v.destroy_time - ctx.now).total_seconds() / 86400))
            when = v.destroy_time.date().isoformat() if v.destroy_time else "soon"
            yield fail(dataclasses.replace(pair.subject, resource=v.name),
                       f"version {v.name.rsplit('/', 1)[-1]} is scheduled for destruction on "
                       f"{when} ({left} day(s) left to restore with RestoreCryptoKeyVersion; "
                       "keyplane does not restore it)", actual=v.state, days_left=left)
