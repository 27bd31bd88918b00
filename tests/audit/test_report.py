"""`keyplane report`: evidence folded into met / not met / unknown, HTML and Markdown, bad input."""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
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
from keyplane.audit.report.text import clean, whole
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
        "backup": "met",  # the us-west-2 replica drill passed within 30 days
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
        "backup drill of release-artifacts 2026-11-10 TIMED_OUT: restore job 7c1f... did not "
        "complete before the deadline; job id persisted for adoption",
        "replica drill of release-artifacts 2026-09-01 passed but is 88 days old; the "
        "production tier drills every 30 days"]
    root = key(report, "prod", "pki-root-ca").controls[Control.BACKUP]
    assert root.mark is Mark.MET  # the cloudhsm drill is 58 days old, the cadence 90
    assert [(e.ref, e.when) for e in root.evidence if e.source == "drill"] == [
        ("cloudhsm", "2026-10-01")]
    assert key(report, "prod", "pki-root-ca").last_drill is not None


def test_nothing_is_met_without_evidence(tmp_path: Path) -> None:
    data = build_report(estate(), ReportOptions(as_of=AS_OF, evidence_dirs=[tmp_path]))
    seen = {r.mark for v in data.environments for k in v.keys for r in k.controls.values()}
    assert seen == {Mark.UNKNOWN, Mark.NOT_APPLICABLE}
    reasons = {r.reason for v in data.environments for k in v.keys
               for c, r in k.controls.items() if c is Control.PROTECTION}
    assert reasons == {"no evidence"}


def test_the_inventory_alone_can_show_rotation_not_met(tmp_path: Path) -> None:
    late = dt.date(2028, 1, 1)
    data = build_report(estate(), ReportOptions(as_of=late, evidence_dirs=[tmp_path]))
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
    assert "access.human_can_use" not in {f.rule_id for f in prod.findings}
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
    assert [(e.ref, e.mark) for e in ds.controls[Control.PROTECTION].evidence] == [
        ("sign-canary", Mark.MET)]
    assert ds.controls[Control.BACKUP].mark is Mark.UNKNOWN  # a canary recovers nothing
    assert ds.last_drill is not None and ds.last_drill.run_id == "r1"
    slow = key(data, "prod", "code-signing").controls[Control.BACKUP]
    assert [e.message for e in slow.failing] == [
        "replica drill of code-signing g4 2026-11-27 recovered in 7 min, above the 5 min "
        "deadline"]


# ---- schema 1: the findings' fields decide, never the ids ----------------------------------

CS_ARN = "arn:aws:kms:us-east-1:210987654321:key/mrk-60aba788-eee0-492f-94aa-3531911198bb"
RA_ARN = "arn:aws:kms:us-east-1:210987654321:key/mrk-fb0ef4ee-0ac0-4590-9418-8af532f1f363"


def no_drills(tmp_path: Path) -> Path:
    """An empty evidence directory."""
    d = tmp_path / "evidence"
    d.mkdir(exist_ok=True)
    return d


def post_apply_v1(tmp_path: Path, findings: list, unknowns: list) -> Path:
    """A post-apply report of prod as `keyplane post-apply --format json` writes it (schema 1)."""
    from keyplane.postapply.report import Report, render

    report = Report(command="post-apply", environment="prod",
                    started_at=dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC),
                    sections=["rotation", "drift", "access-review"], findings=findings,
                    unknowns=unknowns, checked=[CS_ARN, RA_ARN],
                    matched={CS_ARN: "code-signing@g4", RA_ARN: "release-artifacts"})
    path = tmp_path / "post-apply.json"
    path.write_text(render(report, "json"), encoding="utf-8")
    assert json.loads(path.read_text())["schema_version"] == "1"
    return path


