"""`keyplane report` draws the certificate-to-generation timeline post-apply writes.

The post-apply JSON is written by keyplane's own code: real X.509 certificates (made with
`cryptography`) judged by the certificate rules (`keyplane.certs.report.judge`) against a
generation index of known public keys, folded into a post-apply Report as its certs
section (`keyplane.postapply.certs.fold`) and written by `Report.to_dict`, checked against
the post-apply JSON Schema. Reading the keys from a cloud is what
tests/postapply/test_post_apply_certs.py does against the sandbox; here the report's side
is tested: the timeline per key (generations, dates, maximum age, certificates with serial
and validity, flagged ones with their findings) in HTML and Markdown, on its environment's
page, counted in the controls and the estate overview, and a timeline it cannot draw
refused with the file and the field.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keyplane.audit.report import ReportOptions, build_report, render
from keyplane.audit.report.controls import Mark
from keyplane.audit.report.errors import ReportInputError
from keyplane.audit.report.overview import estate_overview
from keyplane.certs.found import Source, from_x509, spki_sha256
from keyplane.certs.keys import GenerationKey, KeyIndex
from keyplane.certs.report import judge
from keyplane.certs.sources import Collected
from keyplane.findings import Control
from keyplane.model.loader import load_estate
from keyplane.postapply.certs import fold
from keyplane.postapply.report import Report
from keyplane.postapply.report import render as render_report
from keyplane.schema import validate
from tests.audit.test_report import run_cli
from tests.certs.certs_support import LocalCa, utc

AT = utc("2026-11-20")
AS_OF = dt.date(2026, 11, 28)

PKI = """\
name: pki
kind: production
aws:
  account_id: "210000000001"
  region: us-east-1
  replica_regions: [us-west-2]
evidence_location: ./evidence/pki
principals:
  key_admins:
    aws: [arn:aws:iam::210000000001:role/admins]
  backup_operators:
    aws: [arn:aws:iam::210000000001:role/backup]
  auditors:
    aws: [arn:aws:iam::210000000001:role/audit]
  break_glass:
    aws: [arn:aws:iam::210000000001:role/break-glass]
workloads:
  - name: release
    aws:
      role_arn: arn:aws:iam::210000000001:role/release
keys:
  - name: release-signer
    tier: production
    cloud: aws
    usage: sign
    spec: ECC_NIST_P384
    users: [release]
    owner: release-engineering@example.com
    max_key_age_in_days: 365
    generation: 2
    generations:
      - {generation: 2, created_on: 2026-05-01}
      - {generation: 1, created_on: 2025-09-01, verify_until: 2026-06-01}
    certificates:
      files: [../certs/release/]
  - name: archive-signer
    tier: production
    cloud: aws
    usage: sign
    spec: ECC_NIST_P384
    users: [release]
    owner: records@example.com
    generation: 1
    generations:
      - {generation: 1, created_on: 2026-02-01}
