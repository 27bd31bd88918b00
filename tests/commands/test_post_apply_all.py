"""`keyplane post-apply --all`: the whole estate from one runner, shards, resume, the report.

The estate is the example one (dev, staging, prod: six stacks on two clouds) under fresh ids,
created in one sandbox (moto over HTTP and the Cloud KMS fake over gRPC). The scheduler and
the merge are also tested on their own, with no cloud, for what the sandbox cannot show
(bounded concurrency, a unit that raises, the merged document's schema).
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyplane.sandbox.server import Sandbox
from keyplane.schema import validate
from tests.commands.estate_support import (
    apply_estate,
    estate_copy,
    post_apply_all,
    summary,
    units,
)
from tests.conftest import EXAMPLE_ENVIRONMENTS
from tests.sandbox.helpers import aws, gcp, key_arn, run_cli, start_sandbox

STACKS = {"dev-aws", "dev-gcp", "staging-aws", "staging-gcp", "prod-aws", "prod-gcp"}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def _drift_prod(sb: Sandbox, ids: dict[str, str]) -> None:
    """One rotation finding on each cloud of prod."""
    from google.cloud import kms_v1
    from google.protobuf import field_mask_pb2

    acct, project = ids["210987654321"], ids["acme-pki-prod"]
    aws(sb, acct, "kms").disable_key_rotation(KeyId=key_arn(sb, acct, "alias/release-artifacts"))
    name = (f"projects/{project}/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/"
            "inventory-records")
    gcp(sb).update_crypto_key(crypto_key=kms_v1.CryptoKey(name=name, rotation_period={
        "seconds": 400 * 86400}), update_mask=field_mask_pb2.FieldMask(paths=["rotation_period"]))


# ---- against the sandbox ---------------------------------------------------------------------

@pytest.mark.integration
def test_every_stack_is_one_unit_with_the_report_a_single_run_writes(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, synth, ids = estate_copy(tmp_path)
    apply_estate(sb, envs, synth)
    _drift_prod(sb, ids)
    out_dir = tmp_path / "run"
    code, out, err = post_apply_all(capsys, sb, envs, synth, "--output-dir", str(out_dir),
                                    "--estate-concurrency", "3", "--format", "json")
    assert code == 1, err  # the worst unit: prod has findings on both clouds
    doc = json.loads(out)
    assert doc == summary(out_dir) | {"updated_at": doc["updated_at"]}
    validate(doc, "estate-run")
    assert (doc["kind"], doc["finished"], doc["exit_code"]) == ("estate-run", True, 1)
    assert doc["totals"] == {"units": 6, "clean": 4, "findings": 2, "incomplete": 0,
                             "pending": 0}
    assert {p.name for p in out_dir.iterdir()} == {f"{s}.json" for s in STACKS} | {"estate.json"}
    by_stack = units(out_dir)
    assert {s: u["outcome"] for s, u in by_stack.items() if u["outcome"] != "clean"} == {
        "prod-aws": "findings", "prod-gcp": "findings"}
    for stack, unit in by_stack.items():  # the summary vouches for each report as written
        raw = (out_dir / unit["file"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == unit["sha256"], stack
    prod = next(e for e in doc["environments"] if e["environment"] == "prod")
    assert (prod["outcome"], prod["units"], prod["summary"]["findings"]) == (
        "findings", ["prod-aws", "prod-gcp"], 2)
    # a unit's report is what `post-apply ENV --cloud C --format json` writes
    for stack in ("prod-aws", "dev-gcp"):
        env, cloud = stack.rsplit("-", 1)
        single, s_out, s_err = run_cli(
            capsys, "post-apply", env, "--cloud", cloud, "-d", str(envs), "--synth-dir",
            str(synth), "--endpoint-url", sb.aws.url, "--gcp-endpoint", sb.gcp.target,
            "--format", "json")
        assert single == by_stack[stack]["exit_code"], s_err
        mine, theirs = json.loads((out_dir / f"{stack}.json").read_text()), json.loads(s_out)
        for field in ("command", "environment", "outcome", "sections", "findings", "unknowns",
                      "checked", "matched", "access", "summary"):
            assert mine[field] == theirs[field], (stack, field)
    # one audit run for the whole estate: every unit's events and the run's own
    events = [json.loads(line) for line in
              (tmp_path / "audit" / "events.jsonl").read_text().splitlines()]
    bulk = [e for e in events if e["run_id"] == doc["settings"]["run_id"]]
    assert {e["environment"] for e in bulk} == {"dev", "staging", "prod", None}
    assert [e["outcome"] for e in bulk if e["action"] == "post-apply.all"] == ["started",
                                                                             "finding"]


@pytest.mark.integration
def test_a_unit_that_cannot_start_is_incomplete_the_others_finish_and_resume_runs_it(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, synth, _ = estate_copy(tmp_path, ("dev", "staging"))
    apply_estate(sb, envs, synth)
    stack = synth / "stacks" / "staging-gcp" / "cdk.tf.json"
    stack.rename(stack.with_suffix(".moved"))
    out_dir = tmp_path / "run"
    code, out, err = post_apply_all(capsys, sb, envs, synth, "--output-dir", str(out_dir))
    assert code == 3 and "Traceback" not in err
    first = units(out_dir)
    assert first["staging-gcp"]["error"]["code"] == "KP609"
    assert (first["staging-gcp"]["outcome"], first["staging-gcp"]["file"]) == ("incomplete",
                                                                               None)
    assert {s: u["outcome"] for s, u in first.items() if s != "staging-gcp"} == dict.fromkeys(
        ["dev-aws", "dev-gcp", "staging-aws"], "clean")
    assert out.startswith("post-apply --all: INCOMPLETE — 4 unit(s) of 2 environment(s): "
                          "3 clean, 0 with findings, 1 incomplete, 0 not run")
    assert "  INCOMPLETE staging-gcp" in out and "KP609" in out
    # the report shows the stack that did not run as unknown, never as met
    code, md, err = run_cli(capsys, "report", "-d", str(envs), "--post-apply-dir",
                            str(out_dir), "--format", "markdown", "--as-of", "2026-06-01")
    assert code == 0, err
    assert "post-apply staging-gcp did not run: KP609" in md
    # fixed: --resume runs only that unit; the finished reports are not touched
    stack.with_suffix(".moved").rename(stack)
    kept = {s: (out_dir / f"{s}.json").stat().st_mtime_ns for s in first if s != "staging-gcp"}
    code, out, err = post_apply_all(capsys, sb, envs, synth, "--resume",
                                    str(out_dir / "estate.json"))
    assert code == 0, err
    assert "post-apply --all: 1 of 4 unit(s), 4 at once" in err
    assert {s: (out_dir / f"{s}.json").stat().st_mtime_ns for s in kept} == kept
    again = units(out_dir)
    assert again["staging-gcp"]["outcome"] == "clean" and again["staging-gcp"]["error"] is None
    assert all(again[s]["sha256"] == first[s]["sha256"] for s in kept)
    assert summary(out_dir)["finished"] is True
    # a finished directory is not run into again by mistake
    code, out, err = post_apply_all(capsys, sb, envs, synth, "--output-dir", str(out_dir))
    assert code == 2 and "KP941" in err and f"--resume {out_dir / 'estate.json'}" in err


@pytest.mark.integration
def test_shards_split_the_units_as_keyplane_matrix_does_and_the_report_merges_them(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, synth, ids = estate_copy(tmp_path)
    apply_estate(sb, envs, synth)
    _drift_prod(sb, ids)
    dirs, seen = [], []
    for i in (1, 2, 3):
        d = tmp_path / f"shard-{i}"
        code, _, err = post_apply_all(capsys, sb, envs, synth, "--shard", f"{i}/3",
                                      "--output-dir", str(d), "--quiet")
        assert code in (0, 1), err
        assert summary(d)["shard"] == f"{i}/3"
        code, matrix, _ = run_cli(capsys, "matrix", "--for", "drift", "-d", str(envs),
                                  "--shard", f"{i}/3")
        assert sorted(units(d)) == sorted(t["stack"] for t in json.loads(matrix)["include"])
        dirs.append(d)
        seen += list(units(d))
    assert sorted(seen) == sorted(STACKS)  # every unit in exactly one shard
    # the shards' directories make one report: both clouds of prod, whichever shard ran them
    args = [a for d in dirs for a in ("--post-apply-dir", str(d))]
    code, md, err = run_cli(capsys, "report", "-d", str(envs), *args, "--format", "markdown",
                            "--as-of", "2026-06-01")
    assert code == 0, err
    assert "rotation.disabled" in md and "rotation.period_above_tier" in md
    # per-stack files given one by one cannot do that: the newer run of prod hides the other
    files = [a for d in dirs for u in units(d).values() if u["environment"] == "prod"
             for a in ("--post-apply-json", str(d / u["file"]))]
    code, md_files, _ = run_cli(capsys, "report", "-d", str(envs), *files, "--format",
                                "markdown", "--as-of", "2026-06-01")
    assert code == 0
    assert ("rotation.disabled" in md_files) != ("rotation.period_above_tier" in md_files)


@pytest.mark.integration
def test_the_report_refuses_a_unit_report_changed_after_the_run(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, synth, _ = estate_copy(tmp_path, ("dev",))
    apply_estate(sb, envs, synth)
    out_dir = tmp_path / "run"
    code, _, err = post_apply_all(capsys, sb, envs, synth, "--output-dir", str(out_dir))
    assert code == 0, err
    report = out_dir / "dev-aws.json"
    doc = json.loads(report.read_text())
    doc["findings"] = []  # (it had none: any edit at all is refused)
    doc["notes"].append("edited")
    report.write_text(json.dumps(doc))
    code, out, err = run_cli(capsys, "report", "-d", str(envs), "--post-apply-dir",
                             str(out_dir / "estate.json"), "--format", "markdown")
    assert (code, out) == (2, "")
    assert f"{report}: KP813 the report of unit dev-aws changed after the run wrote it" in err


@pytest.mark.integration
def test_a_killed_run_keeps_the_units_it_finished_and_resume_runs_only_the_rest(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    envs, synth, _ = estate_copy(tmp_path, ("dev", "staging"))
    apply_estate(sb, envs, synth)
    out_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from keyplane.cli import main; main()", "post-apply", "--all",
         "-d", str(envs), "--synth-dir", str(synth), "--endpoint-url", sb.aws.url,
         "--gcp-endpoint", sb.gcp.target, "--output-dir", str(out_dir),
         "--estate-concurrency", "1", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "KEYPLANE_AUDIT_LOG": str(tmp_path / "events.jsonl")})
    deadline = time.monotonic() + 300  # a bound on the wait, not a measured figure
    while time.monotonic() < deadline and proc.poll() is None:
        done = [u for u in units(out_dir).values() if u["outcome"] != "pending"] \
            if (out_dir / "estate.json").exists() else []
        if done:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = units(out_dir)  # estate.json is whole: it is only ever replaced
    finished = {s for s, u in first.items() if u["outcome"] == "clean"}
    assert finished and len(finished) < 4 and summary(out_dir)["finished"] is False
    assert {u["outcome"] for s, u in first.items() if s not in finished} == {"pending"}
    kept = {s: (out_dir / f"{s}.json").read_bytes() for s in finished}
    code, _, err = post_apply_all(capsys, sb, envs, synth, "--resume",
                                  str(out_dir / "estate.json"))
    assert code == 0, err
    assert f"post-apply --all: {4 - len(finished)} of 4 unit(s)" in err
    assert {s: (out_dir / f"{s}.json").read_bytes() for s in finished} == kept
    assert {u["outcome"] for u in units(out_dir).values()} == {"clean"}


@pytest.mark.integration
def test_memory_stays_flat_no_unit_report_outlives_its_unit(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a unit read (the report and the observed state it was judged from) is gone
    once the unit's file is written: the run holds one summary line per unit, no more."""
    import keyplane.commands.post_apply as pa

    envs, synth, _ = estate_copy(tmp_path, ("dev", "staging"))
    apply_estate(sb, envs, synth)
    real = pa.read_environment
    refs: list[weakref.ref[Any]] = []
    alive_at_start: list[int] = []

    def tracked(*args: Any, **kwargs: Any) -> Any:
        gc.collect()
        alive_at_start.append(sum(1 for r in refs if r() is not None))
        report = real(*args, **kwargs)
        refs.append(weakref.ref(report))
        return report

    monkeypatch.setattr(pa, "read_environment", tracked)
    code, _, err = post_apply_all(capsys, sb, envs, synth, "--output-dir",
                                  str(tmp_path / "run"), "--estate-concurrency", "1")
    assert code == 0, err
    assert alive_at_start == [0, 0, 0, 0]  # one unit at a time, nothing of the ones before