def test_post_apply_findings_of_schema_1_count_for_the_control_and_cloud_they_name(
        tmp_path: Path) -> None:
    from keyplane.findings import Cloud, Finding, Severity, Status
    from keyplane.findings import Control as FControl

    def fail(rule_id: str, control: FControl, cloud: Cloud, resource: str,
             key: str | None) -> Finding:
        return Finding(rule_id=rule_id, status=Status.FAIL, severity=Severity.HIGH,
                       resource=resource, reason=f"{rule_id} failed", control=control,
                       cloud=cloud, environment="prod", key=key, area="drift")

    path = post_apply_v1(tmp_path, [
        # ids the report has no table for, or whose old table says otherwise: the field decides
        fail("drift.some_future_check", FControl.BACKUP, Cloud.AWS, CS_ARN, "code-signing@g4"),
        fail("drift.key_disabled", FControl.ACCESS, Cloud.AWS, CS_ARN, "code-signing@g4"),
        # a shared resource named by neither an ARN nor a projects/ path: its cloud field decides
        fail("drift.trail_missing", FControl.AUDIT, Cloud.GCP, "keyplane-prod", None),
    ], [
        Finding(rule_id="read.policy", status=Status.UNKNOWN, severity=Severity.INFO,
                resource=RA_ARN, reason="GetKeyPolicy denied (AccessDeniedException)",
                control=FControl.ACCESS, environment="prod", key="release-artifacts"),
    ])
    data = build_report(estate(), ReportOptions(as_of=AS_OF, post_apply_files=[path],
                                                evidence_dirs=[no_drills(tmp_path)]))
    cs = key(data, "prod", "code-signing").controls
    assert [e.ref for e in cs[Control.BACKUP].failing] == ["drift.some_future_check"]
    assert [e.ref for e in cs[Control.ACCESS].failing] == ["drift.key_disabled"]
    assert cs[Control.PROTECTION].mark is Mark.MET  # read clean by drift, no finding says else
    assert marks(data, "prod", "code-signing")["audit"] == "unknown"  # an AWS key: no evidence
    assert marks(data, "prod", "release-attestation")["audit"] == "not met"  # a GCP key
    assert marks(data, "prod", "release-artifacts") == {
        "protection": "met", "access": "unknown", "audit": "unknown", "backup": "unknown",
        "rotation": "met"}
    prod = next(v for v in data.environments if v.name == "prod")
    assert [u.rule_id for u in prod.unknowns] == ["read.policy"]
    assert {f.rule_id for f in prod.findings} == {
        "drift.some_future_check", "drift.key_disabled", "drift.trail_missing"}


def test_an_unknown_of_schema_0_leaves_every_control_of_its_run_unknown(
        report: ReportData) -> None:
    # "iam policy could not be read" names no control: the report does not guess one from
    # its words, so each control its post-apply run judged stays unknown for that key.
    mesh = key(report, "prod", "mesh-mtls-issuer").controls
    for control in (Control.PROTECTION, Control.ACCESS, Control.ROTATION):
        assert mesh[control].mark is Mark.UNKNOWN
        assert [e.ref for e in mesh[control].evidence if e.mark is Mark.UNKNOWN] == ["read.state"]
    assert mesh[Control.AUDIT].mark is Mark.MET  # the run's sections do not judge audit


