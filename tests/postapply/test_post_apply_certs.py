"""`keyplane post-apply` judges the certificates an environment declares, end to end against
the sandbox: AWS KMS is moto's server behind the sandbox front (over HTTP), Cloud KMS the
real google-cloud-kms client over gRPC into the sandbox's fake; the certificates are real
X.509 certificates made with `cryptography` for the public keys those KMSs hold.

The estate is the certificate tests' (`tests.certs.support`: `lab` non-production on both
clouds, `shop` production), synthesized with the real `keyplane synth` and applied once per
module; each test edits its own copy of the inventory (owners and `certificates` only, which
the stacks do not carry, so the deployed state stays as the stacks declare it). The
certificates' dates are set relative to today, because post-apply judges at its run's time.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.server import Sandbox
from keyplane.schema import validate
from tests.certs.certs_support import (
    LAB_REGION,
    LocalCa,
    edit_env,
    gcp_public_key,
    key_of,
    kms_public_key,
    pem,
)
from tests.certs.support import Applied, applied_estate
from tests.sandbox.helpers import run_cli, start_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.synth]

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def estate(sb: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    return applied_estate(sb, tmp_path_factory.mktemp("estate"))


@pytest.fixture(autouse=True)
def _recorded(sb: Sandbox) -> Iterator[None]:
    """Every AWS call each test makes is recorded; no fault rule outlives its test."""
    sb.front.calls.clear()
    sb.front.record_calls = True
    yield
    sb.front.rules = []


def post_apply(capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, envs: Path,
               *args: str, fmt: str = "json", command: str = "post-apply"
               ) -> tuple[int, str, str]:
    """`keyplane post-apply ... --format FMT` (or another post-apply command) in-process over
    the estate's synthesized stacks: (exit, the report written, stderr)."""
    out = envs.parent / f"{command}.{fmt}"
    out.unlink(missing_ok=True)
    code, _, err = run_cli(capsys, command, *args, "-d", str(envs), "--synth-dir",
                           str(estate.envs.parent / "cdktf.out"), "--endpoint-url", sb.aws.url,
                           "--gcp-endpoint", sb.gcp.target, "--max-attempts", "1",
                           "--audit-log", str(envs.parent / "audit.jsonl"), "--format", fmt,
                           "--output", str(out))
    return code, out.read_text(encoding="utf-8") if out.exists() else "", err


def json_report(capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, envs: Path,
                *args: str, command: str = "post-apply") -> tuple[int, dict[str, Any], str]:
    """post-apply's JSON report, checked against the post-apply JSON Schema."""
    code, text, err = post_apply(capsys, sb, estate, envs, *args, command=command)
    assert text, err
    doc: dict[str, Any] = json.loads(text)
    validate(doc, "post-apply")
    return code, doc, err


def write(envs: Path, rel: str, cert: x509.Certificate) -> str:
    """A certificate file under the repository; its id as keyplane names it."""
    path = envs.parent / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem(cert))
    return rel


def days(n: int) -> dt.datetime:
    return NOW + dt.timedelta(days=n)


def kms_ops(sb: Sandbox) -> set[tuple[str, str]]:
    return {(c[0], c[1]) for c in sb.front.calls}


class Lab:
    """lab with certificates on rotated-signer (its current generation g3 is 2026-05-01 +
    730 days): one within the generation's life, one outliving it, one whose key no
    generation is (a P-384 key, so it cannot be the P-256 g1 whose public key KMS refuses)."""

    def __init__(self, sb: Sandbox, estate: Applied, tmp: Path) -> None:
        g3 = kms_public_key(sb, estate.lab_account, LAB_REGION, "rotated-signer", 3)

        def edit(data: dict[str, Any]) -> None:
            key = key_of(data, "rotated-signer")
            key["owner"] = "pki-team@example.com"
            key["certificates"] = {"files": ["../certs/rotated/"]}
        self.envs = edit_env(estate, tmp, "lab", edit)
        ca = LocalCa()
        self.certs = {
            "ok": ca.issue(g3, "ok.lab.example", days(-20), days(100)),
            "outlives": ca.issue(g3, "outlives.lab.example", days(-10), days(2000)),
            "laptop": ca.issue(ec.generate_private_key(ec.SECP384R1()).public_key(),
                               "laptop.lab.example", days(-5), days(200)),
        }
        self.ids = {n: write(self.envs, f"certs/rotated/{n}.pem", c)
                    for n, c in self.certs.items()}

    def serial(self, name: str) -> str:
        return format(self.certs[name].serial_number, "x")


