"""The tier table and the rotation-eligibility function."""

from __future__ import annotations

import pytest

from keyplane.model import limits
from keyplane.model.specs import (
    AWS_KEY_SPECS,
    GCP_ALGORITHMS,
    Cloud,
    KeyFamily,
    Origin,
    rotation_eligibility,
)
from keyplane.model.tiers import TIERS, AwsProtection, Tier, highest, policy_for


def test_every_tier_has_a_policy() -> None:
    assert set(TIERS) == set(Tier)
    assert all(policy.tier is tier for tier, policy in TIERS.items())


@pytest.mark.parametrize("tier", list(Tier))
def test_tier_floors_sit_inside_provider_limits(tier: Tier) -> None:
    pol = policy_for(tier)
    assert limits.AWS_KMS_DELETION_WINDOW.contains(pol.min_deletion_window_in_days)
    assert limits.AWS_KMS_DELETION_WINDOW.contains(pol.default_deletion_window_in_days)
    assert pol.min_deletion_window_in_days <= pol.default_deletion_window_in_days
    assert limits.AWS_KMS_ROTATION_PERIOD.contains(pol.max_rotation_period_in_days)
    assert limits.GCP_ROTATION_PERIOD_HOURS.contains(pol.max_rotation_period_in_days * 24)
    assert pol.generation_overlap_in_days < pol.max_key_age_in_days
    if pol.cloudhsm_backup_retention_in_days is not None:
        assert limits.CLOUDHSM_BACKUP_RETENTION.contains(pol.cloudhsm_backup_retention_in_days)
    assert pol.gcp_default_protection_level in pol.gcp_protection_levels


def test_tiers_follow_the_product_spec() -> None:
    ca, prod = policy_for("ca"), policy_for(Tier.PRODUCTION)
    nonprod, eph = policy_for(Tier.NON_PRODUCTION), policy_for(Tier.EPHEMERAL)
    assert ca.aws_protection is AwsProtection.CLOUDHSM and prod.aws_protection is AwsProtection.KMS
    assert (ca.max_key_age_in_days, prod.max_key_age_in_days, nonprod.max_key_age_in_days,
            eph.max_key_age_in_days) == (3650, 365, 730, 30)
    assert (prod.generation_overlap_in_days, nonprod.generation_overlap_in_days) == (30, 7)
    assert eph.max_rotation_period_in_days == 90
    assert (ca.object_lock_retention_in_days, prod.object_lock_retention_in_days) == (2555, 365)
    assert [p.log_retention_in_days for p in (ca, prod, nonprod, eph)] == [365, 365, 90, 30]
    assert prod.min_replica_regions == 1 and not ca.replicas_allowed
    assert [p.drill_cadence_in_days for p in (ca, prod, nonprod, eph)] == [90, 30, 90, None]
    assert "SignOutsideCeremony" in ca.alarms and not eph.alarms


def test_highest_tier_of_a_shared_resource() -> None:
    assert highest([Tier.EPHEMERAL, Tier.PRODUCTION, Tier.NON_PRODUCTION]) is Tier.PRODUCTION
    assert highest([]) is None


@pytest.mark.parametrize(("cloud", "family", "origin", "store", "replica", "eligible", "why"), [
    (Cloud.AWS, KeyFamily.SYMMETRIC, Origin.KMS, False, False, True, "symmetric aws key"),
    (Cloud.GCP, KeyFamily.SYMMETRIC, Origin.KMS, False, False, True, "symmetric gcp key"),
    (Cloud.AWS, KeyFamily.ASYMMETRIC, Origin.KMS, False, False, False, "asymmetric"),
    (Cloud.GCP, KeyFamily.ASYMMETRIC, Origin.KMS, False, False, False, "asymmetric"),
    (Cloud.AWS, KeyFamily.HMAC, Origin.KMS, False, False, False, "hmac"),
    (Cloud.AWS, KeyFamily.SYMMETRIC, Origin.EXTERNAL, False, False, False, "imported"),
    (Cloud.AWS, KeyFamily.SYMMETRIC, Origin.CLOUDHSM, True, False, False, "custom key store"),
    (Cloud.AWS, KeyFamily.SYMMETRIC, Origin.KMS, False, True, False, "primary"),
])
def test_rotation_eligibility(cloud: Cloud, family: KeyFamily, origin: Origin, store: bool,
                              replica: bool, eligible: bool, why: str) -> None:
    result = rotation_eligibility(cloud=cloud, family=family, origin=origin,
                                  custom_key_store=store, multi_region_replica=replica)
    assert bool(result) is eligible
    assert why in result.reason


def test_spec_tables_are_consistent() -> None:
    for table in (AWS_KEY_SPECS, GCP_ALGORITHMS):
        for spec, info in table.items():
            assert info.usages, spec
            assert (info.rsa_bits is not None) == ("RSA" in spec), spec


def test_cloudwatch_retention_rounds_up_to_an_accepted_value() -> None:
    assert limits.cloudwatch_retention_at_least(2555) == 2557
    assert limits.cloudwatch_retention_at_least(365) == 365
    assert limits.cloudwatch_retention_at_least(35) == 60
