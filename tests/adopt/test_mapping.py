"""`keyplane.adopt.mapping`: unmanaged keys as read -> entries, blocks, imports and changes.

Pure: the records are what the post-apply collector reads (`keyplane.postapply.ports`), the
pairing is the real matcher's. Each refusal is a case where an emitted entry would make the
first plan replace a key (or change one against its owner's intent).
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

import pytest

from keyplane.adopt.mapping import AdoptionPlan, KeyAdoption, existing_roles, plan_adoption
from keyplane.adopt.rules import TierRules, parse_escrow
from keyplane.desired.aws import plan_environment
from keyplane.model.environment import Environment
from keyplane.model.loader import load_environment
from keyplane.postapply.collect import Observed, ObservedAwsKey, ObservedGcpKey
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.match import match
from keyplane.postapply.ports import (
    Alias,
    AwsKey,
    CryptoKey,
    CryptoKeyVersion,
    CustomKeyStore,
    IamRole,
    RotationStatus,
)
from tests.conftest import write_env

ACCT = "210000000002"
TODAY = dt.date(2026, 3, 1)
CREATED = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
PROJECT = "acme-legacy-two"
RING = f"projects/{PROJECT}/locations/europe-west1/keyRings/legacy"


def _env(tmp_path: Path, kind: str = "non-production", keys: str = "keys: []\n") -> Environment:
    text = textwrap.dedent(f"""\
        name: legacy
        kind: {kind}
        aws:
          account_id: "{ACCT}"
          region: us-east-1
          replica_regions: [us-west-2]
          cloudhsm:
            hsms:
              - availability_zone: us-east-1a
                subnet_id: subnet-0a1b2c3d4e5f60718
              - availability_zone: us-east-1b
                subnet_id: subnet-0f1e2d3c4b5a69788
            backup_retention_in_days: 365
            key_store_password_ssm_parameter: /keyplane/legacy/kmsuser
            trust_anchor_certificate_ssm_parameter: /keyplane/legacy/anchor
        gcp:
          project_id: {PROJECT}
          location: europe-west1
        principals:
          key_admins:
            aws: [arn:aws:iam::{ACCT}:role/admins]
          backup_operators:
            aws: [arn:aws:iam::{ACCT}:role/backup]
          auditors:
            aws: [arn:aws:iam::{ACCT}:role/audit]
          break_glass:
            aws: [arn:aws:iam::{ACCT}:role/break-glass]
        """) + keys
    return load_environment(write_env(tmp_path, text, name="legacy"))


def _key(key_id: str, *, spec: str = "SYMMETRIC_DEFAULT", usage: str = "ENCRYPT_DECRYPT",
         origin: str = "AWS_KMS", region: str = "us-east-1", state: str = "Enabled",
         description: str = "", store: str | None = None, replicas: tuple[str, ...] = (),
         role: str | None = None) -> AwsKey:
    multi = key_id.startswith("mrk-")
    return AwsKey(key_id=key_id, arn=f"arn:aws:kms:{region}:{ACCT}:key/{key_id}", region=region,
                  key_state=state, key_spec=spec, key_usage=usage, origin=origin,
                  description=description, creation_date=CREATED, custom_key_store_id=store,
                  multi_region=multi, multi_region_role=role or ("PRIMARY" if multi else None),
                  primary_region="us-east-1" if multi else None, replica_regions=replicas)


def _obs(key: AwsKey, tags: dict[str, str] | None = None, *,
         rotation: RotationStatus | None = None) -> ObservedAwsKey:
    return ObservedAwsKey(key=key, tags=dict(tags or {}), rotation=rotation)


def _plan(env: Environment, keys: list[ObservedAwsKey], *,
          aliases: dict[str, list[Alias]] | None = None,
          stores: list[CustomKeyStore] | None = None, gcp: list[ObservedGcpKey] | None = None,
          rules: TierRules | None = None, escrow: list[str] = ()) -> AdoptionPlan:  # type: ignore[assignment]
    observed = Observed(aws_keys=keys, aliases=aliases if aliases is not None else {
        "us-east-1": [], "us-west-2": []}, key_stores=stores, gcp_keys=gcp or [])
    state = ExpectedState(env=env, source="test")
    return plan_adoption(state=state, observed=observed, matched=match(state, observed),
                         rules=rules or TierRules(), escrow=parse_escrow(escrow), today=TODAY)


def _one(plan: AdoptionPlan) -> KeyAdoption:
    (adoption,) = plan.keys
    return adoption


OFF = RotationStatus(enabled=False)
SYM = "1111aaaa-12ab-34cd-56ef-1234567890ab"
RSA = "2222bbbb-12ab-34cd-56ef-1234567890ab"
MRK = "mrk-3333cccc12ab34cd56ef1234567890ab"


def test_a_symmetric_key_keeps_what_exists_and_turns_rotation_on(tmp_path: Path) -> None:
    plan = _plan(_env(tmp_path), [_obs(_key(SYM, description="app data"),
                                       {"cost-center": "42", "aws:cloudformation:x": "y"},
                                       rotation=OFF)],
                 aliases={"us-east-1": [Alias(name="alias/app-data", target_key_id=SYM,
                                              region="us-east-1"),
                                        Alias(name="alias/zz-old", target_key_id=SYM,
                                              region="us-east-1")],
                          "us-west-2": []})
    a = _one(plan)
    assert a.writable and a.review  # no rule decided the tier
    assert a.entry == {"name": "app-data", "tier": "non-production", "cloud": "aws",
                       "usage": "encrypt", "spec": "SYMMETRIC_DEFAULT",
                       "alias": "alias/app-data", "description": "app data", "review": True,
                       "adopt": {"aws_key_id": SYM, "aliases": ["alias/app-data"],
                                 "tags": {"cost-center": "42"}}}
    assert a.imports == [f"key {SYM} (us-east-1)", "alias alias/app-data (us-east-1)"]
    assert a.changes[0] == ("automatic rotation: off -> on, every 365 days (the "
                            "non-production tier's)")
    assert a.left == ["alias alias/zz-old (us-east-1): not managed by keyplane, left as it is"]


def test_a_tighter_rotation_period_is_kept(tmp_path: Path) -> None:
    a = _one(_plan(_env(tmp_path), [_obs(_key(SYM), rotation=RotationStatus(
        enabled=True, period_in_days=180))], rules=TierRules.parse(default="non-production")))
    assert a.entry is not None and a.entry["rotation_period_in_days"] == 180
    assert not a.review and not any("rotation" in c for c in a.changes)


def test_a_signing_key_becomes_generation_1_with_its_creation_date(tmp_path: Path) -> None:
    a = _one(_plan(_env(tmp_path), [_obs(_key(RSA, spec="RSA_3072", usage="SIGN_VERIFY"))],
                   rules=TierRules.parse(default="non-production")))
    assert a.entry == {"name": "adopted-2222bbbb", "tier": "non-production", "cloud": "aws",
                       "usage": "sign", "spec": "RSA_3072", "generation": 1,
                       "generations": [{"generation": 1, "created_on": dt.date(2026, 1, 5)}],
                       "adopt": {"aws_key_id": RSA, "generation": 1}}
    assert a.creates == ["alias alias/adopted-2222bbbb (us-east-1)",
                         "alias alias/adopted-2222bbbb/g1 (us-east-1): the generation alias"]


def test_a_key_past_its_tiers_age_says_so(tmp_path: Path) -> None:
    a = _one(_plan(_env(tmp_path), [_obs(_key(RSA, spec="RSA_3072", usage="SIGN_VERIFY"),
                                         {"ci": "yes"})],
                   rules=TierRules.parse(["ci=yes:ephemeral"])))
    assert a.tier is not None and a.tier.value == "ephemeral" and a.writable
    assert ("generation 1 (created 2026-01-05) is past the ephemeral tier's maximum age of 30 "
            "days (due 2026-02-04): rotate it (`keyplane rotate`) once adopted") in a.reasons


def test_a_multi_region_key_imports_its_replica_and_aliases(tmp_path: Path) -> None:
    west = _key(MRK, region="us-west-2", role="REPLICA")
    aliases = {r: [Alias(name="alias/shared", target_key_id=MRK, region=r)]
               for r in ("us-east-1", "us-west-2")}
    a = _one(_plan(_env(tmp_path, kind="production"),
                   [_obs(_key(MRK, replicas=("us-west-2",), description="shared"), rotation=OFF),
                    _obs(west)], aliases=aliases))
    assert a.writable, a.blocked
    assert a.entry is not None
    assert (a.entry["tier"], a.entry["replica_regions"]) == ("production", ["us-west-2"])
    assert a.entry["adopt"] == {"aws_key_id": MRK, "aliases": ["alias/shared"],
                                "replicas": {"us-west-2": MRK},
                                "replica_aliases": {"us-west-2": ["alias/shared"]}}
    assert f"replica {MRK} (us-west-2)" in a.imports and "alias alias/shared (us-west-2)" in a.imports
    assert "replica description (us-west-2): '' -> 'shared' (the primary's)" in a.changes


def test_fails_a_single_region_key_as_production(tmp_path: Path) -> None:
    a = _one(_plan(_env(tmp_path, kind="production"), [_obs(_key(SYM), rotation=OFF)]))
    assert not a.writable and a.entry is not None  # shown, never written
    assert a.blocked == (
        "production keys need at least 1 replica region(s); this key is single-region and cannot "
        "become multi-region (multi_region forces a new key): adopt it under another tier, or "
        "declare a new key and retire this one")


@pytest.mark.parametrize(("key", "tier", "blocked"), [
    (_key(SYM), "ca", "ca keys live in a cloudhsm custom key store; this key's origin is "
                      "AWS_KMS (custom_key_store_id forces a new key)"),
    (_key(SYM, origin="EXTERNAL"), "ephemeral",
     "ephemeral keys are never imported material; this key's origin is EXTERNAL (origin forces "
     "a new key)"),
    (_key(RSA, spec="RSA_2048", usage="SIGN_VERIFY", replicas=()), "production",
     "production keys need at least 1 replica region(s); this key is single-region and cannot "
     "become multi-region (multi_region forces a new key): adopt it under another tier, or "
     "declare a new key and retire this one"),
    (_key(MRK, replicas=("us-west-2",)), "ephemeral",
     "ephemeral keys have no multi-region replicas; this key is multi-region with replicas in "
     "us-west-2 (multi_region forces a new key)"),
    (_key(SYM, state="Disabled"), "production",
     "the key is disabled; keyplane declares the key in use enabled, so the plan would enable "
     "it: enable it first if it is in use, or leave it out"),
    (_key(SYM, origin="EXTERNAL", state="PendingImport"), "non-production",
     "the key has no key material yet (PendingImport): import its material first, keeping the "
     "escrow copy"),
    (_key(SYM, origin="EXTERNAL_KEY_STORE"), "non-production",
     "origin EXTERNAL_KEY_STORE (an external key store) is not one keyplane manages"),
    (_key(MRK), "non-production",
     "the key is multi-region without replicas; keyplane declares a multi-region key by its "
     "replica_regions (add a replica first), and a single-region declaration would replace it"),
    (_key(SYM, region="eu-west-1"), "non-production",
     "the key is in eu-west-1; keyplane declares keys in the environment's home region "
     "us-east-1 (multi-region keys: their primary)"),
    (_key(SYM, spec="SM2", usage="SIGN_VERIFY"), "non-production",
     "key spec SM2 is not one keyplane manages; allowed: SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, "
     "RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, ML_DSA_44, "
     "ML_DSA_65, ML_DSA_87, HMAC_224, HMAC_256, HMAC_384, HMAC_512"),
])
def test_fails_keys_the_tier_would_replace_or_change_against_intent(
        tmp_path: Path, key: AwsKey, tier: str, blocked: str) -> None:
    kind = "production" if tier in ("ca", "production") else "non-production"
    a = _one(_plan(_env(tmp_path, kind=kind), [_obs(key, rotation=OFF)],
                   rules=TierRules.parse(default=tier)))
    assert a.blocked == blocked
    assert not a.writable


def test_fails_rsa_2048_below_the_production_floor(tmp_path: Path) -> None:
    key = _key(MRK, spec="RSA_2048", usage="SIGN_VERIFY", replicas=("us-west-2",))
    a = _one(_plan(_env(tmp_path, kind="production"), [_obs(key)],
                   rules=TierRules.parse(default="production")))
    assert a.blocked == ("RSA_2048 has 2048-bit rsa; the production tier needs at least 3072 bits "
                         "(key_spec forces a new key)")


def test_imported_material_needs_its_escrow_copy(tmp_path: Path) -> None:
    key = _key(SYM, origin="EXTERNAL")
    refused = _one(_plan(_env(tmp_path), [_obs(key)]))
    assert refused.blocked == (
        "imported key material needs its encrypted escrow copy: pass --escrow "
        "adopted-1111aaaa=<s3:// or gs:// location>:<wrapping key of this environment>")
    ok = _one(_plan(_env(tmp_path), [_obs(key)],
                    escrow=[f"{SYM}=s3://escrow/legacy:wrap"]))
    assert ok.writable and ok.entry is not None
    assert (ok.entry["origin"], ok.entry["escrow"]) == (
        "external", {"location": "s3://escrow/legacy", "wrapping_key": "wrap"})


def test_a_key_in_another_custom_key_store_records_its_name(tmp_path: Path) -> None:
    stores = [CustomKeyStore(id="cks-1", name="legacy-hsm", connection_state="CONNECTED"),
              CustomKeyStore(id="cks-2", name="keyplane-legacy", connection_state="CONNECTED")]
    hsm = _obs(_key(SYM, origin="AWS_CLOUDHSM", store="cks-1"))
    a = _one(_plan(_env(tmp_path), [hsm], stores=stores))
    assert a.writable and a.entry is not None
    assert a.entry["origin"] == "cloudhsm"
    assert a.entry["adopt"]["custom_key_store"] == "legacy-hsm"
    assert a.why.endswith("but ca keys cannot live in a non-production environment: took "
                          "non-production")
    own = _one(_plan(_env(tmp_path), [_obs(_key(SYM, origin="AWS_CLOUDHSM", store="cks-2"))],
                     stores=stores))
    assert own.entry is not None and "custom_key_store" not in own.entry["adopt"]
    unread = _one(_plan(_env(tmp_path), [hsm], stores=None))
    assert unread.blocked == ("the custom key stores could not be read, so the store of this key "
                              "is unknown")


def test_names_never_clash_with_the_inventory_or_the_accounts_aliases(tmp_path: Path) -> None:
    env = _env(tmp_path, keys=textwrap.dedent("""\
        keys:
          - name: app-data
            tier: non-production
            cloud: aws
            usage: encrypt
        """))
    aliases = {"us-east-1": [
        Alias(name="alias/app-data", target_key_id="somewhere-else", region="us-east-1"),
        Alias(name="alias/adopted-2222bbbb", target_key_id="x", region="us-east-1"),
        Alias(name="alias/App_Data", target_key_id=SYM, region="us-east-1")], "us-west-2": []}
    plan = _plan(env, [_obs(_key(SYM)), _obs(_key(RSA, spec="RSA_3072", usage="SIGN_VERIFY"))],
                 aliases=aliases, rules=TierRules.parse(default="non-production"))
    assert [a.name for a in plan.keys] == ["app-data-2", "adopted-2222bbbb-2"]


def test_fails_when_the_generation_alias_is_taken(tmp_path: Path) -> None:
    aliases = {"us-east-1": [Alias(name="alias/rel", target_key_id=RSA, region="us-east-1"),
                             Alias(name="alias/rel/g1", target_key_id="x", region="us-east-1")],
               "us-west-2": []}
    a = _one(_plan(_env(tmp_path), [_obs(_key(RSA, spec="RSA_3072", usage="SIGN_VERIFY"))],
                   aliases=aliases))
    assert a.blocked == ("alias alias/rel/g1 exists (us-east-1, key x); keyplane names "
                         "generation 1 of this key so: rename that alias first")


def test_fails_a_replica_alias_that_points_elsewhere(tmp_path: Path) -> None:
    aliases = {"us-east-1": [Alias(name="alias/shared", target_key_id=MRK, region="us-east-1")],
               "us-west-2": [Alias(name="alias/shared", target_key_id="other", region="us-west-2")]}
    a = _one(_plan(_env(tmp_path), [_obs(_key(MRK, replicas=("us-west-2",)), rotation=OFF)],
                   aliases=aliases))
    assert a.blocked == ("alias alias/shared in us-west-2 points to another key (other); keyplane "
                         "points it at this key's replica")


def test_a_replica_region_not_read_is_for_review(tmp_path: Path) -> None:
    a = _one(_plan(_env(tmp_path), [_obs(_key(MRK, replicas=("us-west-2",)), rotation=OFF)],
                   aliases={"us-east-1": []}, rules=TierRules.parse(default="non-production")))
    assert a.writable and a.review
    assert ("the aliases of us-west-2 were not read (pass --region us-west-2): if "
            "alias/adopted-mrk-3333 exists there, the apply fails on it") in a.reasons


def test_skips_pending_deletion_adopted_and_orphan_replicas(tmp_path: Path) -> None:
    env = _env(tmp_path, keys=textwrap.dedent(f"""\
        keys:
          - name: app
            tier: non-production
            cloud: aws
            usage: encrypt
            adopt: {{aws_key_id: {SYM}}}
        """))
    plan = _plan(env, [_obs(_key(SYM)), _obs(_key(RSA, state="PendingDeletion")),
                       _obs(_key(MRK, region="us-west-2", role="REPLICA"))])
    assert plan.keys == []
    assert plan.notes == [
        f"arn:aws:kms:us-east-1:{ACCT}:key/{SYM}: already adopted in the inventory (not yet "
        "applied)",
        f"arn:aws:kms:us-east-1:{ACCT}:key/{RSA}: pending deletion, not adopted",
        f"arn:aws:kms:us-west-2:{ACCT}:key/{MRK}: a replica whose primary (us-east-1) is not an "
        "unmanaged key of us-east-1: adopt its primary, or add us-west-2 to the primary's "
        "replica_regions"]


def test_keyplane_tagged_keys_are_not_offered(tmp_path: Path) -> None:
    plan = _plan(_env(tmp_path), [_obs(_key(SYM), {"keyplane:env": "legacy",
                                                   "keyplane:key": "x"})])
    assert plan.keys == []


# ---- GCP -----------------------------------------------------------------------------------


def _ck(name: str, *, purpose: str = "ENCRYPT_DECRYPT",
        algorithm: str = "GOOGLE_SYMMETRIC_ENCRYPTION", level: str = "SOFTWARE",
        destroy: int | None = 30 * 86400, import_only: bool | None = False,
        rotation: int | None = None, labels: dict[str, str] | None = None) -> CryptoKey:
    return CryptoKey(name=f"{RING}/cryptoKeys/{name}", purpose=purpose, algorithm=algorithm,
                     protection_level=level, labels=labels or {},
                     rotation_period_seconds=rotation, create_time=CREATED,
                     destroy_scheduled_duration_seconds=destroy, import_only=import_only)


def _version(key: str, n: int, state: str = "ENABLED", day: int = 1) -> CryptoKeyVersion:
    return CryptoKeyVersion(name=f"{RING}/cryptoKeys/{key}/cryptoKeyVersions/{n}", state=state,
                            algorithm="EC_SIGN_P256_SHA256", protection_level="SOFTWARE",
                            create_time=dt.datetime(2026, 1, day, tzinfo=dt.UTC))


def _gplan(tmp_path: Path, keys: list[ObservedGcpKey], **kw: Any) -> AdoptionPlan:
    return _plan(_env(tmp_path), [], gcp=keys, **kw)


def test_a_symmetric_crypto_key_imports_its_ring_and_keeps_its_window(tmp_path: Path) -> None:
    a = _one(_gplan(tmp_path, [ObservedGcpKey(key=_ck("data", labels={"team": "pki"}),
                                              versions=[])]))
    assert a.writable, a.blocked
    assert a.entry == {"name": "data", "tier": "non-production", "cloud": "gcp",
                       "usage": "encrypt", "spec": "GOOGLE_SYMMETRIC_ENCRYPTION",
                       "key_ring": "legacy", "location": "europe-west1",
                       "protection_level": "SOFTWARE", "deletion_window_in_days": 30,
                       "review": True,
                       "adopt": {"gcp_crypto_key": f"{RING}/cryptoKeys/data", "key_ring": RING,
                                 "labels": {"team": "pki"}}}
    assert a.imports == [f"crypto key {RING}/cryptoKeys/data", f"key ring {RING}"]
    assert "rotation_period: none -> 365 days (the non-production tier's)" in a.changes


def test_a_signing_crypto_key_imports_its_newest_enabled_version(tmp_path: Path) -> None:
    versions = [_version("tls", 1, day=1), _version("tls", 2, day=3),
                _version("tls", 3, "DISABLED", day=5)]
    a = _one(_gplan(tmp_path, [ObservedGcpKey(key=_ck("tls", purpose="ASYMMETRIC_SIGN",
                                                      algorithm="EC_SIGN_P256_SHA256"),
                                              versions=versions)]))
    assert a.writable and a.entry is not None
    assert a.entry["adopt"]["crypto_key_version"] == f"{RING}/cryptoKeys/tls/cryptoKeyVersions/2"
    assert a.entry["generations"] == [{"generation": 1, "created_on": dt.date(2026, 1, 3)}]
    assert a.left == [f"version {RING}/cryptoKeys/tls/cryptoKeyVersions/1: enabled, not managed "
                      "by keyplane (left as it is)"]
    assert "1 more enabled version(s) stay outside keyplane" in a.reasons


@pytest.mark.parametrize(("key", "rules", "blocked"), [
    (_ck("short", destroy=86400), None,
     "destroy-scheduled duration 1 days is below the non-production tier's 7 days; it is fixed "
     "when the key is created"),
    (_ck("odd", destroy=90000), None,
     "destroy-scheduled duration 90000s is not a whole number of days; it is fixed when the key "
     "is created"),
    (_ck("unread", import_only=None), None,
     "whether the key is import-only could not be read (it is fixed at creation)"),
    (_ck("Legacy_Key"), None,
     "crypto key id 'Legacy_Key' is not a keyplane key name (^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$);"
     " keyplane names gcp keys by their crypto key id, which cannot change"),
    (_ck("raw", purpose="RAW_ENCRYPT_DECRYPT", algorithm="AES_256_GCM"), None,
     "purpose RAW_ENCRYPT_DECRYPT with algorithm AES_256_GCM is not one keyplane manages"),
    (_ck("imported", import_only=True), "ephemeral",
     "ephemeral keys are never imported material; this key is import-only"),
])
def test_fails_crypto_keys_whose_fixed_settings_the_tier_forbids(
        tmp_path: Path, key: CryptoKey, rules: str | None, blocked: str) -> None:
    a = _one(_gplan(tmp_path, [ObservedGcpKey(key=key, versions=[])],
                    rules=TierRules.parse(default=rules) if rules else None))
    assert a.blocked == blocked


def test_fails_software_protection_for_production(tmp_path: Path) -> None:
    env = _env(tmp_path, kind="production")
    a = _one(_plan(env, [], gcp=[ObservedGcpKey(key=_ck("data"), versions=[])]))
    assert a.blocked == ("protection level SOFTWARE is not allowed for the production tier (HSM); "
                         "it is fixed when the key is created")


# ---- roles ---------------------------------------------------------------------------------


def test_existing_keyplane_roles_are_imported_unless_keyplane_made_them(tmp_path: Path) -> None:
    env = _env(tmp_path, keys=textwrap.dedent("""\
        keys:
          - name: app
            tier: non-production
            cloud: aws
            usage: encrypt
        """))
    iam = plan_environment(env).iam

    def role(name: str, path: str = "/", **kw: Any) -> IamRole:
        return IamRole(name=name, arn=f"arn:aws:iam::{ACCT}:role{path}{name}", **kw)

    roles, policies, notes = existing_roles([
        role("keyplane-legacy-key-admin", inline_policies={"keyplane": {}}),
        role("keyplane-legacy-auditor", tags={"keyplane:env": "legacy"}),
        role("keyplane-legacy-break-glass", path="/legacy/"),
        role("keyplane-legacy-unplanned")], iam, "legacy")
    assert (roles, policies) == (["keyplane-legacy-key-admin"], ["keyplane-legacy-key-admin"])
    assert notes == [
        f"role keyplane-legacy-break-glass exists at another path (arn:aws:iam::{ACCT}:role/legacy/"
        "keyplane-legacy-break-glass); keyplane's is at / and the name is taken: rename or remove "
        "it before the apply",
        "role keyplane-legacy-key-admin exists: imported; its trust policy, description, tags and "
        "inline policy become keyplane's"]


def test_the_owner_comes_from_the_option_else_the_keys_own_tag(tmp_path: Path) -> None:
    env = _env(tmp_path)
    tagged = _obs(_key(SYM), {"owner": "payments@example.com"}, rotation=OFF)
    a = _one(_plan(env, [tagged]))
    assert a.entry is not None and a.entry["owner"] == "payments@example.com"
    observed = Observed(aws_keys=[tagged], aliases={"us-east-1": [], "us-west-2": []})
    state = ExpectedState(env=env, source="test")
    given = plan_adoption(state=state, observed=observed, matched=match(state, observed),
                          rules=TierRules(), owner="pki-team", today=TODAY)
    assert given.keys[0].entry is not None and given.keys[0].entry["owner"] == "pki-team"
    untagged = _one(_plan(env, [_obs(_key(RSA, spec="RSA_3072", usage="SIGN_VERIFY"))]))
    assert untagged.entry is not None and "owner" not in untagged.entry