def real_check_json() -> dict:
    """`keyplane check --format json` of a real Terraform plan of prod's AWS stack."""
    proc = subprocess.run(
        [sys.executable, "-c", "from keyplane.cli import main; main()", "check",
         str(REPO / "tests/policy/fixtures/plans/real/prod-aws.plan.json"), "--format", "json"],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_check_findings_of_schema_1_count_for_the_control_they_name(tmp_path: Path) -> None:
    doc = real_check_json()
    assert doc["schema_version"] == "1"
    target = next(f for f in doc["findings"] if f["rule_id"] == "aws_kms_key_rotation_enabled"
                  and f["outcome"] == "PASS" and f["resource"].startswith(
                      "aws_kms_key.aws_keys_release-artifacts_"))
    path = tmp_path / "check.json"
    path.write_text(json.dumps(doc))
    data = build_report(estate(), ReportOptions(as_of=AS_OF, check_files=[path],
                                                evidence_dirs=[no_drills(tmp_path)]))
    ra = key(data, "prod", "release-artifacts").controls

    def rotation_enabled(ev: tuple) -> list[Mark]:
        return [e.mark for e in ev if e.ref == "aws_kms_key_rotation_enabled"]

    before = rotation_enabled(ra[Control.ROTATION].evidence)
    assert before and set(before) == {Mark.MET}
    # The same result, failed and naming another control: it counts there, and only there.
    target.update(outcome="FAIL", status="FAIL", control="backup")
    path.write_text(json.dumps(doc))
    data = build_report(estate(), ReportOptions(as_of=AS_OF, check_files=[path],
                                                evidence_dirs=[no_drills(tmp_path)]))
    ra = key(data, "prod", "release-artifacts").controls
    assert [e.ref for e in ra[Control.BACKUP].failing] == ["aws_kms_key_rotation_enabled"]
    assert rotation_enabled(ra[Control.ROTATION].evidence) == before[1:]  # one MET fewer
    assert ra[Control.ROTATION].mark is Mark.MET


def test_schema_0_and_schema_1_check_results_give_the_same_marks(tmp_path: Path) -> None:
    # The fixture of schema 0, rewritten in schema 1 with the control the adapter derives:
    # the one finding model reads both the same way.
    from keyplane.audit.report.inputs import schema0_finding

    doc = json.loads((FIX / "check.json").read_text())
    new = {**doc, "schema_version": "1", "kind": "check", "findings": []}
    for f in doc["findings"]:
        filled = schema0_finding(f, "check")
        new["findings"].append({**{k: v for k, v in filled.items()
                                   if k not in ("status", "message")},
                                "control": filled["control"] and filled["control"].value,
                                "cloud": filled["cloud"] and filled["cloud"].value,
                                "environment": None})
    path = tmp_path / "check-v1.json"
    path.write_text(json.dumps(new))
    old = build_report(estate(), ReportOptions(as_of=AS_OF, check_files=[FIX / "check.json"],
                                               evidence_dirs=[no_drills(tmp_path)]))
    cur = build_report(estate(), ReportOptions(as_of=AS_OF, check_files=[path],
                                               evidence_dirs=[no_drills(tmp_path)]))
    assert len(new["findings"]) > 300
    for v in old.environments:
        for k in v.keys:
            assert marks(cur, v.name, k.name) == marks(old, v.name, k.name), k.name
            assert {c: len(r.evidence) for c, r in key(cur, v.name, k.name).controls.items()} == \
                {c: len(r.evidence) for c, r in k.controls.items()}


def test_a_drill_record_naming_its_control_counts_there(tmp_path: Path) -> None:
    record = drill("replica", "code-signing@us-west-2", generation=4)
    assert drill_marks(report_of(tmp_path / "a", record)) == {
        ("prod", "code-signing", "backup", "met")}  # an older record: by its kind
    named = DrillResult(**{**record.to_dict(), "control": "protection"})
    assert drill_marks(report_of(tmp_path / "b", named)) == {
        ("prod", "code-signing", "protection", "met")}


# ---- what each drill proves, read from the record's fields -----------------------------------

# Every record below says "restored from backup" in its reason: the marks must follow the
# record's kind and key, never the words.
MISLEADING_REASON = "restored from backup and verified"


def drill(kind: str, target: str | None, *, env: str = "prod", outcome: str = "PASSED",
          generation: int | None = None, run_id: str = "r1",
          started_at: str = "2026-11-27T01:00:00Z") -> DrillResult:
    return DrillResult(run_id=run_id, environment=env, kind=kind, key=target,
                       generation=generation, tier=None, started_at=started_at,
                       ended_at=started_at, outcome=outcome, reason=MISLEADING_REASON,
                       identity="ci", rto_seconds=20, deadline_seconds=300)


def drill_marks(data: ReportData) -> set[tuple[str, str, str, str]]:
    """(environment, key, control, mark) of every piece of evidence a drill record gave."""
    return {(v.name, k.name, c.value, e.mark.value) for v in data.environments for k in v.keys
            for c, r in k.controls.items() for e in r.evidence
            if e.source == "drill" and e.ref != "no-drill"}


def report_of(tmp_path: Path, *records: DrillResult) -> ReportData:
    for r in records:
        LocalEvidenceStore(tmp_path / r.environment).put(r)
    return build_report(estate(), ReportOptions(as_of=AS_OF, evidence_dirs=[tmp_path]))


@pytest.mark.parametrize(("record", "proves"), [
    # the key is enabled and its material works: protection, never backup
    (drill("sign-canary", "code-signing", generation=4),
     {("prod", "code-signing", "protection", "met")}),
    # recovery through the replica Region, for that key only
    (drill("replica", "code-signing@us-west-2", generation=4),
     {("prod", "code-signing", "backup", "met")}),
    # the cluster restores: backup of every key in its custom key store (the ca keys)
    (drill("cloudhsm", "cluster"),
     {("prod", "pki-root-ca", "backup", "met"), ("prod", "pki-issuing-ca", "backup", "met")}),
    # a resource of the backup plan restores: backup of the keys declared backed_up
    (drill("backup", "ca-database"),
     {("prod", "pki-issuing-ca", "backup", "met"), ("prod", "release-artifacts", "backup",
                                                      "met")}),
    # a resource the plan does not protect (any more) proves nothing about any key
    (drill("backup", "retired-bucket"), set()),
    # the escrow copy recovers the imported key
    (drill("escrow", "partner-test-signing", env="staging", generation=1),
     {("staging", "partner-test-signing", "backup", "met")}),
], ids=["sign-canary", "replica", "cloudhsm", "backup", "backup-of-another-resource",
        "escrow"])
def test_a_passing_drill_marks_only_the_control_it_proves(
        tmp_path: Path, record: DrillResult, proves: set[tuple[str, str, str, str]]) -> None:
    data = report_of(tmp_path, record)
    assert drill_marks(data) == proves


def test_a_sign_canary_leaves_backup_unknown(tmp_path: Path) -> None:
    data = report_of(tmp_path, drill("sign-canary", "code-signing", generation=4))
    backup = key(data, "prod", "code-signing").controls[Control.BACKUP]
    assert (backup.mark, [e.message for e in backup.evidence]) == (
        Mark.UNKNOWN, ["no restore drill recorded; the production tier drills every 30 days"])


def test_a_failed_sign_canary_fails_protection_not_backup(tmp_path: Path) -> None:
    data = report_of(tmp_path, drill("sign-canary", "document-signing", generation=2,
                                     outcome="INTEGRITY_ALARM"))
    ds = key(data, "prod", "document-signing")
    assert [e.message for e in ds.controls[Control.PROTECTION].failing] == [
        f"sign-canary drill of document-signing g2 2026-11-27 INTEGRITY_ALARM: "
        f"{MISLEADING_REASON}"]
    assert ds.controls[Control.BACKUP].failing == []


def test_every_record_of_the_newest_run_counts(tmp_path: Path) -> None:
    # One run writes one record per generation: the verify-only g3 failing in the newest
    # run is not hidden by g4 passing in it, and the older run no longer counts.
    data = report_of(
        tmp_path,
        drill("sign-canary", "code-signing", generation=4, run_id="r1", outcome="KEY_STATE",
              started_at="2026-11-20T01:00:00Z"),
        drill("sign-canary", "code-signing", generation=4, run_id="r2"),
        drill("sign-canary", "code-signing", generation=3, run_id="r2", outcome="KEY_STATE"))
    protection = key(data, "prod", "code-signing").controls[Control.PROTECTION]
    assert [(e.mark, e.message) for e in protection.evidence] == [
        (Mark.NOT_MET, f"sign-canary drill of code-signing g3 2026-11-27 KEY_STATE: "
                       f"{MISLEADING_REASON}"),
        (Mark.MET, "sign-canary drill of code-signing g4 2026-11-27 passed in 20 s")]


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
    code, stdout, err = run_cli(capsys, *cli_inputs(), "--output", str(out))
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


# Principals longer than any cell: an SSO role of the inventory, a workload-identity principal
# of the access review, and the assumed-role session that ran a drill.
LONG_PRINCIPALS = {
    "identity": "arn:aws:iam::567890123456:role/aws-reserved/sso.amazonaws.com/"
                "AWSReservedSSO_Developer_7b8c9d0e1f2a3b46; human, mfa",
    "access": "principalSet://iam.googleapis.com/projects/481516234200/locations/global/"
              "workloadIdentityPools/github-actions/attribute.job_workflow_ref/acme/"
              "release-tooling/.github/workflows/release-attestation.yml@refs/heads/main",
    "drill": "arn:aws:sts::210987654321:assumed-role/AWSReservedSSO_BackupOperator_"
             "0c9d8e7f6a5b4c32/platform-oncall-backup-operator@acme.example",
}


def test_principals_are_shown_whole_in_html(report: ReportData) -> None:
    page = render(report, "html")
    # <wbr> lets an ARN break at its separators; it is no character, so the text is whole.
    text = page.replace("<wbr>", "")
    assert f'<span class="sub ident">{LONG_PRINCIPALS["identity"]}</span>' in text
    assert f'<div>{LONG_PRINCIPALS["access"]}</div>' in text
    assert f'<td class="mono">{LONG_PRINCIPALS["drill"]}</td>' in text
    assert "\u2026" not in page
    # the stylesheet wraps what does not fit instead of letting it overflow or clipping it
    assert ".mono,code{font-family:var(--mono);font-size:11.5px;overflow-wrap:anywhere}" in page
    assert ".ident{overflow-wrap:anywhere}" in page


def test_principals_are_shown_whole_in_markdown(report: ReportData) -> None:
    md = render(report, "markdown")
    assert f'| dev-engineers ({LONG_PRINCIPALS["identity"]})<br>ci-runner (oidc ' \
           "repo:acme/platform:ref:refs/heads/main; serviceAccount:ci-runner@" \
           "acme-pki-dev.iam.gserviceaccount.com) |" in md
    assert "| release-attestation | serviceAccount:release-pipeline@acme-pki-prod.iam." \
           f'gserviceaccount.com<br>{LONG_PRINCIPALS["access"]} | ' \
           "group:pki-key-admins@acme.example |" in md
    assert f'| 2026-11-20T02:00 | backup | certificate-inventory | PASSED | 25 min | 2.0 h | ' \
           f'{LONG_PRINCIPALS["drill"]} |' in md
    assert "\u2026" not in md


def test_identifiers_are_scrubbed_but_never_cut() -> None:
    arn = "arn:aws:iam::210987654321:role/" + "x" * 600
    assert whole(f" {arn}\n ") == arn
    assert whole(f"{arn} AKIAABCDEFGHIJKLMNOP") == f"{arn} [redacted]"
    assert clean(arn, 40) == arn[:39] + "\u2026"  # prose stays bounded


def test_each_input_is_listed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every environment reads the same --evidence-dir, and a file may be given twice under
    # two spellings: each is one input.
    monkeypatch.chdir(FIX.parent)
    data = build_report(estate(), full_options(
        check_files=[FIX / "check.json", Path("report_fixtures/./check.json")],
        evidence_dirs=[FIX / "evidence", Path("report_fixtures/evidence/")]))
    assert [(f.kind, f.path) for f in data.inputs] == [
        ("check", str(FIX / "check.json")),
        ("post-apply", str(FIX / "post-apply-prod.json")),
        ("post-apply", str(FIX / "access-review-prod-old.json")),
        ("post-apply", str(FIX / "drift-staging.json")),
        ("evidence", str(FIX / "evidence")),
        ("evidence", str(FIX / "evidence" / "prod")),
        ("evidence", str(FIX / "evidence" / "staging")),
        ("waivers", str(FIX / "waivers.yaml"))]
    footer = render(data, "html").split("<footer>", 1)[1]
    assert footer.count("<tr><td>evidence</td>") == 3
    md = render(data, "markdown").split("## Inputs", 1)[1]
    assert md.count("| evidence | ") == 3


def test_html_goes_to_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, *cli_inputs())  # capsys' stdout is not a terminal
    assert (code, err) == (0, "")
    assert out.startswith("<!DOCTYPE html>") and out.endswith("</html>\n")