"""

WEB = PKI.replace("name: pki", "name: web").replace("210000000001", "210000000002") \
    .replace("./evidence/pki", "./evidence/web").split("    certificates:")[0]

KEYS = {n: ec.generate_private_key(ec.SECP384R1()) for n in (1, 2)}


def _spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def estate(tmp: Path) -> tuple[Path, list[Any]]:
    """The two environments in a repository of their own."""
    envs = tmp / "repo" / "environments"
    envs.mkdir(parents=True)
    (tmp / "repo" / ".git").mkdir()
    (envs / "pki.yaml").write_text(PKI, encoding="utf-8")
    (envs / "web.yaml").write_text(WEB, encoding="utf-8")
    loaded = load_estate([envs / "pki.yaml", envs / "web.yaml"])
    return envs, [loaded.get("pki"), loaded.get("web")]


def post_apply_json(env: Any, out: Path) -> dict[str, Any]:
    """pki's post-apply report with its certs section: g2 backs a good certificate and one
    valid beyond its maximum age; g1 (verify-only since 2026-06-01) still backs one; one
    certificate binds a key no generation is. Written as post-apply writes it."""
    ca = LocalCa()
    signer = env.key("release-signer")
    certs = {
        "good": (KEYS[2], "2026-06-01", "2027-02-01"),
        "outlives": (KEYS[2], "2026-06-01", "2028-01-01"),
        "retired": (KEYS[1], "2025-10-01", "2027-01-01"),
        "laptop": (ec.generate_private_key(ec.SECP384R1()), "2026-06-01", "2027-01-01"),
    }
    found, serials = [], {}
    for name, (key, not_before, not_after) in certs.items():
        x = ca.issue(key.public_key(), f"{name}.example", utc(not_before), utc(not_after))
        found.append(from_x509(x, id=f"certs/release/{name}.pem#0", source=Source.FILE,
                               declared_by="release-signer"))
        serials[name] = format(x.serial_number, "x")
    index = KeyIndex(generations=[
        GenerationKey(key=signer, generation=n, declared=next(
            g for g in signer.generations if g.generation == n), ref=f"arn:aws:kms:us-east-1:"
            f"210000000001:key/g{n}", state="Enabled", current=n == 2, protection="AWS_KMS",
            spki_sha256=spki_sha256(_spki(KEYS[n]))) for n in (1, 2)])
    judged = judge(env, found, Collected(), index, at=AT, started_at=AT)
    report = Report(command="post-apply", environment="pki", started_at=AT,
                    sections=["rotation", "drift", "access-review"])
    fold(report, judged, env)
    out.write_text(render_report(report, "json"), encoding="utf-8")
    doc: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    validate(doc, "post-apply")
    doc["_serials"] = serials
    return doc


@pytest.fixture()
def inputs(tmp_path: Path) -> tuple[Path, list[Any], Path, dict[str, Any]]:
    envs, environments = estate(tmp_path)
    path = tmp_path / "post-apply-pki.json"
    doc = post_apply_json(environments[0], path)
    (tmp_path / "evidence").mkdir()
    return envs, environments, path, doc


def test_the_post_apply_json_carries_the_timeline_of_schema_1_1(
        inputs: tuple[Path, list[Any], Path, dict[str, Any]]) -> None:
    _, _, _, doc = inputs
    assert (doc["schema_version"], doc["sections"][-1], doc["at"]) == ("1.1", "certs",
                                                                        "2026-11-20")
    assert {(f["rule_id"], f["resource"], f["severity"]) for f in doc["findings"]} == {
        ("certs.outlives_key", "certs/release/outlives.pem#0", "high"),
        ("certs.retired_generation", "certs/release/retired.pem#0", "high"),
        ("certs.outlives_key", "certs/release/retired.pem#0", "high"),
        ("certs.key_not_in_inventory", "certs/release/laptop.pem#0", "critical")}
    (row,) = doc["timeline"]
    assert (row["key"], row["max_key_age_in_days"], row["owner"]) == (
        "release-signer", 365, "release-engineering@example.com")
    g2, g1 = row["generations"]
    assert (g2["generation"], g2["use_ends"], g1["generation"], g1["verify_until"]) == (
        2, "2027-05-01", 1, "2026-06-01")
    assert [(c["id"], c["serial"]) for c in g2["certificates"]] == [
        ("certs/release/good.pem#0", doc["_serials"]["good"]),
        ("certs/release/outlives.pem#0", doc["_serials"]["outlives"])]
    # a document that says certs but lacks its data, or says schema 1, is refused
    from jsonschema import ValidationError

    for bad in ({k: v for k, v in doc.items() if k != "timeline"},
                {**doc, "schema_version": "1"}):
        with pytest.raises(ValidationError):
            validate(bad, "post-apply")


def test_html_and_markdown_show_each_generation_and_flag_certificates_with_findings(
        inputs: tuple[Path, list[Any], Path, dict[str, Any]], tmp_path: Path) -> None:
    _, environments, path, doc = inputs
    data = build_report(environments, ReportOptions(
        as_of=AS_OF, post_apply_files=[path], evidence_dirs=[tmp_path / "evidence"]))
    pki = next(v for v in data.environments if v.name == "pki")
    (view,) = pki.certs
    assert view.max_key_age_in_days == 365
    assert [g.label for g in view.generations] == ["g2", "g1"]
    flagged = {c.cert.id: sorted(f.rule_id for f in c.findings) for c in view.certificates
               if c.flagged}
    assert flagged == {"certs/release/outlives.pem#0": ["certs.outlives_key"],
                       "certs/release/retired.pem#0": ["certs.outlives_key",
                                                       "certs.retired_generation"],
                       "certs/release/laptop.pem#0": ["certs.key_not_in_inventory"]}

    page = render(data, "html")
    section = re.search(r'<section class="env" id="env-pki".*?</section>', page, re.S)
    assert section is not None
    body = section.group(0)
    assert "<h3>Certificates by key generation</h3>" in body
    heading = re.search(r'<h4 id="certs-pki-release-signer" data-key="release-signer">(.*?)</h4>',
                        body, re.S)
    assert heading is not None
    assert "max age 365 d" in heading.group(1) and "4 certificate(s), 3 flagged" in heading.group(1)
    rows = {html.unescape(m.group(1)): m.group(0) for m in re.finditer(
        r'<tr class="cert [a-z]+" data-cert="([^"]+)".*?</tr>', body, re.S)}
    good = rows["certs/release/good.pem#0"]
    assert 'data-generation="g2" data-flagged="no"' in good
    assert doc["_serials"]["good"] in good and "2026-06-01" in good and "2027-02-01" in good
    assert "2027-05-01" in good  # g2 usable until created_on + 365 days
    retired = rows["certs/release/retired.pem#0"]
    assert 'data-generation="g1" data-flagged="yes"' in retired
    assert "2026-06-01" in retired  # g1 verify-only until
    assert '<span class="sev high">high</span> <span class="mono">certs.retired_generation' \
        in retired
    laptop = rows["certs/release/laptop.pem#0"]
    assert 'data-generation="none" data-flagged="yes"' in laptop
    assert "no generation of the inventory" in laptop and "critical" in laptop
    # web declares no certificate and has no post-apply report: no timeline in its section
    web = re.search(r'<section class="env" id="env-web".*?</section>', page, re.S)
    assert web is not None and "Certificates by key generation" not in web.group(0)

    md = render(data, "markdown")
    part = md.split("### Certificates by key generation", 1)[1].split("###", 1)[0]
    good_row = next(line for line in part.splitlines() if "good.pem#0" in line)
    assert good_row.startswith("| **release-signer** (production, owner "
                               "release-engineering@example.com) | g2 | current | 2026-05-01 | "
                               "- | 2027-05-01 | 365 d | CN=good.example | "
                               f"{doc['_serials']['good']} | 2026-06-01 .. 2027-02-01 | file "
                               "certs/release/good.pem#0 | none |")
    outlives_row = next(line for line in part.splitlines() if "outlives.pem#0" in line)
    assert outlives_row.endswith("| **FLAGGED** high certs.outlives_key |")
    assert "| no generation |" in next(line for line in part.splitlines()
                                       if "laptop.pem#0" in line)


def test_certs_findings_count_in_the_controls_and_the_estate_overview(
        inputs: tuple[Path, list[Any], Path, dict[str, Any]], tmp_path: Path) -> None:
    _, environments, path, _ = inputs
    data = build_report(environments, ReportOptions(
        as_of=AS_OF, post_apply_files=[path], evidence_dirs=[tmp_path / "evidence"]))
    pki = next(v for v in data.environments if v.name == "pki")
    signer = next(k for k in pki.keys if k.name == "release-signer")
    assert signer.controls[Control.ROTATION].mark is Mark.NOT_MET
    # post-apply's evidence is the certs findings (the inventory adds g1's ended window)
    assert {e.ref for e in signer.controls[Control.ROTATION].failing
            if e.source == "post-apply"} == {"certs.outlives_key", "certs.retired_generation"}
    assert {(e.source, e.ref) for e in signer.controls[Control.PROTECTION].failing} == {
        ("post-apply", "certs.key_not_in_inventory")}
    # the key without certificates is not touched by them
    archive = next(k for k in pki.keys if k.name == "archive-signer")
    assert not archive.controls[Control.ROTATION].failing
    overview = estate_overview(data)
    standing = overview.standing("pki")
    assert (standing.critical, standing.high) == (1, 3)
    assert overview.order[0] == "pki"
    tally = next(t for t in overview.tallies if t.control is Control.PROTECTION
                 and t.tier.value == "production")
    assert (tally.not_met, tally.not_met_in) == (1, ("pki",))

    # the same run without its certs section: nothing of the above
    doc = json.loads(path.read_text(encoding="utf-8"))
    plain = {**doc, "schema_version": "1", "sections": doc["sections"][:-1], "findings": []}
    for name in ("at", "certificates", "timeline"):
        plain.pop(name)
    validate(plain, "post-apply")
    path.write_text(json.dumps(plain), encoding="utf-8")
    data = build_report(environments, ReportOptions(
        as_of=AS_OF, post_apply_files=[path], evidence_dirs=[tmp_path / "evidence"]))
    overview = estate_overview(data)
    standing = overview.standing("pki")
    assert (standing.critical, standing.high) == (0, 0)
    assert next(t for t in overview.tallies if t.control is Control.PROTECTION
                and t.tier.value == "production").not_met == 0
    assert next(v for v in data.environments if v.name == "pki").certs == []


def test_an_unread_certificate_source_leaves_protection_and_rotation_unknown(
        inputs: tuple[Path, list[Any], Path, dict[str, Any]], tmp_path: Path) -> None:
    _, environments, path, doc = inputs
    doc.pop("_serials")
    doc["findings"] = []
    doc["unknowns"] = [{
        "rule_id": "read.certificates", "control": None, "cloud": "aws", "environment": "pki",
        "tier": "production", "resource": "acm:us-east-1:tags[app=web]", "severity": "info",
        "outcome": "UNKNOWN", "reason": "KP914 ListCertificates denied (AccessDeniedException)",
        "key": "archive-signer", "owner": "records@example.com", "area": "certs",
        "check": "read.certificates", "message": "denied"}]
    doc["outcome"], doc["exit_code"] = "incomplete", 3
    validate(doc, "post-apply")
    path.write_text(json.dumps(doc), encoding="utf-8")
    data = build_report(environments, ReportOptions(
        as_of=AS_OF, post_apply_files=[path], evidence_dirs=[tmp_path / "evidence"]))
    pki = next(v for v in data.environments if v.name == "pki")
    archive = next(k for k in pki.keys if k.name == "archive-signer")
    marks = {c: archive.controls[c].mark for c in (Control.PROTECTION, Control.ROTATION,
                                                   Control.ACCESS)}
    assert marks[Control.PROTECTION] is Mark.UNKNOWN and marks[Control.ROTATION] is Mark.UNKNOWN
    assert [e.ref for e in archive.controls[Control.ROTATION].evidence
            if e.mark is Mark.UNKNOWN] == ["read.certificates"]
    # access is not what a certificate source proves: no certs evidence there
    assert all(e.ref != "read.certificates" for e in archive.controls[Control.ACCESS].evidence)


def test_the_timeline_is_on_its_environments_page(
        inputs: tuple[Path, list[Any], Path, dict[str, Any]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, path, doc = inputs
    out = tmp_path / "site" / "report.html"
    out.parent.mkdir()
    code, _, err = run_cli(capsys, "-d", str(envs), "--as-of", AS_OF.isoformat(),
                           "--post-apply-json", str(path), "--evidence-dir",
                           str(tmp_path / "evidence"), "--output", str(out), "--page-size", "1")
    assert code == 0, err
    pages = sorted(out.parent.glob("*.html"))
    assert len(pages) == 2
    holding = [p.name for p in pages if 'data-cert="certs/release/good.pem#0"' in
               p.read_text(encoding="utf-8")]
    env_page = [p.name for p in pages if 'id="env-pki"' in p.read_text(encoding="utf-8")]
    assert holding == env_page and len(holding) == 1
    assert doc["_serials"]["laptop"] in (out.parent / holding[0]).read_text(encoding="utf-8")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: {**d, "timeline": {"key": "release-signer"}},
     "timeline is not a certs timeline list: expected a list, got dict"),
    (lambda d: {**d, "timeline": [{"generations": []}]},
     "timeline[0] is not a key of the certs timeline: expected an object with a 'key'"),
    (lambda d: {**d, "timeline": [{**d["timeline"][0], "generations": [
        {**d["timeline"][0]["generations"][0], "certificates": [{"id": "x", "not_before": "soon",
                                                                 "not_after": "later"}]}]}]},
     "timeline[0].generations[0].certificates[0].not_before is not a date-time"),
], ids=["not-a-list", "no-key", "bad-date"])
def test_a_timeline_that_cannot_be_drawn_is_refused_with_the_file_and_field(
        inputs: tuple[Path, list[Any], Path, dict[str, Any]], tmp_path: Path, change: Any,
        message: str, capsys: pytest.CaptureFixture[str]) -> None:
    envs, environments, path, doc = inputs
    doc.pop("_serials")
    path.write_text(json.dumps(change(doc)), encoding="utf-8")
    with pytest.raises(ReportInputError) as exc:
        build_report(environments, ReportOptions(as_of=AS_OF, post_apply_files=[path],
                                                 evidence_dirs=[tmp_path / "evidence"]))
    assert message in exc.value.message
    code, out, err = run_cli(capsys, "-d", str(envs), "--as-of", AS_OF.isoformat(),
                             "--post-apply-json", str(path), "--evidence-dir",
                             str(tmp_path / "evidence"))
    assert code == 2 and out == ""
    assert err == f"{path}: KP813 {message}\n"
    assert "Traceback" not in err