# ---- bad input: exit 2 before anything is read ----------------------------------------------

@pytest.mark.parametrize(("args", "code", "message"), [
    (["prod", "--all", "--output-dir", "x"], "KP940",
     "--all runs every stack of the inventory; give ENV or --all, not both (got ENV prod)"),
    (["prod", "--shard", "1/2"], "KP940",
     "--shard applies to --all only; add --all to run every stack"),
    (["--all"], "KP940", "--all needs --output-dir DIR"),
    (["--all", "--output-dir", "x", "--format", "sarif"], "KP940",
     "with --all, --format is the summary's and must be one of text, json, markdown, got "
     "sarif (each unit's report is json in --output-dir)"),
    (["--all", "--output-dir", "x", "--gcp-project", "p"], "KP940",
     "--gcp-project applies to one environment, not to --all"),
    (["--all", "--output-dir", "x", "--shard", "4/3"], "KP923",
     "--shard i must be between 1 and N (3), got 4 in '4/3'"),
    (["--all", "--output-dir", "x", "--shard", "2"], "KP923", "--shard must be i/N"),
])
def test_fails_options_that_do_not_go_with_all_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], code: str,
        message: str) -> None:
    args = [a if a != "x" else str(tmp_path / "run") for a in args]
    rc, out, err = run_cli(capsys, "post-apply", *args, "-d", str(EXAMPLE_ENVIRONMENTS),
                           "--endpoint-url", "http://127.0.0.1:9", "--gcp-endpoint",
                           "127.0.0.1:9")
    assert rc == 2 and out == "" and "Traceback" not in err
    assert f"keyplane: error {code}: {message}" in err
    assert not (tmp_path / "run").exists()