def on_terminal(*args: str) -> tuple[int, str, str]:
    """Run `keyplane report ARGS` with stdout on a real pseudo-terminal: (exit, stdout, stderr)."""
    master, replica = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom keyplane.cli import main\n"
                               "main(['report', *sys.argv[1:]])", *args],
        stdin=subprocess.DEVNULL, stdout=replica, stderr=subprocess.PIPE, cwd=REPO)
    os.close(replica)
    # Drain the terminal while the report is written, or a long report fills it and blocks.
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), err.decode()


def test_markdown_goes_to_a_terminal() -> None:
    code, out, err = on_terminal(*cli_inputs(), "--format", "markdown")
    assert (code, err) == (0, "")
    assert out.startswith("# keyplane evidence report\n")


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
        f"args = {['report', *cli_inputs(), '--output', str(out)]!r}\n"
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
                                str(bad), "--output", str(out))
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
    ("--check-json", {"schema_version": "1", "findings": [{"rule_id": "r", "status": "PASS"}]},
     "KP813 findings[0] is not a check finding: expected an object with 'rule_id' and "
     "'outcome'"),
    ("--check-json", {"schema_version": "1", "findings": [
        {"rule_id": "r", "outcome": "PASSED", "severity": "low", "resource": "x"}]},
     "KP813 findings[0].outcome is not one keyplane writes: expected one of PASS, FAIL, "
     "UNKNOWN, NOT_APPLICABLE, ERROR"),
    ("--post-apply-json", {"schema_version": "1", "environment": "prod", "findings": [
        {"rule_id": "drift.x", "outcome": "FAIL", "severity": "high", "control": "secrecy"}]},
     "KP813 findings[0].control is not one keyplane writes: expected one of protection, "
     "access, audit, backup, rotation"),
    ("--post-apply-json", {"schema_version": "1", "kind": "check", "environment": "prod",
                           "findings": []},
     "KP813 not a keyplane post-apply, drift, rotation or access-review json report: this is "
     "a 'check' document"),
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


