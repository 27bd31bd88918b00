"""The primary version of a declared Cloud KMS key is not destroyed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail


@check(title="Cloud KMS primary versions are not destroyed", control=Control.PROTECTION,
       needs={Facet.GCP_VERSIONS})
def version_destroyed(ctx: CheckContext) -> Iterator[Result]:
    """The primary version of a crypto key the stack declares is not DESTROYED.

    Why: encryption with the key uses its primary version; once it is destroyed, encrypt
    calls fail and everything encrypted under it is unreadable for good.

    Fix: the material cannot be brought back: make a new version primary (or declare a new
    generation with `keyplane rotate`), re-encrypt what can still be re-encrypted from other
    copies, and find out from the audit logs who destroyed it.

    See: https://cloud.google.com/kms/docs/destroy-restore
    """
    for pair in ctx.gcp_keys(Facet.GCP_VERSIONS):
        primary = pair.observed.key.primary
        if primary is None:
            continue
        for v in pair.observed.versions or []:
            if v.state == "DESTROYED" and v.name == primary.name:
                yield fail(dataclasses.replace(pair.subject, resource=v.name),
                           "the primary version is destroyed", actual=v.state)
