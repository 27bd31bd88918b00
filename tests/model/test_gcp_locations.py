"""Cloud HSM availability and CMEK bucket locations: a stdlib-only table."""

from __future__ import annotations

import pytest

from keyplane.model.gcp_locations import (
    HSM_UNAVAILABLE,
    hsm_available,
    hsm_source,
    is_region,
    storage_location,
)


@pytest.mark.parametrize(("location", "expected"), [
    ("global", False), ("GLOBAL", False), ("us-east1", True), ("europe-west1", True),
    ("us", True), ("me-central2", None), ("mars-north1", None)])
def test_hsm_available(location: str, expected: bool | None) -> None:
    assert hsm_available(location) is expected


def test_every_unavailable_location_is_cited() -> None:
    assert HSM_UNAVAILABLE, "the table must not be empty"
    for fact in HSM_UNAVAILABLE.values():
        assert fact.hsm is False
        assert fact.source.startswith("https://")
    assert hsm_source("global") == HSM_UNAVAILABLE["global"].source
    assert hsm_source("us-east1") == "https://cloud.google.com/kms/docs/locations"


@pytest.mark.parametrize(("location", "region", "bucket"), [
    ("us-east1", True, "US-EAST1"), ("europe", False, "EU"), ("nam4", False, "NAM4"),
    ("global", False, None), ("nam3", False, None)])
def test_regions_and_storage_locations(location: str, region: bool, bucket: str | None) -> None:
    assert is_region(location) is region
    assert storage_location(location) == bucket
