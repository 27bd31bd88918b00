"""`post-apply --all` over worker processes: every unit once, a dead worker never clean, and
the same reports as a run in one process.

The scheduler is tested with work functions of this module (spawned workers import it by
name, as they import `keyplane.commands.post_apply.post_apply_unit`); the command is tested
against the sandbox (moto over HTTP, the Cloud KMS fake over gRPC), which the workers reach
from their own processes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.estate.processes import run_units_in_processes, split
from keyplane.estate.run import UNIT_SETUP_FAILED, Unit, UnitResult
from keyplane.sandbox.server import Sandbox
from keyplane.schema import validate
from tests.commands.estate_support import apply_estate, estate_copy, post_apply_all, units
from tests.sandbox.helpers import start_sandbox


def _units(n: int) -> list[Unit]:
    return [Unit(environment=f"e{i:02d}", cloud="aws", account=f"{i:012d}", region="eu-west-1")
            for i in range(n)]


def report_pid(unit: Unit, partial: Path | None, marker: str, run_dir: Path) -> UnitResult:
    """Work that says which process ran it; `e03` raises a plain error."""
    if unit.environment == "e03":
        raise RuntimeError("a defect in one unit")
    return UnitResult(unit=unit, outcome="clean", exit_code=0,
                      summary={"pid": os.getpid(), "marker": len(marker)},
                      file=f"{run_dir.name}/{unit.file}")


def die_on_e02(unit: Unit, partial: Path | None, run_dir: Path) -> UnitResult:
    """Work whose worker process dies (as if killed) when it reaches `e02`."""
    if unit.environment == "e02":
        os._exit(7)
    return UnitResult(unit=unit, outcome="clean", exit_code=0, file=unit.file)


def test_split_deals_units_round_robin_with_no_empty_share() -> None:
    shares = split(_units(5), 3)
    assert [[u.environment for u in s] for s in shares] == [["e00", "e03"], ["e01", "e04"],
                                                            ["e02"]]
    assert len(split(_units(2), 4)) == 2


def test_each_unit_ends_once_in_one_of_the_workers(tmp_path: Path) -> None:
    got: list[UnitResult] = []
    run_units_in_processes(_units(8), report_pid, args=("abc", tmp_path), processes=2,
                           per_process=2, on_result=got.append)
    assert sorted(r.unit.stack for r in got) == sorted(u.stack for u in _units(8))
    ok = [r for r in got if r.outcome == "clean"]
    assert {r.summary["marker"] for r in ok} == {3}  # the arguments reached the workers
    assert {r.file for r in ok} == {f"{tmp_path.name}/{r.unit.file}" for r in ok}
    pids = {r.summary["pid"] for r in ok}
    assert len(pids) == 2 and os.getpid() not in pids
    failed = next(r for r in got if r.unit.environment == "e03")  # the worker's own guard
    assert failed.outcome == "incomplete" and failed.error is not None
    assert failed.error["code"] == UNIT_SETUP_FAILED
    assert "RuntimeError: a defect in one unit" in failed.error["message"]


def test_a_worker_that_dies_leaves_its_units_incomplete_never_clean(tmp_path: Path) -> None:
    got: dict[str, UnitResult] = {}

    def take(result: UnitResult) -> None:
        assert result.unit.stack not in got, "a unit ended twice"
        got[result.unit.stack] = result

    # worker 0 gets e00, e02, e04: it finishes e00 and dies on e02; worker 1 finishes its own
    run_units_in_processes(_units(6), die_on_e02, args=(tmp_path,), processes=2, per_process=1,
                           on_result=take)
    assert set(got) == {u.stack for u in _units(6)}
    assert {s for s, r in got.items() if r.outcome == "clean"} - {"e00-aws"} == {
        "e01-aws", "e03-aws", "e05-aws"}
    # e00 ended before the worker died, but its result may have died with the worker (a
    # queue is flushed by a thread the kill stops): then it is incomplete too, never lost
    dead = ["e02-aws", "e04-aws"] + ([] if got["e00-aws"].outcome == "clean" else ["e00-aws"])
    for stack in dead:
        error = got[stack].error
        assert got[stack].outcome == "incomplete" and error is not None
        assert error["code"] == UNIT_SETUP_FAILED and "exit code 7" in error["message"]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.mark.integration
def test_worker_processes_write_the_reports_one_process_writes(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, synth, _ = estate_copy(tmp_path, ("dev", "prod"))
    apply_estate(sb, envs, synth)
    one, two = tmp_path / "one", tmp_path / "two"
    code_one, _, err = post_apply_all(capsys, sb, envs, synth, "--output-dir", str(one),
                                      "--estate-processes", "1")
    assert code_one in (0, 1), err
    code_two, out, err = post_apply_all(capsys, sb, envs, synth, "--output-dir", str(two),
                                        "--estate-processes", "2", "--format", "json")
    assert code_two == code_one, err
    assert "4 at once in 2 processes" in err
    assert json.loads(out)["settings"]["estate_processes"] == 2
    validate(json.loads(out), "estate-run")
    validate(json.loads((two / "estate.json").read_text()), "estate-run")
    a, b = units(one), units(two)
    assert set(a) == set(b) == {"dev-aws", "dev-gcp", "prod-aws", "prod-gcp"}
    for stack in a:
        assert (a[stack]["outcome"], a[stack]["summary"]) == (b[stack]["outcome"],
                                                              b[stack]["summary"]), stack
        mine = json.loads((one / f"{stack}.json").read_text())
        theirs = json.loads((two / f"{stack}.json").read_text())
        for field in ("findings", "unknowns", "checked", "matched", "access"):
            assert mine[field] == theirs[field], (stack, field)
    # the workers' audit events are in the run's audit log, under the run's id
    events = [json.loads(line) for line in
              (tmp_path / "audit" / "events.jsonl").read_text().splitlines()]
    run_id = json.loads(out)["settings"]["run_id"]
    assert {e["environment"] for e in events if e["run_id"] == run_id} == {"dev", "prod", None}


def test_fails_estate_processes_without_all_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from keyplane.output import set_format
    from tests.conftest import EXAMPLE_ENVIRONMENTS
    from tests.sandbox.helpers import run_cli

    set_format("text")  # as a new process starts; an earlier in-process run may have set json

    code, out, err = run_cli(capsys, "post-apply", "dev", "--estate-processes", "2", "-d",
                             str(EXAMPLE_ENVIRONMENTS), "--endpoint-url", "http://127.0.0.1:9",
                             "--gcp-endpoint", "127.0.0.1:9", "--format", "text")
    assert code == 2 and out == "" and "Traceback" not in err
    assert ("keyplane: error KP940: --estate-processes applies to --all only; add --all to run "
            "every stack") in err


def test_a_small_estate_runs_in_one_process_a_large_one_on_every_cpu(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from keyplane.commands import post_apply

    monkeypatch.setattr(post_apply.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3},
                        raising=False)
    assert [post_apply.default_processes(n) for n in (1, 6, 19, 20, 35, 200)] == [
        1, 1, 1, 2, 3, 4]
