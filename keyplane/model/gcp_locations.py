"""Where Cloud KMS offers what: Cloud HSM availability and the matching Cloud Storage location.

Standard library only: the inventory loader refuses HSM keys where Cloud HSM is known
to be unavailable, and the GCP constructs use the same table.

The HSM table is deliberately short: it lists only what a cited source states, and
anything else is *unknown* (None), which keyplane never treats as a refusal. The
authoritative, current answer is `LocationMetadata.hsmAvailable` of
`projects.locations.get` (https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations),
which the post-apply hooks can read at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KMS_LOCATIONS_DOC = "https://cloud.google.com/kms/docs/locations"


@dataclass(frozen=True)
class HsmFact:
    """Whether one Cloud KMS location offers protection level HSM, and who says so."""

    location: str
    hsm: bool
    source: str


# Locations known NOT to offer protection level HSM. Keep each entry cited.
HSM_UNAVAILABLE: dict[str, HsmFact] = {
    fact.location: fact for fact in (
        # The `global` location holds SOFTWARE keys only; HSM keys need a regional,
        # dual-regional or multi-regional location.
        HsmFact("global", False,
                "https://github.com/GoogleCloudPlatform/python-docs-samples/issues/3005; "
                f"{KMS_LOCATIONS_DOC} (worldwide)"),
    )
}

# Locations the Cloud KMS locations table lists with "Cloud HSM available: Yes"
# (the Americas, Asia-Pacific and Europe rows of its 2025 snapshots).
HSM_AVAILABLE: frozenset[str] = frozenset({
    "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
    "asia-south1", "asia-southeast1", "asia-southeast2", "australia-southeast1",
    "europe-central2", "europe-north1", "europe-west1", "europe-west2", "europe-west3",
    "europe-west4", "europe-west6", "northamerica-northeast1", "northamerica-northeast2",
    "southamerica-east1", "southamerica-west1", "us-central1", "us-east1", "us-east4",
    "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4",
    "nam3", "nam4", "nam6", "nam7", "nam8", "nam9", "nam10", "nam11", "nam12", "us",
})


def hsm_available(location: str) -> bool | None:
    """True/False where a cited source says whether `location` offers HSM keys; None = unknown."""
    loc = location.strip().lower()
    if loc in HSM_UNAVAILABLE:
        return HSM_UNAVAILABLE[loc].hsm
    if loc in HSM_AVAILABLE:
        return True
    return None


def hsm_source(location: str) -> str:
    """The document behind `hsm_available(location)`."""
    fact = HSM_UNAVAILABLE.get(location.strip().lower())
    return fact.source if fact else KMS_LOCATIONS_DOC


_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


def is_region(location: str) -> bool:
    """Whether a Cloud KMS location is a single region (`us-east1`), not `global` or a multi-region."""
    return bool(_REGION.match(location))


# Cloud KMS multi- and dual-region names whose Cloud Storage location of the same
# extent accepts their keys for CMEK (https://cloud.google.com/storage/docs/encryption/cmek:
# the key ring's location must match the bucket's).
_STORAGE_MULTI_REGIONS = {"us": "US", "europe": "EU", "asia": "ASIA",
                          "nam4": "NAM4", "eur4": "EUR4", "asia1": "ASIA1"}


def storage_location(kms_location: str) -> str | None:
    """The Cloud Storage location whose buckets can use CMEK keys of `kms_location`; None if none."""
    loc = kms_location.strip().lower()
    if is_region(loc):
        return loc.upper()
    return _STORAGE_MULTI_REGIONS.get(loc)