def test_fails_to_resume_another_command_or_shard_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from keyplane.estate.run import Summary, Unit

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    doc = Summary.start(command="drill", shard=None, units=[Unit("dev", "aws", "1", "r")],
                        settings={}, now=dt.datetime.now(dt.UTC)).to_dict()
    (run_dir / "estate.json").write_text(json.dumps(doc))
    base = ["post-apply", "--all", "-d", str(EXAMPLE_ENVIRONMENTS), "--endpoint-url",
            "http://127.0.0.1:9", "--gcp-endpoint", "127.0.0.1:9", "--resume",
            str(run_dir / "estate.json")]
    rc, _, err = run_cli(capsys, *base)
    assert rc == 2 and "KP942" in err
    assert "is a run of `drill --all`, not of `post-apply --all`" in err
    doc["command"] = "post-apply"
    (run_dir / "estate.json").write_text(json.dumps(doc))
    rc, _, err = run_cli(capsys, *base, "--shard", "1/2")
    assert rc == 2 and "is a run of `post-apply --all`, not of `post-apply --all --shard 1/2`" \
        in err
    rc, _, err = run_cli(capsys, *base, "--output-dir", str(tmp_path / "other"))
    assert rc == 2 and f"continues the run in {run_dir}" in err
    (run_dir / "estate.json").write_text("[1, 2]")
    rc, _, err = run_cli(capsys, *base)
    assert rc == 2 and "is not the estate.json of a `--all` run" in err


