"""The certs section of a post-apply report (`keyplane.postapply.certs`), without a cloud:
what a resumed run, known drift and a stopped run make of it. Certificates are real X.509
certificates judged by the certificate rules against an index of known public keys; the
sandbox runs are in test_post_apply_certs.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keyplane.certs.found import Source, from_x509, spki_sha256
from keyplane.certs.keys import GenerationKey, KeyIndex
from keyplane.certs.report import judge
from keyplane.certs.sources import Collected, Unread
from keyplane.findings import Finding, RunOutcome, Severity, Status
from keyplane.model.loader import load_estate
from keyplane.postapply.acks import Ack
from keyplane.postapply.certs import declares_certificates, fold, not_judged
from keyplane.postapply.report import Report, render
from keyplane.schema import validate
from tests.audit.test_report_certs import PKI, WEB
from tests.certs.certs_support import LocalCa, utc

AT = utc("2026-11-20")
KEY = ec.generate_private_key(ec.SECP384R1())


def _env(tmp: Path, text: str, name: str) -> Any:
    envs = tmp / "environments"
    envs.mkdir(exist_ok=True)
    (envs / f"{name}.yaml").write_text(text, encoding="utf-8")
    return load_estate([envs / f"{name}.yaml"]).get(name)


def judged(env: Any, *, unread: bool = False) -> Report:
    """pki's certificates judged: one outliving release-signer@g2's maximum age, one valid
    within it; with `unread`, an ACM source that could not be read."""
    signer = env.key("release-signer")
    ca = LocalCa()
    certs = [from_x509(ca.issue(KEY.public_key(), name, utc("2026-06-01"), utc(until)),
                       id=f"certs/release/{name}.pem#0", source=Source.FILE,
                       declared_by="release-signer")
             for name, until in (("ok", "2027-01-01"), ("long", "2028-06-01"))]
    spki = KEY.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    index = KeyIndex(generations=[GenerationKey(
        key=signer, generation=2, declared=signer.generations[0], ref="arn:g2",
        state="Enabled", current=True, protection="AWS_KMS", spki_sha256=spki_sha256(spki))])
    collected = Collected(unread=[Unread(declared_by="release-signer",
                                         resource="acm:us-east-1:tags[app=web]",
                                         reason="KP914 ListCertificates denied")]
                          if unread else [])
    report: Report = judge(env, certs, collected, index, at=AT, started_at=AT)
    return report


def base(**over: Any) -> Report:
    data: dict[str, Any] = dict(command="post-apply", environment="pki", started_at=AT,
                                sections=["rotation", "drift", "access-review"])
    data.update(over)
    return Report(**data)


def test_fold_adds_the_findings_unknowns_and_timeline_as_the_certs_section(
        tmp_path: Path) -> None:
    env = _env(tmp_path, PKI, "pki")
    assert declares_certificates(env)
    assert not declares_certificates(_env(tmp_path, WEB, "web"))
    certs = judged(env, unread=True)
    before = copy.deepcopy(certs.timeline)
    report = base(checked=["arn:g2"])
    fold(report, certs, env)
    assert report.sections[-1] == "certs" and report.at == AT.date()
    assert [(f.rule_id, f.resource, f.severity) for f in report.findings] == [
        ("certs.outlives_key", "certs/release/long.pem#0", Severity.HIGH)]
    (unknown,) = report.unknowns
    assert (unknown.rule_id, unknown.area, unknown.key) == ("read.certificates", "certs",
                                                            "release-signer")
    assert report.outcome is RunOutcome.INCOMPLETE
    assert {"certs/release/ok.pem#0", "certs/release/long.pem#0", "arn:g2"} <= \
        set(report.checked)
    (row,) = report.timeline
    assert row["max_key_age_in_days"] == 365
    assert [c["serial"] for c in row["generations"][0]["certificates"]] == [
        c["serial"] for c in certs.certificates]
    assert certs.timeline == before  # the judged report's own timeline is left as it was
    doc = json.loads(json.dumps(report.to_dict()))
    validate(doc, "post-apply")
    assert doc["schema_version"] == "1.1"
    # the text and Markdown of post-apply show the timeline after the findings
    long_serial = next(c["serial"] for c in certs.certificates if c["id"].endswith("long.pem#0"))
    text = render(report, "text")
    assert ("  release-signer (production, aws, owner release-engineering@example.com, "
            "max age 365 d)\n    g2 current     created 2026-05-01, usable until 2027-05-01\n"
            ) in text
    assert (f"       2026-06-01 .. 2028-06-01  CN=long serial {long_serial}  "
            "[file certs/release/long.pem#0]  FAILS certs.outlives_key\n") in text
    assert "    g1 verify-only created 2025-09-01, usable until 2026-06-01\n" \
        "       no certificates\n" in text
    md = render(report, "markdown")
    assert ("| `release-signer` | release-engineering@example.com | g2 | current | 2027-05-01 "
            f"| `certs/release/long.pem#0` | {long_serial} | 2026-06-01 .. 2028-06-01 | "
            "certs.outlives_key |") in md


def test_a_resumed_run_judges_certificates_again_instead_of_carrying_them(
        tmp_path: Path) -> None:
    env = _env(tmp_path, PKI, "pki")
    carried = Finding(rule_id="certs.outlives_key", status=Status.FAIL, severity=Severity.HIGH,
                      resource="certs/release/gone.pem#0", reason="from the run resumed",
                      area="certs")
    drift = Finding(rule_id="drift.key_disabled", status=Status.FAIL, severity=Severity.HIGH,
                    resource="arn:g2", reason="disabled", area="drift")
    report = base(findings=[carried, drift])
    fold(report, judged(env), env)
    assert sorted(f.resource for f in report.findings) == ["arn:g2", "certs/release/long.pem#0"]


def test_known_drift_covers_certs_findings_and_is_unmatched_only_if_nothing_matched(
        tmp_path: Path) -> None:
    env = _env(tmp_path, PKI, "pki")
    acks = [Ack(resource="release-signer", reason="old", owner="o",
                expires=dt.date(2026, 1, 1)),
            Ack(resource="certs/release/long.pem#0", reason="re-issued next week",
                owner="pki", expires=dt.date(2026, 12, 31), check="certs.outlives_key"),
            Ack(resource="arn:elsewhere", reason="r", owner="o", expires=dt.date(2026, 12, 31))]
    # what the run's own pass over its findings left unmatched: all three
    report = base(unmatched_acks=[a.to_dict() for a in acks])
    fold(report, judged(env), env, acks=acks)
    (finding,) = report.findings
    assert finding.acknowledged == acks[1].to_dict()
    assert report.outcome is RunOutcome.CLEAN
    assert [a["resource"] for a in report.unmatched_acks] == ["arn:elsewhere"]
    assert "known-drift entry for release-signer expired on 2026-01-01 and no longer applies" \
        in report.notes


def test_a_run_that_stopped_leaves_every_declaring_key_unknown(tmp_path: Path) -> None:
    env = _env(tmp_path, PKI, "pki")
    report = base(stopped="aws credentials expired (ExpiredToken)")
    not_judged(report, env, f"the run stopped ({report.stopped})")
    (unknown,) = report.unknowns
    assert (unknown.rule_id, unknown.resource, unknown.key, unknown.owner, unknown.area) == (
        "read.certificates", "release-signer:certificates", "release-signer",
        "release-engineering@example.com", "certs")
    assert unknown.reason == ("certificates not judged: the run stopped (aws credentials "
                              "expired (ExpiredToken))")
    assert report.outcome is RunOutcome.INCOMPLETE
    doc = json.loads(json.dumps(report.to_dict()))
    validate(doc, "post-apply")
    assert (doc["schema_version"], doc["timeline"], doc["at"]) == ("1.1", [], "2026-11-20")


@pytest.mark.parametrize("sections", [["rotation"], ["certs"]])
def test_only_a_report_with_the_certs_section_says_schema_1_1(sections: list[str]) -> None:
    doc = base(sections=sections).to_dict()
    assert doc["schema_version"] == ("1.1" if "certs" in sections else "1")
    assert ("timeline" in doc) is ("certs" in sections)
