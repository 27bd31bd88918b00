"""A declared, enabled key is not disabled."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.registry import CheckContext, Result, check, fail, unknown
from keyplane.postapply.rules.drift.generation_disabled import current_versions, version_number


@check(title="Declared keys are not disabled", control=Control.PROTECTION,
       needs={Facet.GCP_VERSIONS})
def key_disabled(ctx: CheckContext) -> Iterator[Result]:
    """A key (or replica) declared enabled is not Disabled; a Cloud KMS key's primary
    version is not DISABLED, and for a key without a primary (signing, MAC, imported) the
    newest version, its current generation, is not DISABLED.

    Why: a disabled key refuses every Sign, Decrypt and GenerateMac: whatever depends on it
    stops, and disabling is often the first step before a deletion is scheduled. A key
    pending deletion is reported by drift.key_pending_deletion, not here.

    Fix: find out who disabled it from the audit trail, then enable it
    (`aws kms enable-key --key-id <id>`, or `gcloud kms keys versions enable`).

    See: https://docs.aws.amazon.com/kms/latest/developerguide/enabling-keys.html
    """
    for pair in ctx.aws_keys_and_replicas():
        if pair.observed.key.key_state == "Disabled" and pair.expected.enabled:
            yield pair.fail("the key is disabled; it is declared enabled",
                            expected="Enabled", actual="Disabled")
    for gpair in ctx.gcp_keys():
        ck = gpair.observed.key
        if ck.primary is not None:
            if ck.primary.state == "DISABLED":
                yield gpair.fail("the primary version is disabled", expected="ENABLED",
                                 actual="DISABLED")
            continue
        if gpair.observed.versions is None:
            yield unknown(gpair.subject, gpair.observed.unknown.get(
                Facet.GCP_VERSIONS.value, "its versions could not be read"))
            continue
        ordered = current_versions(gpair.observed.versions)
        if ordered and ordered[-1].state == "DISABLED":
            newest = ordered[-1]
            yield fail(dataclasses.replace(gpair.subject, resource=newest.name),
                       f"version {version_number(newest.name)}, the current generation "
                       f"(g{gpair.expected.key.generation}), is disabled",
                       expected="ENABLED", actual="DISABLED")