def test_the_report_refuses_what_is_not_a_post_apply_run_directory_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from keyplane.estate.run import Summary, Unit

    base = ["report", "-d", str(EXAMPLE_ENVIRONMENTS), "--format", "markdown"]
    rc, out, err = run_cli(capsys, *base, "--post-apply-dir", str(tmp_path))
    assert (rc, out) == (2, "")
    assert f"{tmp_path}: KP811 --post-apply-dir {tmp_path} holds no estate.json" in err
    drills = tmp_path / "drills"
    drills.mkdir()
    doc = Summary.start(command="drill", shard=None, units=[Unit("dev", "aws", "1", "r")],
                        settings={}, now=dt.datetime.now(dt.UTC)).to_dict()
    (drills / "estate.json").write_text(json.dumps(doc))
    rc, _, err = run_cli(capsys, *base, "--post-apply-dir", str(drills))
    assert rc == 2 and "KP813 this is the estate.json of `drill --all`, not of " \
        "`post-apply --all`; a drill run's evidence is read with --evidence-dir" in err
    (drills / "estate.json").write_text('{"kind": "estate-run", "units": [')
    rc, _, err = run_cli(capsys, *base, "--post-apply-dir", str(drills / "estate.json"))
    assert rc == 2 and "KP812 the estate.json is not valid json" in err