def test_a_run_without_certificates_declared_has_no_certs_section_and_reads_none(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    envs = edit_env(estate, tmp_path, "lab", lambda data: None)
    code, doc, err = json_report(capsys, sb, estate, envs, "lab")
    assert code == 0, (err, doc["findings"], doc["unknowns"])
    assert doc["schema_version"] == "1"
    assert doc["sections"] == ["rotation", "drift", "access-review"]
    assert not {"at", "certificates", "timeline"} & set(doc)
    assert "certificate file" not in err
    ops = kms_ops(sb)
    assert ("kms", "GetPublicKey") not in ops and not {o for o in ops if o[0].startswith("acm")}


def test_post_apply_judges_declared_certificates_in_every_output(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    lab = Lab(sb, estate, tmp_path)
    code, doc, err = json_report(capsys, sb, estate, lab.envs, "lab")
    assert code == 1, (err, doc["unknowns"])
    assert "reading aws and gcp; 3 certificate file(s)" in err
    assert (doc["schema_version"], doc["sections"], doc["at"]) == (
        "1.1", ["rotation", "drift", "access-review", "certs"], NOW.date().isoformat())
    assert doc["unknowns"] == []
    by_rule = {(f["rule_id"], f["resource"]): f for f in doc["findings"]}
    assert set(by_rule) == {("certs.outlives_key", lab.ids["outlives"]),
                            ("certs.key_not_in_inventory", lab.ids["laptop"])}
    outlives = by_rule[("certs.outlives_key", lab.ids["outlives"])]
    laptop = by_rule[("certs.key_not_in_inventory", lab.ids["laptop"])]
    # non-production severities of the CERTS pack; the key, its owner, the control
    assert (outlives["severity"], outlives["key"], outlives["owner"], outlives["control"],
            outlives["area"], outlives["expected"]) == (
        "medium", "rotated-signer@g3", "pki-team@example.com", "rotation", "certs",
        "2028-04-30")
    assert (laptop["severity"], laptop["key"], laptop["control"]) == (
        "high", "rotated-signer", "protection")
    assert set(lab.ids.values()) <= set(doc["checked"])
    # the timeline: each generation with its certificates (oldest first) and their serials
    (row,) = doc["timeline"]
    assert (row["key"], row["owner"], row["max_key_age_in_days"]) == (
        "rotated-signer", "pki-team@example.com", 730)
    gens = {g["generation"]: g for g in row["generations"]}
    assert [(c["id"], c["serial"], c["failed"]) for c in gens[3]["certificates"]] == [
        (lab.ids["ok"], lab.serial("ok"), []),
        (lab.ids["outlives"], lab.serial("outlives"), ["certs.outlives_key"])]
    assert (gens[3]["state"], gens[3]["use_ends"], gens[2]["state"]) == (
        "current", "2028-04-30", "verify-only")
    assert [(c["id"], c["serial"]) for c in row["unmatched"]] == [
        (lab.ids["laptop"], lab.serial("laptop"))]
    # the public keys were read over the run's own clients
    assert ("kms", "GetPublicKey") in kms_ops(sb)

    # a single-job command reads only its own job: no certs section, no certificate read
    sb.front.calls.clear()
    code, drift, err = json_report(capsys, sb, estate, lab.envs, "lab", command="drift")
    assert code == 0, err
    assert (drift["sections"], drift["schema_version"]) == (["drift"], "1")
    assert "timeline" not in drift and ("kms", "GetPublicKey") not in kms_ops(sb)

    code, sarif, err = post_apply(capsys, sb, estate, lab.envs, "lab", fmt="sarif")
    assert code == 1, err
    run = json.loads(sarif)["runs"][0]
    assert sorted((r["ruleId"], r["level"], r["properties"]["severity"]) for r in run["results"]
                  ) == [("certs.key_not_in_inventory", "error", "high"),
                        ("certs.outlives_key", "error", "medium")]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["certs.outlives_key"]["helpUri"].endswith("docs/certificates.md#findings")
    assert rules["certs.key_not_in_inventory"]["properties"]["security-severity"] == "5.5"

    code, junit, err = post_apply(capsys, sb, estate, lab.envs, "lab", fmt="junit")
    assert code == 1, err
    suite = next(s for s in ET.fromstring(junit) if s.get("name") == "keyplane.post-apply.certs")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "2", "0")
    assert {c.get("classname") for c in suite} == {"keyplane.certs.outlives_key",
                                                   "keyplane.certs.key_not_in_inventory"}

    code, md, err = post_apply(capsys, sb, estate, lab.envs, "lab", fmt="markdown")
    assert code == 1, err
    assert "| medium | `certs.outlives_key` | `rotated-signer@g3` | " in md
    assert (f"| `rotated-signer` | pki-team@example.com | g3 | current | 2028-04-30 | "
            f"`{lab.ids['outlives']}` | {lab.serial('outlives')} | "
            f"{days(-10).date()} .. {days(2000).date()} | certs.outlives_key |") in md

    # known drift covers a certificate finding like any other; an entry for nothing is listed
    drift = tmp_path / "known-drift.yaml"
    drift.write_text(yaml.safe_dump([
        {"resource": lab.ids["outlives"], "check": "certs.outlives_key",
         "reason": "re-issued with the next release", "owner": "pki-team@example.com",
         "expires": (NOW + dt.timedelta(days=30)).date().isoformat()},
        {"resource": lab.ids["laptop"], "reason": "revocation filed",
         "owner": "pki-team@example.com",
         "expires": (NOW + dt.timedelta(days=30)).date().isoformat()},
        {"resource": "certs/rotated/none.pem", "reason": "x", "owner": "y",
         "expires": (NOW + dt.timedelta(days=30)).date().isoformat()}]), encoding="utf-8")
    code, doc, err = json_report(capsys, sb, estate, lab.envs, "lab", "--known-drift",
                                 str(drift))
    assert code == 0, (err, doc["findings"])
    assert {f["acknowledged"]["reason"] for f in doc["findings"]} == {
        "re-issued with the next release", "revocation filed"}
    assert [a["resource"] for a in doc["unmatched_known_drift"]] == ["certs/rotated/none.pem"]


def test_an_unread_certificate_source_makes_post_apply_incomplete(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    tag = {"app": f"web-{tmp_path.name[-12:]}"}

    def edit(data: dict[str, Any]) -> None:
        key = key_of(data, "ecc-p384")
        key["owner"] = "web-team@example.com"
        key["certificates"] = {"acm": {"tags": tag}}
    envs = edit_env(estate, tmp_path, "lab", edit)
    sb.front.rules = [FaultRule(error="AccessDeniedException", service="acm",
                                operation="ListCertificates", status=400)]
    code, doc, err = json_report(capsys, sb, estate, envs, "lab")
    assert code == 3, err
    assert doc["outcome"] == "incomplete" and doc["findings"] == []
    (unknown,) = doc["unknowns"]
    assert (unknown["rule_id"], unknown["resource"], unknown["key"], unknown["owner"],
            unknown["area"], unknown["outcome"]) == (
        "read.certificates", f"acm:{LAB_REGION}:tags[app={tag['app']}]", "ecc-p384",
        "web-team@example.com", "certs", "UNKNOWN")
    assert unknown["reason"].startswith("KP914 ListCertificates denied (AccessDeniedException)")
    assert doc["timeline"][0]["key"] == "ecc-p384"
    # the JUnit report shows it as an error, never a pass
    code, junit, err = post_apply(capsys, sb, estate, envs, "lab", fmt="junit")
    assert code == 3, err
    suite = next(s for s in ET.fromstring(junit) if s.get("name") == "keyplane.post-apply.certs")
    assert (suite.get("errors"), suite.get("failures")) == ("1", "0")


def test_a_certificate_file_that_cannot_be_used_stops_post_apply_before_any_cloud_call(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    def edit(data: dict[str, Any]) -> None:
        key_of(data, "ecc-p256")["certificates"] = {"files": ["../certs/missing.pem"]}
    envs = edit_env(estate, tmp_path, "lab", edit)
    sb.front.calls.clear()
    code, text, err = post_apply(capsys, sb, estate, envs, "lab", fmt="text")
    assert code == 2 and text == ""
    assert err.startswith(f"keyplane: error KP911: {envs / 'lab.yaml'}: "
                          "keys[ecc-p256].certificates.files[0]: '../certs/missing.pem' does "
                          "not exist"), err
    assert "Traceback" not in err
    assert sb.front.calls == []  # not even the caller's identity was asked


def test_post_apply_all_and_the_report_draw_the_timeline_on_the_environments_page(
        capsys: pytest.CaptureFixture[str], sb: Sandbox, estate: Applied, tmp_path: Path
        ) -> None:
    """Both of lab's stacks declare certificates (an AWS and a Cloud KMS key), so the
    report merges two unit reports' timelines; shop declares none."""
    lab = Lab(sb, estate, tmp_path)
    gcp_ec = gcp_public_key(sb, estate.project, "gcp-ec-p256")
    path = lab.envs / "lab.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    key_of(data, "gcp-ec-p256")["certificates"] = {"files": ["../certs/gcp/mesh.der"]}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    mesh = LocalCa().issue(gcp_ec, "mesh.lab.example", days(-3), days(60))
    mesh_id = "certs/gcp/mesh.der"
    (lab.envs.parent / "certs" / "gcp").mkdir(parents=True)
    (lab.envs.parent / mesh_id).write_bytes(mesh.public_bytes(serialization.Encoding.DER))

    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "post-apply", "--all", "-d", str(lab.envs), "--synth-dir",
                           str(estate.envs.parent / "cdktf.out"), "--endpoint-url", sb.aws.url,
                           "--gcp-endpoint", sb.gcp.target, "--max-attempts", "1",
                           "--audit-log", str(tmp_path / "audit.jsonl"), "--output-dir",
                           str(out), "--quiet")
    assert code == 1, err
    units = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json")
             if p.name != "estate.json"}
    for doc in units.values():
        validate(doc, "post-apply")
    lab_units = {n: d for n, d in units.items() if d["environment"] == "lab"}
    assert len(lab_units) == 2
    assert all("certs" in d["sections"] for d in lab_units.values())
    assert sorted(r["key"] for d in lab_units.values() for r in d["timeline"]) == [
        "gcp-ec-p256", "rotated-signer"]
    assert all("certs" not in d["sections"] for n, d in units.items() if n not in lab_units)

    site = tmp_path / "site" / "report.html"
    site.parent.mkdir()
    (tmp_path / "evidence").mkdir()
    code, _, err = run_cli(capsys, "report", "-d", str(lab.envs), "--post-apply-dir", str(out),
                           "--evidence-dir", str(tmp_path / "evidence"), "--as-of",
                           NOW.date().isoformat(), "--output", str(site), "--page-size", "1")
    assert code == 0, err
    pages = {p.name: p.read_text(encoding="utf-8") for p in site.parent.glob("*.html")}
    (name,) = [n for n, text in pages.items() if 'id="env-lab"' in text]
    text = pages[name]
    assert all('data-cert="' not in t for n, t in pages.items() if n != name)
    assert 'data-key="rotated-signer"' in text and 'data-key="gcp-ec-p256"' in text
    assert f'data-cert="{lab.ids["outlives"]}" data-generation="g3" data-flagged="yes"' in text
    assert f'data-cert="{lab.ids["ok"]}" data-generation="g3" data-flagged="no"' in text
    assert f'data-cert="{mesh_id}" data-generation="g1" data-flagged="no"' in text
    assert lab.serial("outlives") in text and format(mesh.serial_number, "x") in text