def test_fails_with_exit_2_on_a_missing_evidence_dir(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    missing = tmp_path / "evidence"
    out = tmp_path / "report.html"
    code, stdout, err = run_cli(capsys, "-d", str(EXAMPLE_ENVIRONMENTS), "--evidence-dir",
                                str(missing), "--output", str(out))
    assert (code, stdout) == (2, "")
    assert err == f"{missing}: KP816 the --evidence-dir directory does not exist\n"
    assert not out.exists()


def test_fails_with_exit_2_on_an_evidence_dir_that_is_a_file(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    record = FIX / "evidence" / "staging" / \
        "20261101T050000Z-20261101T050000Z-f6a1b2c3d4e5-sign-canary-staging-code-signing-g2.json"
    code, _, err = run_cli(capsys, "-d", str(EXAMPLE_ENVIRONMENTS), "--evidence-dir",
                           str(record), "--output", str(tmp_path / "report.html"))
    assert code == 2
    assert err == (f"{record}: KP816 the --evidence-dir path is a file, not a directory of "
                   "drill evidence records\n")


def test_fails_with_exit_2_on_html_to_a_terminal() -> None:
    code, out, err = on_terminal(*cli_inputs())
    assert (code, out) == (2, "")
    assert err == ("keyplane: error KP817: html is not written to a terminal: give --output "
                   "FILE (or pipe stdout to a file, or use --format markdown)\n")