# ---- the scheduler and the merge, with no cloud ----------------------------------------------

def _units(n: int) -> list[Any]:
    from keyplane.estate.run import Unit

    return [Unit(f"e{i:03d}", "aws", f"{i:012d}", "us-east-1") for i in range(n)]


def test_at_most_k_units_run_at_once_and_each_result_arrives_once() -> None:
    from keyplane.estate.run import UnitResult, run_units

    lock = threading.Lock()
    running, peak = [0], [0]
    gate = threading.Barrier(3, timeout=30)  # three units must run together, never a fourth

    def work(unit: Any, _partial: Path | None) -> UnitResult:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        if unit.environment in ("e000", "e001", "e002"):
            gate.wait()
        with lock:
            running[0] -= 1
        return UnitResult(unit=unit, outcome="clean", exit_code=0)

    seen: list[str] = []
    run_units(_units(12), work, concurrency=3, on_result=lambda r: seen.append(r.unit.stack))
    assert peak[0] == 3
    assert sorted(seen) == sorted(u.stack for u in _units(12))


def test_a_unit_that_raises_is_incomplete_with_its_error_and_the_others_go_on() -> None:
    from keyplane.estate.run import UnitResult, run_units
    from keyplane.postapply.errors import HookSetupError

    def work(unit: Any, _partial: Path | None) -> UnitResult:
        if unit.environment == "e001":
            raise HookSetupError("aws credentials act in account 1; nothing was read",
                                 code="KP601")
        if unit.environment == "e002":
            raise KeyError("boom")
        return UnitResult(unit=unit, outcome="findings", exit_code=1)

    got: dict[str, Any] = {}
    run_units(_units(4), work, concurrency=2, on_result=lambda r: got.update({r.unit.stack: r}))
    assert {s: (r.outcome, r.exit_code) for s, r in got.items()} == {
        "e000-aws": ("findings", 1), "e001-aws": ("incomplete", 3),
        "e002-aws": ("incomplete", 3), "e003-aws": ("findings", 1)}
    assert got["e001-aws"].error == {"code": "KP601", "message":
                                     "aws credentials act in account 1; nothing was read"}
    assert got["e002-aws"].error == {"code": "KP943", "message": "internal error: KeyError: 'boom'"}


