"""Inputs that used to end in exit 70 ("internal error"): each is now a coded error, pinned.

tests/test_fuzz_inputs.py generates such inputs; these are the ones found, kept with the
exact message a user sees.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from keyplane.cli import main
from keyplane.documents import MAX_DEPTH, DocumentError, loads, problem
from keyplane.postapply import acks
from tests.conftest import EXAMPLE_ENVIRONMENTS


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    assert isinstance(exc.value.code, int)
    return exc.value.code, out, err


def test_fails_check_on_json_nested_1000_deep(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text("[" * 1000 + "]" * 1000)
    code, _, err = _run(capsys, "check", str(plan))
    assert (code, err) == (2, f"{plan}: KP505 json cannot be read: nested deeper than 200 levels;"
                              " the gate fails closed\n")
    code, out, _ = _run(capsys, "check", str(plan), "--format", "json")
    assert code == 2 and json.loads(out)["error"] == "KP505"


def test_fails_check_on_a_plan_nested_deeper_than_the_limit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH  # json.loads reads it; walking it would not be safe
    plan.write_text(f'{{"format_version": "1.2", "resource_changes": {deep}}}')
    code, _, err = _run(capsys, "check", str(plan))
    assert (code, err) == (2, f"{plan}: KP505 json cannot be read: nested deeper than 200 levels;"
                              " the gate fails closed (resource_changes[0][0][0][0][0][0][0]...)\n")


def test_fails_check_on_a_5000_digit_number(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"format_version": "1.2", "planned_values": ' + "1" * 5000 + "}")
    code, _, err = _run(capsys, "check", str(plan))
    assert (code, err) == (2, f"{plan}: KP505 json cannot be read: a number has 5000 digits; at "
                              "most 4300 are read; the gate fails closed\n")


def test_fails_check_on_actions_that_are_not_strings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "resource_changes": [
        {"address": "aws_kms_key.k", "type": "aws_kms_key", "change": {"actions": [["create"]]}}]}))
    code, _, err = _run(capsys, "check", str(plan))
    assert (code, err) == (2, f"{plan}: KP505 change.actions must be a list of strings, got list "
                              "items (resource_changes[0].change.actions)\n")


@pytest.mark.parametrize(("text", "where", "why"), [
    ("- &a [*a]\n", ":1:3", "a value contains itself (a yaml alias inside its own anchor)"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcde", "bcdef", strict=True))
     + "g: [*f, *f, *f, *f]\n", ":1:32",
     "expands to more than 200000 values (yaml aliases repeated inside each other?)"),
    ("name: " + "1" * 5000 + "\n", "", None),
])
def test_fails_validate_on_yaml_that_does_not_become_data(
        text: str, where: str, why: str | None, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    envs = tmp_path / "envs"
    envs.mkdir()
    (envs / "prod.yaml").write_text(text)
    code, _, err = _run(capsys, "validate", "-d", str(envs))
    first = err.splitlines()[0]
    assert code == 2 and first.startswith(f"{envs / 'prod.yaml'}{where}: KP101 yaml "), err
    if why is not None:
        assert first.endswith(f"yaml cannot be read: {why}")
    assert "Traceback" not in err and "use sys." not in err


def test_fails_validate_on_a_timestamp_that_is_no_date(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs = tmp_path / "envs"
    envs.mkdir()
    (envs / "prod.yaml").write_text("name: prod\ncreated: 2025-13-45\n")
    code, _, err = _run(capsys, "validate", "-d", str(envs))
    assert (code, err.splitlines()[0]) == (
        2, f"{envs / 'prod.yaml'}: KP101 yaml value cannot be read: month must be in 1..12")


@pytest.mark.parametrize(("record", "why"), [
    ("[]", "a record must be a json object, got an array"),
    ("null", "a record must be a json object, got null"),
    ('"a string"', "a record must be a json object, got a string"),
    ('{"run_id": "r"}', "the record has no 'environment'"),
])
def test_fails_drill_history_and_report_on_a_record_that_is_not_one(
        record: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ev = tmp_path / "evidence"
    ev.mkdir()
    (ev / "a.json").write_text(record)
    code, _, err = _run(capsys, "drill", "prod", "-d", str(EXAMPLE_ENVIRONMENTS), "--history",
                        "--evidence-location", str(ev))
    assert (code, err) == (2, f"keyplane: error KP802: unreadable evidence record {ev}/a.json: "
                              f"{why}\n")
    code, _, err = _run(capsys, "report", "prod", "-d", str(EXAMPLE_ENVIRONMENTS),
                        "--evidence-dir", str(ev), "--output", str(tmp_path / "r.html"))
    assert (code, err) == (2, f"{ev}: KP814 unreadable evidence record {ev}/a.json: {why}\n")


def test_fails_report_on_a_field_of_the_wrong_type(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    ev = tmp_path / "evidence"
    ev.mkdir()
    record = {"run_id": "r", "environment": "prod", "kind": "backup", "key": "k",
              "generation": 1, "tier": "production", "started_at": "2026-01-01T00:00:00Z",
              "ended_at": "2026-01-01T00:01:00Z", "outcome": "PASSED", "reason": "ok",
              "identity": "ci", "rto_seconds": [1], "deadline_seconds": 60}
    (ev / "a.json").write_text(json.dumps(record))
    code, _, err = _run(capsys, "report", "prod", "-d", str(EXAMPLE_ENVIRONMENTS),
                        "--evidence-dir", str(ev), "--output", str(tmp_path / "r.html"))
    assert (code, err) == (2, f"{ev}: KP814 unreadable evidence record {ev}/a.json: "
                              "'rto_seconds' must be a finite number of seconds, got an array\n")


@pytest.mark.parametrize(("pid", "shown"), [(0, "0"), (-1, "-1"), (2**64, str(2**64)),
                                            ("12", "'12'"), (True, "True")])
def test_fails_sandbox_down_on_a_pid_that_names_no_process(
        pid: object, shown: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pid 0 used to pass `os.kill(0, 0)` and then SIGTERM this process's whole group."""
    state = tmp_path / "sandbox.json"
    state.write_text(json.dumps({"aws_endpoint": "http://127.0.0.1:1", "gcp_endpoint": "x:1",
                                 "pid": pid}))
    code, _, err = _run(capsys, "sandbox", "down", "--state-file", str(state))
    assert (code, err) == (2, f"keyplane: error KP606: sandbox state {state} is unreadable: pid "
                              f"must be a process id (1 to 2147483647), got {shown}\n")
    assert state.exists()


