"""`keyplane drill --all`: every environment's drills from one runner, by unit, with evidence.

Against the sandbox (moto over HTTP, the Cloud KMS fake over gRPC) with the example dev and
staging environments under fresh ids: their non-production keys are drilled (sign-canary on
both clouds, escrow of staging's imported key), which needs no fake clock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.sandbox.server import Sandbox
from keyplane.schema import validate
from tests.commands.estate_support import apply_estate, estate_copy, summary, units
from tests.conftest import EXAMPLE_ENVIRONMENTS
from tests.sandbox.helpers import aws, key_arn, run_cli, start_sandbox

DRILLED = {"dev-aws", "staging-aws", "staging-gcp"}  # dev's GCP keys are ephemeral: no drill


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def _drill_all(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path, *args: str
               ) -> tuple[int, str, str]:
    return run_cli(capsys, "drill", "--all", "-d", str(envs), "--endpoint-url", sb.aws.url,
                   "--gcp-endpoint", sb.gcp.target, "--max-attempts", "2", *args)


def _records(root: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*.json"))]


@pytest.mark.integration
def test_shards_drill_every_unit_once_and_the_evidence_is_where_matrix_reads_it(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, synth, _ = estate_copy(tmp_path, ("dev", "staging"))
    apply_estate(sb, envs, synth)
    evidence = tmp_path / "evidence"
    ran: list[str] = []
    for i in (1, 2):
        run_dir = tmp_path / f"shard-{i}"
        code, out, err = _drill_all(capsys, sb, envs, "--shard", f"{i}/2", "--output-dir",
                                    str(run_dir), "--evidence-location", str(evidence),
                                    "--format", "json")
        assert code == 0, err
        doc = json.loads(out)
        validate(doc, "estate-run")
        assert (doc["command"], doc["shard"], doc["outcome"]) == ("drill", f"{i}/2", "clean")
        code, matrix, _ = run_cli(capsys, "matrix", "--for", "drill", "--all-scheduled",
                                  "-d", str(envs), "--shard", f"{i}/2")
        assert sorted(units(run_dir)) == sorted(t["stack"] for t in
                                                json.loads(matrix)["include"])
        for stack, unit in units(run_dir).items():
            report = json.loads((run_dir / unit["file"]).read_text())
            assert report["exit_code"] == 0 and report["environment"] == unit["environment"]
            assert unit["summary"]["passed"] == unit["summary"]["drills"] == len(
                report["results"]) > 0, stack
            # a unit drills its own cloud's keys only
            assert {f["cloud"] for f in report["findings"]} == {unit["cloud"]}
        ran += list(units(run_dir))
    assert sorted(ran) == sorted(DRILLED)
    # the records went to <evidence>/<env>, where matrix and report read them: nothing is due
    assert {r["environment"] for r in _records(evidence / "dev")} == {"dev"}
    assert {r["kind"] for r in _records(evidence / "staging")} == {"sign-canary", "escrow"}
    code, due, err = run_cli(capsys, "matrix", "--for", "drill", "-d", str(envs),
                             "--evidence-dir", str(evidence), "--today",
                             dt.datetime.now(dt.UTC).date().isoformat())
    assert (code, json.loads(due)) == (0, {"include": []}), err


@pytest.mark.integration
def test_a_failed_drill_is_the_exit_code_a_unit_that_cannot_run_is_resumed(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, synth, ids = estate_copy(tmp_path, ("dev", "staging"))
    apply_estate(sb, envs, synth)
    acct = ids["567890123456"]
    kms = aws(sb, acct, "kms", "eu-west-1")
    kms.disable_key(  # moto takes the key id here, not the ARN
        KeyId=key_arn(sb, acct, "alias/dev-tls-issuer", "eu-west-1").rsplit("/", 1)[-1])
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "staging").write_text("not a directory")  # staging's evidence cannot be written
    run_dir = tmp_path / "run"
    code, out, err = _drill_all(capsys, sb, envs, "--output-dir", str(run_dir),
                                "--evidence-location", str(evidence))
    assert code == 3 and "Traceback" not in err  # incomplete is worse than a failed drill
    first = units(run_dir)
    assert first["dev-aws"]["outcome"] == "findings" and first["dev-aws"]["summary"][
        "failed"] >= 1
    for stack in ("staging-aws", "staging-gcp"):
        assert first[stack]["outcome"] == "incomplete" and first[stack]["error"], stack
        assert first[stack]["file"] is None
    assert out.startswith("drill --all: INCOMPLETE — 3 unit(s) of 2 environment(s): 0 clean, "
                          "1 with findings, 2 incomplete, 0 not run")
    dev_records = len(_records(evidence / "dev"))
    # fixed: only the units that could not run run again; dev's drill is not repeated
    (evidence / "staging").unlink()
    code, out, err = _drill_all(capsys, sb, envs, "--resume", str(run_dir / "estate.json"))
    assert code == 1, err  # dev's failed drill stands
    assert "drill --all: 2 of 3 unit(s)" in err
    again = units(run_dir)
    assert {s: u["outcome"] for s, u in again.items()} == {
        "dev-aws": "findings", "staging-aws": "clean", "staging-gcp": "clean"}
    assert again["dev-aws"]["sha256"] == first["dev-aws"]["sha256"]
    assert len(_records(evidence / "dev")) == dev_records
    assert summary(run_dir)["finished"] is True


@pytest.mark.parametrize(("args", "message"), [
    (["--all", "--output-dir", "x", "--key", "code-signing"],
     "--key applies to one environment, not to --all"),
    (["--all", "--output-dir", "x", "--history"],
     "--history applies to one environment, not to --all"),
    (["--all", "--output-dir", "x", "--drill-subnet", "subnet-1"],
     "--drill-subnet applies to one environment, not to --all"),
    (["prod", "--all", "--output-dir", "x"],
     "--all runs every stack of the inventory; give ENV or --all, not both (got ENV prod)"),
    (["prod", "--output-dir", "x"], "--output-dir applies to --all only"),
    (["--all", "--output-dir", "x", "--format", "markdown", "--shard", "0/2"],
     "--shard i must be between 1 and N (2), got 0 in '0/2'"),
])
def test_fails_options_that_do_not_go_with_all_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str],
        message: str) -> None:
    args = [a if a != "x" else str(tmp_path / "run") for a in args]
    code, out, err = run_cli(capsys, "drill", *args, "-d", str(EXAMPLE_ENVIRONMENTS),
                             "--endpoint-url", "http://127.0.0.1:9")
    assert code == 2 and out == "" and "Traceback" not in err
    assert message in err
    assert not (tmp_path / "run").exists()


def test_fails_resume_without_all_exit_2(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    state = tmp_path / "estate.json"
    state.write_text("{}")
    code, _, err = run_cli(capsys, "drill", "prod", "-d", str(EXAMPLE_ENVIRONMENTS),
                           "--endpoint-url", "http://127.0.0.1:9", "--resume", str(state))
    assert code == 2 and "error KP940: --resume applies to --all only" in err