def test_the_run_exit_code_is_the_worst_unit_and_a_pending_unit_is_never_clean() -> None:
    from keyplane.estate.run import Summary, UnitResult

    units_ = _units(3)
    s = Summary.start(command="post-apply", shard=None, units=units_, settings={},
                      now=dt.datetime.now(dt.UTC))
    assert (s.outcome, s.exit_code) == ("pending", 3)
    s.results["e000-aws"] = UnitResult(unit=units_[0], outcome="clean", exit_code=0)
    s.results["e001-aws"] = UnitResult(unit=units_[1], outcome="findings", exit_code=1)
    assert s.exit_code == 3
    s.results["e002-aws"] = UnitResult(unit=units_[2], outcome="clean", exit_code=0)
    assert (s.outcome, s.exit_code) == ("findings", 1)
    assert Summary.start(command="post-apply", shard="2/2", units=[], settings={},
                         now=dt.datetime.now(dt.UTC)).exit_code == 0


def test_merged_unit_reports_are_one_post_apply_report_of_the_same_schema() -> None:
    from keyplane.estate.run import merge_unit_reports
    from keyplane.schema import validate

    def doc(cloud: str, started: str, **extra: Any) -> dict[str, Any]:
        base = {"schema_version": "1", "kind": "post-apply", "command": "post-apply",
                "environment": "prod", "outcome": "clean", "exit_code": 0,
                "started_at": started, "sections": ["rotation", "drift", "access-review"],
                "stopped": None, "summary": {"findings": 0, "acknowledged": 0, "unknown": 0,
                                             "checked": 1},
                "findings": [], "unknowns": [], "checked": [f"{cloud}-key"],
                "access": [], "matched": {f"{cloud}-key": f"{cloud}-decl"}, "drafts": [],
                "unmatched_known_drift": [{"resource": "gone"}, {"resource": cloud}],
                "notes": ["expected state: synth"]}
        return base | extra

    from keyplane.findings import Control, Finding, Severity, Status
    from keyplane.postapply.report import finding_json

    finding = finding_json(Finding(rule_id="rotation.disabled", status=Status.FAIL,
                                   severity=Severity.HIGH, resource="aws-key",
                                   reason="rotation is off", control=Control.ROTATION,
                                   environment="prod", area="rotation"))
    aws_doc = doc("aws", "2026-06-01T10:00:05+00:00", outcome="findings", exit_code=1,
                  findings=[finding], summary={"findings": 1, "acknowledged": 0, "unknown": 0,
                                               "checked": 1})
    gcp_doc = doc("gcp", "2026-06-01T10:00:01+00:00", stopped="credentials expired",
                  outcome="incomplete", exit_code=3)
    merged = merge_unit_reports([aws_doc, gcp_doc])
    validate(merged, "post-apply")
    assert (merged["outcome"], merged["exit_code"], merged["started_at"]) == (
        "incomplete", 3, "2026-06-01T10:00:01+00:00")
    assert merged["findings"] == [finding]
    assert merge_unit_reports([aws_doc])["outcome"] == "findings"
    assert merged["checked"] == ["aws-key", "gcp-key"]
    assert merged["matched"] == {"aws-key": "aws-decl", "gcp-key": "gcp-decl"}
    assert merged["summary"] == {"findings": 1, "acknowledged": 0, "unknown": 0, "checked": 2}
    assert merged["unmatched_known_drift"] == [{"resource": "gone"}]  # unmatched in both
    assert (merged["stopped"], merged["notes"]) == ("credentials expired",
                                                    ["expected state: synth"])
    with pytest.raises(ValueError, match="different environments"):
        merge_unit_reports([aws_doc, gcp_doc | {"environment": "dev"}])
