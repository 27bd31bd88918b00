"""`collect_cloud` over the CA Service port (`CaPoolStore`), without a network: what becomes a
certificate, an authority or an unread record, read once per pool, with the date judged
passed down. The adapter and the fake behind a real client are tested in
tests/sandbox/test_gcp_cas_fake.py and tests/certs/test_certs_cas_sandbox.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography.hazmat.primitives import serialization

from keyplane.certs.found import Source
from keyplane.certs.sources import (
    CaPoolRecord,
    CasAuthority,
    CasCertificate,
    collect_cloud,
)
from keyplane.cloudcall import CloudCallError, Throttled
from keyplane.model.environment import Environment
from tests.certs.certs_support import LocalCa, foreign_key, utc

PROJECT = "kp-lab-0001"
POOL = f"projects/{PROJECT}/locations/europe-west1/caPools/mesh"
AT = utc("2026-12-01")


def env_with(*pools_by_key: tuple[str, list[str]]) -> Environment:
    """A GCP environment whose keys (EC P-256 signers) declare the given pools."""
    return Environment.model_validate({
        "name": "lab", "kind": "non-production",
        "gcp": {"project_id": PROJECT, "location": "europe-west1"},
        "principals": {r: {"gcp": [f"group:{r}@example.com"]}
                       for r in ("key_admins", "backup_operators", "auditors", "break_glass")},
        "keys": [{"name": name, "tier": "non-production", "cloud": "gcp", "usage": "sign",
                  "spec": "EC_SIGN_P256_SHA256", "generation": 1,
                  "generations": [{"generation": 1, "created_on": "2026-05-01"}],
                  "certificates": {"gcp_cas": [{"ca_pool": p} for p in pools]}}
                 for name, pools in pools_by_key]})


class FakePools:
    """A CaPoolStore answering from memory, recording its calls; `fail` raises per method."""

    def __init__(self, tier: str = "ENTERPRISE", *, authorities: list[CasAuthority],
                 issued: list[CasCertificate], fail: dict[str, Exception] | None = None
                 ) -> None:
        self.tier = tier
        self.authorities = authorities
        self.issued = issued
        self.fail = fail or {}
        self.calls: list[tuple[str, Any]] = []

    def _maybe(self, method: str, arg: Any) -> None:
        self.calls.append((method, arg))
        if method in self.fail:
            raise self.fail[method]

    def ca_pool(self, name: str) -> CaPoolRecord:
        self._maybe("ca_pool", name)
        return CaPoolRecord(name, self.tier)

    def pool_authorities(self, pool: str) -> list[CasAuthority]:
        self._maybe("pool_authorities", pool)
        return self.authorities

    def pool_certificates(self, pool: str, valid_at: dt.datetime | None
                          ) -> list[CasCertificate]:
        self._maybe("pool_certificates", valid_at)
        return self.issued


CA = LocalCa("mesh root")
CA_PEM = CA.cert.public_bytes(serialization.Encoding.PEM).decode()
LEAF_PEM = CA.issue(foreign_key().public_key(), "svc", utc("2026-06-01"),
                    utc("2027-01-01")).public_bytes(serialization.Encoding.PEM).decode()
KMS_VERSION = (f"projects/{PROJECT}/locations/europe-west1/keyRings/pki/cryptoKeys/ca/"
               "cryptoKeyVersions/1")


def authority(ca_id: str, state: str = "ENABLED", pem: str | None = CA_PEM,
              kms: str | None = None) -> CasAuthority:
    return CasAuthority(f"{POOL}/certificateAuthorities/{ca_id}", state, "SELF_SIGNED", pem, kms)


def test_a_pool_is_read_once_into_certificates_and_authorities() -> None:
    store = FakePools(authorities=[
        authority("managed"), authority("on-kms", kms=KMS_VERSION),
        authority("deleted", "DELETED"), authority("waiting", "AWAITING_USER_ACTIVATION", None)],
        issued=[CasCertificate(f"{POOL}/certificates/a", f"{POOL}/certificateAuthorities/managed",
                               LEAF_PEM, None),
                CasCertificate(f"{POOL}/certificates/b", f"{POOL}/certificateAuthorities/managed",
                               LEAF_PEM, "KEY_COMPROMISE"),
                CasCertificate(f"{POOL}/certificates/c", f"{POOL}/certificateAuthorities/managed",
                               "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
                               None)])
    got = collect_cloud(env_with(("first", [POOL]), ("second", [POOL])), None, cas=store, at=AT)

    # declared by two keys, read once, for the first; ListCertificates from the date judged
    assert store.calls == [("ca_pool", POOL), ("pool_authorities", POOL),
                           ("pool_certificates", AT)]
    by_id = {c.id.rsplit("/", 1)[1]: c for c in got.certificates}
    assert sorted(by_id) == ["a", "b", "deleted", "managed", "on-kms"]  # none while waiting
    assert {c.declared_by for c in got.certificates} == {"first"}
    assert {c.region for c in got.certificates} == {"europe-west1"}
    assert (by_id["a"].source, by_id["a"].status, by_id["a"].authority) == (
        Source.GCP_CAS, None, f"{POOL}/certificateAuthorities/managed")
    assert by_id["b"].status == "REVOKED" and not by_id["b"].in_use(AT)
    assert by_id["a"].in_use(AT)
    assert not by_id["deleted"].in_use(AT)  # left its pool's trust anchor
    assert (by_id["managed"].source, by_id["managed"].key_storage, by_id["managed"].is_ca) == (
        Source.GCP_CAS_AUTHORITY, "HSM", True)
    assert by_id["on-kms"].key_storage == KMS_VERSION
    # only a CA whose key CA Service manages accounts for its own key
    assert sorted(got.authorities) == [f"{POOL}/certificateAuthorities/deleted",
                                       f"{POOL}/certificateAuthorities/managed"]
    assert got.authorities[f"{POOL}/certificateAuthorities/managed"].service == "CA Service"
    (unread,) = got.unread
    assert (unread.declared_by, unread.resource) == ("first", f"{POOL}/certificates/c")
    assert unread.reason.startswith("KP914 ca service returned a certificate keyplane cannot "
                                    "parse")


def test_an_unread_pool_says_why_and_a_devops_pool_says_what_cannot_be_read() -> None:
    got = collect_cloud(env_with(("first", [POOL])), None, cas=None, at=AT)
    assert [(u.resource, u.reason, u.region) for u in got.unread] == [
        (POOL, "KP914 gcp was not read in this run", "europe-west1")]

    throttled = FakePools(authorities=[], issued=[], fail={
        "ca_pool": Throttled("GetCaPool", "RESOURCE_EXHAUSTED", "quota")})
    got = collect_cloud(env_with(("first", [POOL])), None, cas=throttled, at=AT)
    assert [u.reason for u in got.unread] == [
        "KP914 GetCaPool throttled (RESOURCE_EXHAUSTED): try again later"]
    assert got.certificates == []

    listing = FakePools(authorities=[authority("managed")], issued=[], fail={
        "pool_certificates": CloudCallError("ListCertificates", "RepeatedPageToken",
                                            "the same page token was received twice")})
    got = collect_cloud(env_with(("first", [POOL])), None, cas=listing, at=AT)
    assert [c.source for c in got.certificates] == [Source.GCP_CAS_AUTHORITY]
    assert [(u.resource, u.reason) for u in got.unread] == [
        (f"{POOL}/certificates", "KP914 ListCertificates failed (RepeatedPageToken): the same "
                                 "page token was received twice")]

    devops = FakePools("DEVOPS", authorities=[authority("managed")], issued=[])
    got = collect_cloud(env_with(("first", [POOL])), None, cas=devops, at=AT)
    assert ("pool_certificates", AT) not in devops.calls  # nothing to list
    assert [c.source for c in got.certificates] == [Source.GCP_CAS_AUTHORITY]
    (unread,) = got.unread
    assert unread.resource == f"{POOL}/certificates"
    assert unread.reason.startswith(f"KP913 {POOL} is a DevOps-tier pool")