def test_known_drift_reads_a_timestamp_as_its_day(tmp_path: Path) -> None:
    path = tmp_path / "kd.yaml"
    path.write_text("- {resource: a, reason: b, owner: c, expires: 2030-01-01 10:00:00}\n")
    (ack,) = acks.load(path)
    assert ack.expires == dt.date(2030, 1, 1) and type(ack.expires) is dt.date


def test_fails_known_drift_with_keys_of_two_types(tmp_path: Path) -> None:
    path = tmp_path / "kd.yaml"
    path.write_text("- {1: a, b: c, resource: a, reason: b, owner: c, expires: 2030-01-01}\n")
    with pytest.raises(acks.KnownDriftError) as exc:
        acks.load(path)
    assert exc.value.message == (f"{path}: entry 0 has unknown field(s) 1, b; allowed: resource, "
                                 "reason, owner, expires, check")


def test_fails_waivers_with_keys_of_two_types(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    synth = tmp_path / "cdk.tf.json"
    synth.write_text('{"resource": {}}')
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("- {1: a, b: c, rule: r, resource: x, owner: o, reason: r, "
                       "expires: 2030-01-01}\n")
    code, _, err = _run(capsys, "check", str(synth), "--waivers", str(waivers))
    assert (code, err.splitlines()[0]) == (
        2, f"{waivers}:1:4: KP510 unknown field '1'; allowed: rule, resource, owner, reason, "
           "expires ([0][1])")


def test_documents_refuse_what_a_walk_could_not_survive() -> None:
    loop: list[object] = []
    loop.append(loop)
    found = problem(loop)
    assert found is not None and found.where() == ("a value contains itself (a yaml alias "
                                                    "inside its own anchor) (at [0])")
    assert problem({"a": [[1]] * 3}) is None
    assert problem([[[]]], max_depth=2) is not None and problem([[]], max_depth=2) is None
    with pytest.raises(DocumentError, match=r"^nested deeper than 200 levels$"):
        loads("[" * 5000 + "]" * 5000)
    with pytest.raises(json.JSONDecodeError):
        loads("[1,")
