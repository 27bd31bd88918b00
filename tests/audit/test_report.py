"""`keyplane report`: evidence folded into met / not met / unknown, HTML and Markdown, bad input."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from keyplane.audit.evidence import DrillResult, LocalEvidenceStore
from keyplane.audit.report import ReportOptions, build_report, render
from keyplane.audit.report.charts import rto_svg, timeline_svg
from keyplane.audit.report.controls import Control, Mark, place_of_address, place_of_path
from keyplane.audit.report.data import KeyView, ReportData
from keyplane.cli import main
from keyplane.model.loader import environment_files, load_estate
from tests.conftest import EXAMPLE_ENVIRONMENTS, REPO

FIX = Path(__file__).parent / "report_fixtures"
AS_OF = dt.date(2026, 11, 28)
FORBIDDEN = {"boto3", "botocore", "google", "cdktn", "cdktf", "constructs", "jsii", "moto",
             "cdktn_provider_aws", "cdktn_provider_google", "grpc"}
EXAMPLE_KEYS = {
    "dev": {"dev-tls-issuer", "ci-job-data", "per-deploy-data", "webhook-hmac"},
    "staging": {"staging-code-signing", "staging-mesh-issuer", "staging-escrow-wrap",
                "partner-test-signing"},
    "prod": {"pki-root-ca", "pki-issuing-ca", "code-signing", "document-signing",
             "release-artifacts", "release-attestation", "mesh-mtls-issuer",
             "inventory-records"},
}


def estate() -> list:
    files = environment_files(EXAMPLE_ENVIRONMENTS)
    return list(load_estate(files, isolation_scope=files).environments)


def full_options(**over: object) -> ReportOptions:
    opts: dict[str, object] = dict(
        as_of=AS_OF, check_files=[FIX / "check.json"],
        post_apply_files=[FIX / "post-apply-prod.json", FIX / "access-review-prod-old.json",
                          FIX / "drift-staging.json"],
        evidence_dirs=[FIX / "evidence"], waivers_file=FIX / "waivers.yaml",
        generated_at=dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC))
    opts.update(over)
    return ReportOptions(**opts)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def report() -> ReportData:
    return build_report(estate(), full_options())


def key(data: ReportData, env: str, name: str) -> KeyView:
    view = next(v for v in data.environments if v.name == env)
    return next(k for k in view.keys if k.name == name)


def marks(data: ReportData, env: str, name: str) -> dict[str, str]:
    return {c.value: r.mark.value for c, r in key(data, env, name).controls.items()}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(["report", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def cli_inputs() -> list[str]:
    return ["-d", str(EXAMPLE_ENVIRONMENTS), "--as-of", AS_OF.isoformat(),
            "--check-json", str(FIX / "check.json"),
            "--post-apply-json", str(FIX / "post-apply-prod.json"),
            "--post-apply-json", str(FIX / "access-review-prod-old.json"),
            "--post-apply-json", str(FIX / "drift-staging.json"),
            "--evidence-dir", str(FIX / "evidence"), "--waivers", str(FIX / "waivers.yaml")]


# ---- the control matrix ---------------------------------------------------------------------

def test_marks_follow_the_evidence_for_production_keys(report: ReportData) -> None:
    assert marks(report, "prod", "code-signing") == {
        "protection": "not met",  # drift.key_disabled on g4
        "access": "not met",  # check FAIL (waived, still not met)
        "audit": "not met",  # drift.trail_missing on the shared trail
        "backup": "met",  # sign-canary and replica drills passed within 30 days
        "rotation": "met",  # gate rules passed and the deployed key was read clean
    }
    assert marks(report, "prod", "document-signing")["backup"] == "not met"  # KEY_STATE drill
    assert marks(report, "prod", "document-signing")["protection"] == "not met"
    assert marks(report, "prod", "release-artifacts")["rotation"] == "not met"
    assert marks(report, "prod", "release-artifacts")["access"] == "not met"
    # GCP keys: the shared AWS trail's drift does not bear on them; no backup row for Cloud KMS
    assert marks(report, "prod", "release-attestation") == {
        "protection": "met", "access": "met", "audit": "met", "backup": "n/a",
        "rotation": "met"}
    assert marks(report, "prod", "mesh-mtls-issuer")["access"] == "unknown"  # iam not read


def test_evidence_names_its_source_and_waiver(report: ReportData) -> None:
    access = key(report, "prod", "code-signing").controls[Control.ACCESS]
    failing = [(e.source, e.ref, e.note) for e in access.failing]
    assert failing == [("check", "aws_kms_key_policy_no_wildcard_actions",
                        "waived by aws_kms_key_policy_no_wildcard_actions:"
                        "aws_kms_key.aws_keys_code-signing_g4_*")]
    audit = key(report, "prod", "pki-root-ca").controls[Control.AUDIT]
    assert [(e.ref, e.scope) for e in audit.failing] == [("drift.trail_missing", "environment")]
    proven = dict(key(report, "prod", "pki-root-ca").proven)
    assert set(proven) == {"check", "post-apply"}  # the check date is its file's mtime
    assert proven["post-apply"] == "2026-11-20"


def test_drills_prove_backup_only_within_cadence_and_deadline(report: ReportData) -> None:
    ra = key(report, "prod", "release-artifacts").controls[Control.BACKUP]
    assert sorted(e.message for e in ra.failing) == [
        "backup drill 2026-11-10 TIMED_OUT: restore job 7c1f... did not complete before the "
        "deadline; job id persisted for adoption",
        "replica drill 2026-09-01 passed but is 88 days old; the production tier drills every "
        "30 days"]
    root = key(report, "prod", "pki-root-ca").controls[Control.BACKUP]
    assert root.mark is Mark.MET  # the cloudhsm drill is 58 days old, the cadence 90
    assert [(e.ref, e.when) for e in root.evidence if e.source == "drill"] == [
        ("cloudhsm", "2026-10-01")]
    assert key(report, "prod", "pki-root-ca").last_drill is not None


def test_nothing_is_met_without_evidence() -> None:
    data = build_report(estate(), ReportOptions(as_of=AS_OF, evidence_dirs=[FIX / "none"]))
    seen = {r.mark for v in data.environments for k in v.keys for r in k.controls.values()}
    assert seen == {Mark.UNKNOWN, Mark.NOT_APPLICABLE}
    reasons = {r.reason for v in data.environments for k in v.keys
               for c, r in k.controls.items() if c is Control.PROTECTION}
    assert reasons == {"no evidence"}


def test_the_inventory_alone_can_show_rotation_not_met() -> None:
    late = dt.date(2028, 1, 1)
    data = build_report(estate(), ReportOptions(as_of=late, evidence_dirs=[FIX / "none"]))
    cs = key(data, "prod", "code-signing")
    assert (cs.rotation_state, cs.days_to_due) == ("overdue", -46)
    assert sorted(e.ref for e in cs.controls[Control.ROTATION].failing) == [
        "max_key_age", "verify_window"]
    assert key(data, "dev", "webhook-hmac").controls[Control.ROTATION].mark is Mark.NOT_MET


def test_shared_findings_reach_only_keys_on_that_cloud_and_tier(report: ReportData) -> None:
    # staging's log-group retention FAIL is an AWS audit finding
    assert marks(report, "staging", "staging-code-signing")["audit"] == "not met"
    assert marks(report, "staging", "staging-mesh-issuer")["audit"] == "met"
    assert marks(report, "staging", "partner-test-signing")["rotation"] == "unknown"
    assert marks(report, "dev", "per-deploy-data")["rotation"] == "not met"
    assert marks(report, "dev", "webhook-hmac")["backup"] == "n/a"  # ephemeral


def test_the_newest_report_per_section_wins(report: ReportData) -> None:
    prod = next(v for v in report.environments if v.name == "prod")
    assert "access.human_can_use" not in {f.check for f in prod.findings}
    assert prod.runs["access-review"].started_at == dt.datetime(2026, 11, 20, 6, 0, 12, 512000,
                                                                tzinfo=dt.UTC)
    assert marks(report, "prod", "document-signing")["access"] == "met"


def test_reader_tolerates_missing_and_unknown_fields(report: ReportData, tmp_path: Path) -> None:
    staging = next(v for v in report.environments if v.name == "staging")
    assert tuple(staging.runs) == ("drift",)  # no 'sections': taken from the command
    assert marks(report, "staging", "staging-escrow-wrap")["protection"] == "met"
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"findings": [
        {"rule_id": "aws_kms_key_rotation_enabled", "status": "fail",
         "construct_path": "dev/aws/keys/ci-job-data/key", "new_field": 1}]}))
    data = build_report(estate(), ReportOptions(as_of=AS_OF, check_files=[bare]))
    assert marks(data, "dev", "ci-job-data")["rotation"] == "not met"


def test_waivers_show_expiry_and_where_they_apply(report: ReportData) -> None:
    got = {(w.rule, w.status, w.days_left, w.environments, w.covers) for w in report.waivers}
    assert got == {
        ("aws_kms_key_policy_no_wildcard_actions", "active", 22, ("prod",), 1),
        ("aws_cloudwatch_log_group_retention", "expired", -28, ("staging",), 1),
        ("gcp_kms_protection_level", "active", 214, (), 0),
    }
    by_env = {v.name: [w.rule for w in v.waivers] for v in report.environments}
    assert by_env == {"dev": [], "prod": ["aws_kms_key_policy_no_wildcard_actions"],
                      "staging": ["aws_cloudwatch_log_group_retention"]}


def test_waiver_labels_without_a_waivers_file_show_unknown_expiry() -> None:
    data = build_report(estate(), full_options(waivers_file=None))
    assert [(w.rule, w.status, w.expires) for w in data.waivers] == [
        ("aws_kms_key_policy_no_wildcard_actions", "unknown", None)]


def test_remote_evidence_location_is_named_not_read() -> None:
    data = build_report(estate(), full_options(evidence_dirs=[]))
    prod = next(v for v in data.environments if v.name == "prod")
    assert prod.drills == []
    assert prod.drill_note is not None and "s3://acme-keyplane-evidence-prod/drills/" in \
        prod.drill_note
    assert marks(data, "prod", "code-signing")["backup"] == "unknown"


def test_records_written_by_the_evidence_store_are_read(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path / "prod")
    store.put(DrillResult(run_id="r1", environment="prod", kind="sign-canary",
                          key="document-signing", generation=2, tier="production",
                          started_at="2026-11-27T01:00:00Z", ended_at="2026-11-27T01:00:20Z",
                          outcome="PASSED", reason="verified", identity="ci", rto_seconds=20,
                          deadline_seconds=300))
    store.put(DrillResult(run_id="r2", environment="prod", kind="replica", key="code-signing",
                          generation=4, tier="production", started_at="2026-11-27T02:00:00Z",
                          ended_at="2026-11-27T02:06:40Z", outcome="PASSED", reason="slow",
                          identity="ci", rto_seconds=400, deadline_seconds=300))
    data = build_report(estate(), ReportOptions(as_of=AS_OF, evidence_dirs=[tmp_path]))
    ds = key(data, "prod", "document-signing")
    assert ds.controls[Control.BACKUP].mark is Mark.MET
    assert ds.last_drill is not None and ds.last_drill.run_id == "r1"
    slow = key(data, "prod", "code-signing").controls[Control.BACKUP]
    assert [e.message for e in slow.failing] == [
        "replica drill 2026-11-27 recovered in 7 min, above the 5 min deadline"]


# ---- attribution of check results ------------------------------------------------------------

def test_construct_paths_and_plan_addresses_are_placed_on_keys() -> None:
    envs = {e.name: e for e in estate()}
    prod = envs["prod"]
    assert place_of_path("prod/aws/keys/code-signing/g4/key", envs).key == "code-signing"
    assert place_of_path("prod/gcp/key-release-attestation-gen-1", envs).key == \
        "release-attestation"
    assert place_of_path("prod/aws/iam/user-release-pipeline-policy", envs).workload == \
        "release-pipeline"
    assert place_of_path("prod/aws/alarms/filter-sign-volume-code-signing", envs).key == \
        "code-signing"
    shared = place_of_path("prod/aws/backup/vault-lock", envs)
    assert (shared.key, shared.component) == (None, "backup")
    assert place_of_path("qa/aws/keys/x/key", envs) is None
    assert place_of_address("aws_kms_key.aws_keys_document-signing_g2_key_13EB015D",
                            prod).key == "document-signing"
    assert place_of_address("module.kp.google_kms_crypto_key.gcp_key-mesh-mtls-issuer_CBF924D9",
                            prod).key == "mesh-mtls-issuer"


# ---- output ---------------------------------------------------------------------------------

def test_cli_writes_one_self_contained_html_page(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    out = tmp_path / "site" / "report.html"
    code, stdout, err = run_cli(capsys, *cli_inputs(), "--out", str(out))
    assert (code, stdout) == (0, "")
    assert f"report: {out} (3 environment(s), 16 key(s))" in err
    page = out.read_text(encoding="utf-8")
    for env, names in EXAMPLE_KEYS.items():
        assert f'<section class="env" id="env-{env}" data-env="{env}">' in page
        for name in names:
            assert f'<tr class="key" data-key="{name}"' in page
    lowered = page.lower()
    for needle in ("<script", " src=", "href=\"http", "url(", "@import", "<link", "<img"):
        assert needle not in lowered
    assert page.count("<svg") == 5  # three timelines, two RTO charts (dev has no drills)
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


def test_values_are_escaped_and_secrets_never_shown(tmp_path: Path) -> None:
    doc = json.loads((FIX / "post-apply-prod.json").read_text())
    doc["findings"].append({
        "check": "drift.key_policy", "severity": "critical", "key": "code-signing@g4",
        "resource": "arn:aws:kms:us-east-1:210987654321:key/x\"><img src=x>",
        "message": "policy differs -----BEGIN PRIVATE KEY-----MIIEv-----END PRIVATE KEY----- "
                   "AKIAABCDEFGHIJKLMNOP",
        "expected": {"Statement": [{"Sid": "POLICY-MARKER-7731", "Action": "kms:*"}]},
        "actual": {"Statement": []}})
    bad = tmp_path / "pa.json"
    bad.write_text(json.dumps(doc))
    data = build_report(estate(), full_options(post_apply_files=[bad]))
    for fmt in ("html", "markdown"):
        text = render(data, fmt)
        for needle in ("MIIEv", "AKIAABCDEFGHIJKLMNOP", "POLICY-MARKER-7731", "<img src=x>",
                       "<script>alert(1)</script>", "<b>pending</b>"):
            assert needle not in text, (fmt, needle)
        assert "[redacted]" in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_markdown_carries_the_same_content(capsys: pytest.CaptureFixture[str]) -> None:
    code, md, _ = run_cli(capsys, *cli_inputs(), "--format", "markdown")
    assert code == 0
    for env, names in EXAMPLE_KEYS.items():
        assert f"\n## {env} (" in md
        for name in names:
            assert f"| **{name}** |" in md
    assert "| 2026-11-10 | backup | release-artifacts | production | 62 min | 60 min | **no** |" \
        in md
    assert "| aws_cloudwatch_log_group_retention | aws_cloudwatch_log_group.aws_audit_log-group_* " \
        "| platform-oncall@acme.example |" in md
    assert "| code-signing | g3 | verify-only | 2025-12-01 | 2026-12-16 | yes |" in md
    assert "<svg" not in md


def test_charts_are_well_formed_svg_with_the_as_of_line(report: ReportData) -> None:
    prod = next(v for v in report.environments if v.name == "prod")
    svg = timeline_svg([k.key for k in prod.keys], AS_OF, chart_id="t")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    asof = [el for el in root.iter(f"{ns}line") if el.get("class") == "asof"]
    assert [t.text for el in asof for t in el.iter(f"{ns}title")] == ["as of 2026-11-28"]
    drawn = [el.get("class") for el in root.iter(f"{ns}rect") if el.find(f"{ns}title") is not None]
    assert drawn.count("gen-current") == 6  # the six keys with generations (legend excluded)
    classes = set(drawn)
    assert "gen-verify" in classes
    rto = ET.fromstring(rto_svg(prod.drills, chart_id="r"))
    bars = [el.get("class") for el in rto.iter(f"{ns}rect") if "bar-" in (el.get("class") or "")]
    assert sorted(bars[:5]) == ["bar-fail", "bar-pass", "bar-pass", "bar-pass", "bar-pass"]


def test_report_imports_no_cloud_sdk_or_cdk(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    probe = (
        "import sys\nfrom keyplane.cli import main\n"
        f"args = {['report', *cli_inputs(), '--out', str(out)]!r}\n"
        "try:\n    main(args)\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        f"set({sorted(FORBIDDEN)!r})))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert out.exists()


# ---- bad input: exit 2, the file and the reason, nothing written ------------------------------

def test_fails_with_exit_2_on_truncated_check_json(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    bad = tmp_path / "check.json"
    bad.write_text('{"tool": "keyplane check", "findings": [')
    out = tmp_path / "report.html"
    out.write_text("previous report")
    code, stdout, err = run_cli(capsys, "-d", str(EXAMPLE_ENVIRONMENTS), "--check-json",
                                str(bad), "--out", str(out))
    assert (code, stdout) == (2, "")
    assert f"{bad}:1:41: KP812 the check json file is not valid json: expecting value" in err
    assert "Traceback" not in err
    assert out.read_text() == "previous report"


def test_fails_with_exit_2_on_a_missing_file(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    code, _, err = run_cli(capsys, "-d", str(EXAMPLE_ENVIRONMENTS), "--post-apply-json",
                           str(missing))
    assert code == 2
    assert f"{missing}: KP811 cannot read the post-apply json file: No such file or directory" \
        in err


@pytest.mark.parametrize(("option", "doc", "message"), [
    ("--check-json", [1, 2], "KP813 not a `keyplane check --format json` result: expected an "
                             "object with a 'findings' list"),
    ("--check-json", {"findings": [{"status": "PASS"}]},
     "KP813 findings[0] is not a check finding: expected an object with 'rule_id' and 'status'"),
    ("--post-apply-json", {"findings": []},
     "KP813 not a keyplane post-apply, drift, rotation or access-review json report: expected "
     "an object with 'environment' and a 'findings' list"),
])
def test_fails_with_exit_2_on_json_of_the_wrong_shape(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str, doc: object,
        message: str) -> None:
    bad = tmp_path / "in.json"
    bad.write_text(json.dumps(doc))
    code, _, err = run_cli(capsys, "-d", str(EXAMPLE_ENVIRONMENTS), option, str(bad))
    assert code == 2
    assert f"{bad}: {message}" in err


def test_fails_with_exit_2_on_an_unreadable_evidence_record(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    (tmp_path / "prod").mkdir()
    (tmp_path / "prod" / "20261101T000000Z-x-backup---g-.json").write_text("{not json")
    code, _, err = run_cli(capsys, "prod", "-d", str(EXAMPLE_ENVIRONMENTS), "--evidence-dir",
                           str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'prod'}: KP814 unreadable evidence record " in err
    assert "20261101T000000Z-x-backup---g-.json" in err


def test_fails_with_exit_2_on_a_bad_as_of(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "-d", str(EXAMPLE_ENVIRONMENTS), "--as-of", "28/11/2026")
    assert code == 2
    assert "keyplane: error KP815: --as-of must be a date (yyyy-mm-dd), got '28/11/2026'" in err


def test_fails_with_exit_2_on_a_malformed_waivers_file(capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    bad = tmp_path / "waivers.yaml"
    bad.write_text("- rule: aws_kms_key_rotation_enabled\n  resource: x\n")
    code, _, err = run_cli(capsys, "-d", str(EXAMPLE_ENVIRONMENTS), "--waivers", str(bad))
    assert code == 2
    assert "KP510 waiver is missing 'owner'" in err
