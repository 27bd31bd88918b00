"""The certificate rules, the generation index and the cloud sources without a cloud: real
X.509 certificates (made with `cryptography`), declared keys as the loader fills them in,
and the ports (`KeyVersionsPort`, `CertificateStore`) as small fakes of their protocols.
The same paths run against the sandbox in test_certs_sandbox.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keyplane.audit.evidence import DrillResult
from keyplane.certs import rules
from keyplane.certs.found import FoundCertificate, Source, from_x509
from keyplane.certs.identity import fingerprint
from keyplane.certs.keys import DeployedVersion, GenerationKey, KeyIndex, build_index
from keyplane.certs.report import judge, render_markdown, render_text
from keyplane.certs.sources import AcmRecord, Collected, PcaAuthority, collect_cloud
from keyplane.cloudcall import AccessDenied, KeyMissingError, Throttled
from keyplane.findings import Status
from keyplane.model.environment import Environment, KeyDecl
from keyplane.model.specs import Cloud
from keyplane.model.tiers import Tier
from keyplane.policy.packs import CERTS, cert_severity
from tests.certs.certs_support import LocalCa, utc

AT = utc("2026-12-01")
CA = LocalCa()


def spki(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def signer(**changes: Any) -> KeyDecl:
    """A non-production AWS signing key with three generations, as the loader fills it in."""
    data: dict[str, Any] = {
        "name": "signer", "tier": "non-production", "cloud": "aws", "usage": "sign",
        "spec": "ECC_NIST_P256", "owner": "team-a", "max_key_age_in_days": 730,
        "generation": 3, "generations": [
            {"generation": 3, "created_on": "2026-05-01"},
            {"generation": 2, "created_on": "2025-05-01", "verify_until": "2026-12-10"},
            {"generation": 1, "created_on": "2024-05-01", "verify_until": "2025-06-01",
             "enabled": False}]}
    data.update(changes)
    return KeyDecl.model_validate(data)


KEYS = {n: ec.generate_private_key(ec.SECP256R1()) for n in (1, 2, 3)}


def cert(key: Any, not_after: str, *, not_before: str = "2026-06-01", is_ca: bool = False,
         declared_by: str = "signer", source: str = Source.FILE, status: str | None = None,
         id: str = "c.pem") -> FoundCertificate:
    x = CA.issue(key.public_key(), "subject", utc(not_before), utc(not_after), is_ca=is_ca)
    return from_x509(x, id=id, source=source, declared_by=declared_by, status=status)


def known(key: KeyDecl, n: int, *, state: str = "Enabled", protection: str = "AWS_KMS",
          declared: bool = True) -> GenerationKey:
    from keyplane.certs.found import spki_sha256

    gen = next((g for g in key.generations if g.generation == n), None) if declared else None
    return GenerationKey(key=key, generation=n, declared=gen, ref=f"arn:{n}", state=state,
                         current=n == key.generation, protection=protection,
                         spki_sha256=spki_sha256(spki(KEYS[n])))


def case(c: FoundCertificate, key: KeyDecl, index: KeyIndex, *,
         authority: PcaAuthority | None = None) -> rules.CertCase:
    match = index.match(c)
    return rules.CertCase(cert=c, declared_by=key, match=match,
                          maybe=tuple(index.could_be(c)) if match is None else (),
                          authority=authority, index=index, at=AT)


def verdict(rule_id: str, c: rules.CertCase) -> rules.Verdict:
    return rules.RULES[rule_id].func(c)


# ---- the rules --------------------------------------------------------------------------------

def test_every_rule_is_in_the_certs_pack_with_a_docstring_and_a_control() -> None:
    assert set(rules.RULES) == set(CERTS)
    for rule_id, rule in rules.RULES.items():
        assert rule.rule_id == rule_id == f"certs.{rule.func.__name__}"
        assert "Why:" in rule.doc and "Fix:" in rule.doc and "See:" in rule.doc
        assert rule.summary and not rule.title.startswith("Ensure")
    assert cert_severity("certs.ca_key_not_in_hsm", Tier.CA) is not None
    assert cert_severity("certs.ca_key_not_in_hsm", Tier.PRODUCTION) is None
    assert cert_severity("certs.nope", Tier.CA) is None


def test_a_verify_only_generation_passes_inside_its_overlap_and_fails_after() -> None:
    key = signer()
    index = KeyIndex(generations=[known(key, 3), known(key, 2)])
    c = case(cert(KEYS[2], "2027-01-05"), key, index)
    got = verdict("certs.retired_generation", c)
    assert (got.status, got.reason) == (
        Status.PASS, "signer@g2 is verify-only until 2026-12-10; re-issue on signer@g3 before "
                     "then")
    late = rules.CertCase(**{**c.__dict__, "at": utc("2026-12-11")})
    got = verdict("certs.retired_generation", late)
    assert got.status is Status.FAIL
    assert got.reason.startswith("signer@g2 is verify-only and its overlap ended on 2026-12-10")
    assert verdict("certs.retired_generation", case(cert(KEYS[3], "2027-01-01"), key,
                                                    index)).status is Status.PASS


def test_the_overlap_of_a_generation_without_verify_until_ends_a_tier_overlap_after_its_successor(
        ) -> None:
    key = signer().model_copy(update={"generations": (
        signer().generations[0],
        signer().generations[1].model_copy(update={"verify_until": None}))})
    assert rules.overlap_ends(key, 2) == dt.date(2026, 5, 8)  # + 7 days (non-production)
    assert rules.overlap_ends(key, 3) is None


def test_outlives_key_compares_with_max_age_or_verify_until() -> None:
    key = signer()
    index = KeyIndex(generations=[known(key, 3), known(key, 2)])
    on_g3 = verdict("certs.outlives_key", case(cert(KEYS[3], "2028-05-01"), key, index))
    assert (on_g3.status, on_g3.expected, on_g3.actual) == (
        Status.FAIL, "2028-04-30", "2028-05-01T00:00:00+00:00")
    assert "1 day(s) past the end of signer@g3: its maximum age (2026-05-01 + 730 d = " \
           "2028-04-30)" in on_g3.reason
    assert verdict("certs.outlives_key", case(cert(KEYS[3], "2028-04-30"), key,
                                              index)).status is Status.PASS
    on_g2 = verdict("certs.outlives_key", case(cert(KEYS[2], "2026-12-11"), key, index))
    assert (on_g2.status, on_g2.expected) == (Status.FAIL, "2026-12-10")


def test_expiring_needs_a_deployed_enabled_current_generation_not_at_its_own_end() -> None:
    key = signer()
    soon = cert(KEYS[2], "2026-12-08")  # 7 days: inside the 14-day non-production window
    ready = verdict("certs.expiring_without_successor",
                    case(soon, key, KeyIndex(generations=[known(key, 3), known(key, 2)])))
    assert (ready.status, ready.reason, ready.days_left) == (
        Status.PASS, "expires in 7 day(s) (2026-12-08); renew it on signer@g3", 7)
    missing = verdict("certs.expiring_without_successor",
                      case(soon, key, KeyIndex(generations=[known(key, 2)])))
    assert missing.status is Status.UNKNOWN and "not read" in missing.reason
    disabled = verdict("certs.expiring_without_successor", case(soon, key, KeyIndex(
        generations=[known(key, 3, state="Disabled"), known(key, 2)])))
    assert disabled.status is Status.FAIL and "signer@g3 is Disabled" in disabled.reason
    old = signer(max_key_age_in_days=220)  # g3 ends 2026-12-07, inside the window
    at_end = verdict("certs.expiring_without_successor",
                     case(soon, old, KeyIndex(generations=[known(old, 3), known(old, 2)])))
    assert at_end.status is Status.FAIL and "rotate first" in at_end.reason
    far = verdict("certs.expiring_without_successor",
                  case(cert(KEYS[3], "2027-01-01"), key, KeyIndex(generations=[known(key, 3)])))
    assert (far.status, far.days_left) == (Status.PASS, 31)


def test_ca_key_not_in_hsm_by_protection_and_by_acm_pca_key_storage() -> None:
    key = signer()
    ca_cert = cert(KEYS[3], "2027-06-01", is_ca=True)
    for protection, status in (("AWS_KMS", Status.PASS), ("AWS_CLOUDHSM", Status.PASS),
                               ("HSM", Status.PASS), ("EXTERNAL", Status.FAIL),
                               ("SOFTWARE", Status.FAIL), ("EXTERNAL_VPC", Status.FAIL)):
        got = verdict("certs.ca_key_not_in_hsm", case(ca_cert, key, KeyIndex(
            generations=[known(key, 3, protection=protection)])))
        assert got.status is status, protection
    assert verdict("certs.ca_key_not_in_hsm", case(cert(KEYS[3], "2027-06-01"), key, KeyIndex(
        generations=[known(key, 3, protection="SOFTWARE")]))).status is Status.NOT_APPLICABLE
    pca = cert(ec.generate_private_key(ec.SECP384R1()), "2030-01-01", is_ca=True,
               source=Source.ACM_PCA_AUTHORITY, id="arn:aws:acm-pca:ca")
    for storage, status in (("FIPS_140_2_LEVEL_3_OR_HIGHER", Status.PASS),
                            ("FIPS_140_2_LEVEL_2_OR_HIGHER", Status.FAIL),
                            ("CCPC_LEVEL_1_OR_HIGHER", Status.FAIL), (None, Status.UNKNOWN)):
        authority = PcaAuthority("arn:aws:acm-pca:ca", "ACTIVE", storage, None)
        got = verdict("certs.ca_key_not_in_hsm", case(pca, key, KeyIndex(), authority=authority))
        assert got.status is status, storage
        assert verdict("certs.key_not_in_inventory", case(
            pca, key, KeyIndex(), authority=authority)).status is Status.PASS


def test_a_certificate_on_an_undeclared_generation_is_not_in_the_inventory() -> None:
    key = signer()
    index = KeyIndex(generations=[known(key, 3), known(key, 1, declared=False)])
    got = verdict("certs.key_not_in_inventory", case(cert(KEYS[1], "2027-01-01"), key, index))
    assert got.status is Status.FAIL
    assert got.reason == "its key is signer@g1 (arn:1), a generation the inventory does not " \
                         "declare"


def test_expired_and_revoked_certificates_are_not_applicable_to_every_rule() -> None:
    key = signer()
    index = KeyIndex(generations=[known(key, 2)])
    for c, why in ((cert(KEYS[2], "2026-11-30", is_ca=True), "expired on 2026-11-30"),
                   (cert(KEYS[2], "2027-11-30", is_ca=True, status="REVOKED",
                         source=Source.ACM), "REVOKED in acm")):
        for rule_id in rules.RULES:
            got = verdict(rule_id, case(c, key, index))
            assert (got.status, got.reason) == (Status.NOT_APPLICABLE, why), rule_id


# ---- the index: public keys read, recorded, ambiguous, unreadable ------------------------------

class FakeKms:
    """The KeyVersionsPort protocol over fixed answers (or a failure to raise)."""

    def __init__(self, versions: list[DeployedVersion], error: Exception | None = None) -> None:
        self.versions = versions
        self.error = error
        self.asked: list[str] = []

    def deployed(self, key: KeyDecl) -> list[DeployedVersion]:
        self.asked.append(key.name)
        if self.error is not None:
            raise self.error
        return self.versions


def version(n: int, *, public: bool = True, state: str = "Enabled") -> DeployedVersion:
    return DeployedVersion(ref=f"arn:{n}", generation=n, state=state, current=n == 3,
                           protection="AWS_KMS", public_key=spki(KEYS[n]) if public else None,
                           error=None if public else f"arn:{n} is {state}")


def env_of(*keys: KeyDecl) -> Environment:
    return Environment.model_validate({
        "name": "lab", "kind": "non-production", "aws": {"account_id": "111122223333",
                                                         "region": "eu-west-1"},
        "principals": {r: {"aws": [f"arn:aws:iam::111122223333:role/{r}"]}
                       for r in ("key_admins", "backup_operators", "auditors", "break_glass")},
        "keys": [k.model_dump(mode="json") for k in keys]})


def canary(n: int, key: Any) -> DrillResult:
    return DrillResult(run_id=f"r{n}", environment="lab", kind="sign-canary", key="signer",
                       generation=n, tier="non-production", started_at="2025-01-01T00:00:00Z",
                       ended_at="2025-01-01T00:00:00Z", outcome="PASSED", reason="ok",
                       identity="ci", details={"public_key_sha256": fingerprint(spki(key))})


def test_index_reads_recalls_and_refuses_to_guess() -> None:
    key = signer()
    env = env_of(key)
    read = []

    def history() -> list[DrillResult]:
        read.append(1)
        return [canary(1, KEYS[1])]
    # g3 read, g2 claimed by two keys (an impostor), g1 disabled: recalled from its canary
    impostor = DeployedVersion(ref="arn:evil", generation=2, state="Enabled", current=False,
                               protection="AWS_KMS", public_key=spki(KEYS[2]))
    port = FakeKms([version(3), version(2), impostor, version(1, public=False,
                                                               state="Disabled")])
    index = build_index(env, {Cloud.AWS: port}, history)
    assert [(g.generation, g.spki_sha256 is not None, g.recorded is not None)
            for g in index.generations] == [(3, True, False), (1, False, True)]
    (ambiguous,) = index.unreadable
    assert ambiguous.reason == "KP915 2 keys claim to be signer@g2 (arn:2, arn:evil)"
    assert read == [1]  # the evidence is read once, only because g1 needed it
    c = cert(KEYS[2], "2027-01-01")
    assert index.match(c) is None and [u.label for u in index.could_be(c)] == ["signer@g2"]
    # a certificate on another curve cannot be that generation: it is plainly not in it
    other = cert(ec.generate_private_key(ec.SECP384R1()), "2027-01-01")
    assert index.could_be(other) == []
    assert index.match(cert(KEYS[1], "2027-01-01")).label == "signer@g1"  # type: ignore[union-attr]


def test_index_records_a_listing_failure_and_falls_back_to_the_evidence() -> None:
    key = signer()
    denied = AccessDenied("ListKeys", "AccessDeniedException", "no", region="eu-west-1")
    index = build_index(env_of(key), {Cloud.AWS: FakeKms([], denied)},
                        lambda: [canary(3, KEYS[3])])
    ((failed_key, reason),) = index.failures
    assert failed_key.name == "signer"
    assert reason == "KP915 ListKeys denied (AccessDeniedException) in eu-west-1: the caller " \
                     "needs kms:ListKeys, kms:ListResourceTags, kms:DescribeKey and " \
                     "kms:GetPublicKey"
    assert [(g.generation, g.current, g.state) for g in index.generations] == [(3, True, None)]
    assert {u.generation for u in index.unreadable} == {1, 2}

    def broken() -> list[DrillResult]:
        raise OSError("disk gone")
    index = build_index(env_of(key), {Cloud.AWS: FakeKms([version(3), version(2, public=False,
                                                                             state="Disabled")])},
                        broken)
    (u,) = index.unreadable[:1]
    assert "the drill evidence could not be read (OSError: disk gone)" in u.reason


def test_index_skips_keys_without_a_public_key_and_clouds_not_read() -> None:
    data_key = KeyDecl.model_validate({"name": "data", "tier": "non-production", "cloud": "aws",
                                       "usage": "encrypt", "spec": "SYMMETRIC_DEFAULT",
                                       "rotation_period_in_days": 365})
    port = FakeKms([version(3)])
    index = build_index(env_of(signer(), data_key), {Cloud.AWS: None})
    assert port.asked == [] and index.generations == []
    assert {u.reason.split(";")[0] for u in index.unreadable} == {
        "KP915 aws was not read in this run"}
    build_index(env_of(signer(), data_key), {Cloud.AWS: port})
    assert port.asked == ["signer"]


# ---- cloud sources through the CertificateStore port -----------------------------------------

class FakeStore:
    """The CertificateStore protocol over fixed answers; `fail` maps a call to its error."""

    def __init__(self, pem: str, fail: dict[str, Exception] | None = None) -> None:
        self.pem = pem
        self.fail = fail or {}
        self.calls: list[tuple[str, str]] = []

    def _maybe(self, op: str, arg: str) -> None:
        self.calls.append((op, arg))
        if op in self.fail:
            raise self.fail[op]

    def acm_certificate(self, arn: str) -> AcmRecord:
        self._maybe("acm_certificate", arn)
        return AcmRecord(arn, "PENDING_VALIDATION" if arn.endswith("pending") else "ISSUED",
                         None if arn.endswith("pending") else self.pem)

    def acm_tagged(self, region: str, tags: dict[str, str]) -> list[AcmRecord]:
        self._maybe("acm_tagged", region)
        return [AcmRecord(f"arn:aws:acm:{region}:1:certificate/t", "ISSUED", self.pem)]

    def pca_authority(self, arn: str) -> PcaAuthority:
        self._maybe("pca_authority", arn)
        return PcaAuthority(arn, "PENDING_CERTIFICATE", "FIPS_140_2_LEVEL_3_OR_HIGHER", None)

    def pca_certificate(self, authority_arn: str, arn: str) -> str:
        self._maybe("pca_certificate", arn)
        return "not a pem"


ACM = "arn:aws:acm:eu-west-1:111122223333:certificate/0a1b2c3d-0000-4000-8000-000000000001"
PCA = ("arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/"
       "0a1b2c3d-0000-4000-8000-000000000002")


def test_collect_cloud_reads_what_each_key_declares_once_and_records_what_it_could_not() -> None:
    pem = CA.cert.public_bytes(serialization.Encoding.PEM).decode()
    key = signer(certificates={"acm": {"arns": [ACM, ACM + "pending"], "tags": {"a": "b"}},
                               "acm_pca": [{"authority_arn": PCA,
                                            "issued": [PCA + "/certificate/" + "a" * 32]}]})
    other = signer(name="other", certificates={"acm": {"arns": [ACM]},
                                               "gcp_cas": [{"ca_pool": "projects/p/locations/"
                                                            "l/caPools/x"}]})
    store = FakeStore(pem)
    got = collect_cloud(env_of(key, other), store, regions=("us-east-2",))
    assert [c.id for c in got.certificates] == [ACM, "arn:aws:acm:us-east-2:1:certificate/t"]
    assert store.calls.count(("acm_certificate", ACM)) == 1  # declared twice, read once
    assert [c.declared_by for c in got.certificates] == ["signer", "signer"]
    assert PCA in got.authorities  # pending: no certificate of its own yet
    assert [(u.declared_by, u.reason.split(" ")[0]) for u in got.unread] == [
        ("signer", "KP914"), ("other", "KP914")]
    assert "acm pca returned a certificate keyplane cannot parse" in got.unread[0].reason

    throttled = FakeStore(pem, {"acm_tagged": Throttled("ListCertificates", "ThrottlingException",
                                                        region="eu-west-1"),
                                "acm_certificate": KeyMissingError(
                                    "DescribeCertificate", "ResourceNotFoundException",
                                    "no such certificate")})
    got = collect_cloud(env_of(signer(certificates={"acm": {"arns": [ACM],
                                                            "tags": {"a": "b"}}})), throttled)
    assert [u.reason for u in got.unread] == [
        "KP914 DescribeCertificate missing (ResourceNotFoundException): no such certificate",
        "KP914 ListCertificates throttled (ThrottlingException) in eu-west-1: try again later"]
    assert got.unread[1].resource == "acm:eu-west-1:tags[a=b]"
    assert collect_cloud(env_of(key), None).unread[0].reason == \
        "KP914 aws was not read in this run"


# ---- judging: errors never pass, the report carries owners ---------------------------------

def test_a_rule_that_raises_is_an_error_never_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    key = signer()
    env = env_of(key)

    def broken(c: rules.CertCase) -> rules.Verdict:
        raise ZeroDivisionError("oops")
    rule = rules.RULES["certs.outlives_key"]
    monkeypatch.setitem(rules.RULES, "certs.outlives_key",
                        rules.CertRule(rule.rule_id, rule.title, rule.control, broken, rule.doc))
    index = KeyIndex(generations=[known(env.key("signer"), 3)])
    report = judge(env, [cert(KEYS[3], "2027-01-01")], Collected(), index, at=AT,
                   started_at=AT)
    (error,) = report.unknowns
    assert (error.rule_id, error.status, error.severity.value, error.reason, error.owner) == (
        "certs.outlives_key", Status.ERROR, "high", "rule failed: ZeroDivisionError: oops",
        "team-a")
    assert report.outcome.exit_code == 3


def test_the_report_shows_owners_and_a_timeline_in_text_and_markdown() -> None:
    key = signer()
    env = env_of(key)
    k = env.key("signer")
    index = KeyIndex(generations=[known(k, 3), known(k, 2)])
    foreign = ec.generate_private_key(ec.SECP256R1())
    found = [cert(KEYS[3], "2029-01-01", id="a.pem"), cert(foreign, "2027-01-01", id="b.pem")]
    report = judge(env, found, Collected(), index, at=AT, started_at=AT)
    assert {(f.rule_id, f.resource, f.owner, f.key) for f in report.findings} == {
        ("certs.outlives_key", "a.pem", "team-a", "signer@g3"),
        ("certs.key_not_in_inventory", "b.pem", "team-a", "signer")}
    text = render_text(report)
    assert "signer (non-production, aws, owner team-a)" in text
    assert "    g2 verify-only created 2025-05-01, usable until 2026-12-10; public key read" in text
    assert "       no certificates" in text
    md = render_markdown(report)
    assert "| `signer` | team-a | g3 | current | 2028-04-30 | `a.pem` | 2026-06-01 .. " \
           "2029-01-01 | certs.outlives_key |" in md
