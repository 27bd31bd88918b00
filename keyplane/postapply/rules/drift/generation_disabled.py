"""Every live generation of a Cloud KMS key without a primary has an enabled version."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from keyplane.findings import Control
from keyplane.postapply.collect import Facet
from keyplane.postapply.ports import CryptoKeyVersion
from keyplane.postapply.registry import CheckContext, Result, check, unknown


def version_number(name: str) -> int:
    """The number at the end of a crypto key version's name (0 when there is none)."""
    tail = name.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def current_versions(versions: Iterable[CryptoKeyVersion]) -> list[CryptoKeyVersion]:
    """The versions not yet destroyed, oldest first (the newest is the current generation)."""
    return sorted((v for v in versions if v.state != "DESTROYED"),
                  key=lambda v: version_number(v.name))


@check(title="Live generations of Cloud KMS keys without a primary are enabled",
       control=Control.PROTECTION, needs={Facet.GCP_VERSIONS})
def generation_disabled(ctx: CheckContext) -> Iterator[Result]:
    """A Cloud KMS key without a primary version (signing, MAC, imported) has at least as
    many enabled versions as it has live generations declared: the current one, and each
    verify-only generation still inside its overlap window (`verify_until`).

    Why: every generation of such a key is a version; a verify-only generation inside its
    window still verifies what relying parties hold, and disabling its version breaks
    them before the declared end. A disabled newest version alone is reported by
    drift.key_disabled.

    Fix: enable the version (`gcloud kms keys versions enable`), or end the generation's
    overlap window in the inventory first.

    See: https://cloud.google.com/kms/docs/enable-disable
    """
    today = ctx.today
    for pair in ctx.gcp_keys():
        if pair.observed.key.primary is not None:
            continue
        if pair.observed.versions is None:
            yield unknown(pair.subject, pair.observed.unknown.get(
                Facet.GCP_VERSIONS.value, "its versions could not be read"))
            continue
        if not pair.observed.versions:
            continue
        key = pair.expected.key
        live = [g for g in key.generations if g.enabled and (
            g.generation == key.generation or (g.verify_until is not None
                                               and g.verify_until >= today))]
        ordered = current_versions(pair.observed.versions)
        newest_disabled = bool(ordered) and ordered[-1].state == "DISABLED"
        enabled = sum(1 for v in ordered if v.state == "ENABLED")
        if live and enabled < len(live) and not (newest_disabled and enabled == len(live) - 1):
            yield pair.fail(f"{len(live)} live generation(s) declared "
                            f"({', '.join(f'g{g.generation}' for g in live)}), "
                            f"{enabled} version(s) enabled",
                            expected=f"{len(live)} enabled", actual=f"{enabled} enabled")

