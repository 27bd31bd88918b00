"""Which `terraform show -json` files the gate reads: format versions and text encodings."""

from __future__ import annotations

import codecs
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from keyplane.cli import main
from keyplane.policy.api import check
from keyplane.policy.errors import CheckInputError
from keyplane.policy.inputs.jsonload import read_json
from tests.policy.policy_support import AS_OF, FIXTURES

PLANS = FIXTURES / "plans"
DESTROY = PLANS / "destroy.plan.json"


def destroy_plan() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DESTROY.read_text(encoding="utf-8"))
    return doc


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def findings(path: Path) -> list[tuple[str, str, str, str]]:
    report = check([path], on=AS_OF)
    return sorted((f.rule_id, f.address, f.status.value, f.reason) for f in report.findings)


def as_0_2(doc: dict[str, Any]) -> dict[str, Any]:
    """The same plan as terraform 1.0 writes it: format_version 0.2."""
    old = copy.deepcopy(doc)
    old["format_version"], old["terraform_version"] = "0.2", "1.0.11"
    for key in ("timestamp", "applyable", "complete", "errored"):  # newer than 1.0
        old.pop(key, None)
    return old


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(["check", "--as-of", AS_OF.isoformat(), *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return int(exc.value.code or 0), out + err


def input_error(path: Path) -> CheckInputError:
    with pytest.raises(CheckInputError) as exc:
        check([path], on=AS_OF)
    return exc.value


# format_version


def test_a_0_2_plan_reads_exactly_like_the_same_plan_in_1_2(tmp_path):
    new = write(tmp_path / "new.plan.json", destroy_plan())
    old = write(tmp_path / "old.plan.json", as_0_2(destroy_plan()))
    expected = [(r, a, s, m) for r, a, s, m in findings(new)]
    assert findings(old) == expected
    assert ("lifecycle_destroy_blocked", "aws_kms_key.fail_delete", "FAIL",
            "the plan would delete this aws_kms_key") in expected


def test_a_0_2_plan_has_no_warning_and_fails_the_gate_like_1_2(tmp_path, capsys):
    old = write(tmp_path / "plan.json", as_0_2(destroy_plan()))
    code, out = run_cli(capsys, str(old), "--format", "json")
    report = json.loads(out)
    assert (code, report["warnings"], report["gate"]) == (1, [], "fail")


def test_a_0_1_plan_that_marks_unknown_and_sensitive_values_is_read(tmp_path):
    doc = as_0_2(destroy_plan())
    doc["format_version"] = "0.1"
    assert findings(write(tmp_path / "plan.json", doc)) == \
        findings(write(tmp_path / "new.plan.json", destroy_plan()))


def test_fails_unsupported_major_2_0_naming_what_is_supported(capsys):
    code, out = run_cli(capsys, str(PLANS / "major_2.plan.json"), "--format", "json")
    err = json.loads(out)
    assert (code, err["error"]) == (2, "KP503")
    assert err["message"] == ("plan format_version 2.0 is not supported; supported: "
                              "1.x (terraform >= 1.1), 0.1 and 0.2 (terraform 0.12 to 1.0)")
    assert err["problems"][0]["path"] == "format_version"


@pytest.mark.parametrize("version", ["0.0", "0.3", "3.1"])
def test_fails_other_format_versions(tmp_path, version):
    doc = destroy_plan()
    doc["format_version"] = version
    exc = input_error(write(tmp_path / "plan.json", doc))
    assert (exc.code, exc.message) == (
        "KP503", f"plan format_version {version} is not supported; supported: "
                 "1.x (terraform >= 1.1), 0.1 and 0.2 (terraform 0.12 to 1.0)")


@pytest.mark.parametrize(("key", "what", "index"), [
    ("after_sensitive", "sensitive", 7),   # aws_kms_key.pass_update: before and after
    ("after_unknown", "unknown", 7),
    ("before_sensitive", "sensitive", 0),  # aws_kms_key.fail_delete: before only
])
def test_fails_a_0_2_plan_that_does_not_mark_unknown_or_sensitive_values(tmp_path, key, what,
                                                                         index):
    doc = as_0_2(destroy_plan())
    doc["resource_changes"][index]["change"].pop(key)
    exc = input_error(write(tmp_path / "plan.json", doc))
    assert (exc.code, exc.message, exc.path) == (
        "KP505", f"plan format_version 0.2 has no {key}, so which values are {what} cannot "
                 "be told; plan with terraform >= 1.1", f"resource_changes[{index}].change.{key}")


def test_a_1_2_plan_without_those_marks_is_still_read(tmp_path):
    doc = destroy_plan()
    doc["resource_changes"][7]["change"].pop("after_sensitive")
    assert ("lifecycle_destroy_blocked", "aws_kms_key.fail_delete", "FAIL",
            "the plan would delete this aws_kms_key") in findings(write(tmp_path / "p.json", doc))


def test_fails_a_0_2_plan_with_planned_values_but_no_resource_changes(tmp_path):
    doc = as_0_2(destroy_plan())
    del doc["resource_changes"]
    exc = input_error(write(tmp_path / "plan.json", doc))
    assert (exc.code, exc.message, exc.path) == (
        "KP505", "plan format_version 0.2 lists resources in planned_values but has no "
                 "resource_changes; a 0.x plan is read from resource_changes only",
        "resource_changes")


def test_an_empty_0_2_plan_yields_no_findings(tmp_path):
    doc = {"format_version": "0.2", "terraform_version": "1.0.11",
           "planned_values": {"root_module": {}}, "configuration": {"root_module": {}}}
    assert findings(write(tmp_path / "plan.json", doc)) == []


# encodings


@pytest.mark.parametrize(("encoding", "mark"), [
    ("utf-8", b""),
    ("utf-8", codecs.BOM_UTF8),
    ("utf-16-le", codecs.BOM_UTF16_LE),   # PowerShell 5: terraform show -json > plan.json
    ("utf-16-be", codecs.BOM_UTF16_BE),
])
def test_reads_each_supported_encoding(tmp_path, encoding, mark):
    text = DESTROY.read_text(encoding="utf-8")
    path = tmp_path / "plan.json"
    path.write_bytes(mark + text.encode(encoding))
    assert read_json(path) == json.loads(text)
    assert findings(path) == findings(DESTROY)


def test_json_errors_in_utf_16_are_located_in_characters(tmp_path):
    path = tmp_path / "plan.json"
    path.write_bytes(codecs.BOM_UTF16_LE + '{\n  "format_version": ,\n}'.encode("utf-16-le"))
    exc = input_error(path)
    assert (exc.code, exc.message, exc.file, exc.line, exc.column) == (
        "KP502", "not valid json: expecting value; the gate fails closed", str(path), 2, 21)


@pytest.mark.parametrize(("mark", "name", "hex_mark"), [
    (codecs.BOM_UTF32_LE, "utf-32-le", "ff fe 00 00"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "00 00 fe ff"),
])
def test_fails_utf_32(tmp_path, mark, name, hex_mark):
    path = tmp_path / "plan.json"
    path.write_bytes(mark + "{}".encode(name))
    exc = input_error(path)
    assert (exc.code, exc.message, exc.file, exc.line, exc.column) == (
        "KP502", f"file is {name} (byte order mark {hex_mark}); expected utf-8, or utf-16 "
                 "with a byte order mark", str(path), 1, 1)


def test_fails_utf_16_without_a_byte_order_mark(tmp_path):
    path = tmp_path / "plan.json"
    path.write_bytes('{"format_version": "1.2"}'.encode("utf-16-le"))
    exc = input_error(path)
    assert (exc.code, exc.message, exc.file, exc.line, exc.column) == (
        "KP502", "file has nul bytes (utf-16 or utf-32 without a byte order mark?); expected "
                 "utf-8, or utf-16 with a byte order mark", str(path), 1, 2)


def test_fails_truncated_utf_16(tmp_path):
    path = tmp_path / "plan.json"
    path.write_bytes(codecs.BOM_UTF16_LE + "{}".encode("utf-16-le") + b"\x0a")
    exc = input_error(path)
    assert (exc.code, exc.message, exc.line, exc.column) == (
        "KP502", "file is not valid utf-16-le (truncated data at byte 6); expected terraform "
                 "json", 1, 3)


def test_fails_latin_1_naming_the_byte_and_its_position(tmp_path):
    path = tmp_path / "plan.json"
    path.write_bytes('{\n  "description": "clé"\n}'.encode("latin-1"))
    exc = input_error(path)
    assert (exc.code, exc.message, exc.file, exc.line, exc.column) == (
        "KP502", "file is not valid utf-8 (byte 0xe9); expected terraform json", str(path), 2, 21)


def test_an_encoding_error_is_a_coded_cli_error_naming_the_file(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_bytes(codecs.BOM_UTF32_LE + "{}".encode("utf-32-le"))
    code, out = run_cli(capsys, str(path))
    assert code == 2
    assert f"{path}:1:1: KP502 file is utf-32-le (byte order mark ff fe 00 00); expected " \
           "utf-8, or utf-16 with a byte order mark" in out
