"""What `keyplane report --post-apply-dir` reads: the directories of `post-apply --all` runs.

A run directory holds one report per unit (`<env>-<cloud>.json`, exactly what
`post-apply ENV --cloud C --format json` writes) and `estate.json`, which lists every unit with
its outcome and the sha256 of its report. The report reads the units through estate.json
only, and refuses a unit report that changed since the run wrote it: what the evidence page
shows is what the run found.

Several directories (one per shard, or reruns) are read together. Per environment and cloud
the newest report wins; then each environment's units (its AWS and its GCP stack) are merged
into one report of the same schema as `post-apply ENV` (`keyplane.estate.run.
merge_unit_reports`), so both clouds of an environment are shown, which per-stack files given
with `--post-apply-json` cannot do (the newer run of a section would hide the other cloud).

A unit that did not run (its setup failed, or the run was stopped before it) is not left out:
it becomes an UNKNOWN of its cloud in its environment's report (`read.state` on the stack,
with the unit's error), so the controls it should have proven read as unknown, never as met.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyplane.audit.report.errors import (
    REPORT_INPUT_NOT_JSON,
    REPORT_INPUT_SHAPE,
    REPORT_INPUT_UNREADABLE,
    ReportInputError,
)
from keyplane.audit.report.inputs import InputFile, PostApplyRun, describe, post_apply_run
from keyplane.documents import DocumentError, loads
from keyplane.estate.run import SUMMARY_FILE, UnitResult, merge_unit_reports, read_summary
from keyplane.findings import SCHEMA_VERSION, RunOutcome

# What a placeholder of `post-apply` stands in for (keyplane.postapply's sections).
SECTIONS = ["rotation", "drift", "access-review"]


@dataclass(frozen=True)
class _Unit:
    """One unit report as read (or the placeholder of a unit that did not run)."""

    environment: str
    cloud: str
    started_at: str
    doc: dict[str, Any]
    file: InputFile | None  # None: a placeholder


def _read(path: Path, what: str) -> tuple[Any, bytes]:
    """`path` parsed, and its bytes; ReportInputError naming it otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ReportInputError(f"cannot read the {what}: {exc.strerror or exc}",
                               code=REPORT_INPUT_UNREADABLE, file=str(path)) from None
    try:
        return loads(raw.decode("utf-8-sig")), raw
    except UnicodeDecodeError as exc:
        raise ReportInputError(f"the {what} is not utf-8 text (byte {exc.start})",
                               code=REPORT_INPUT_UNREADABLE, file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"the {what} is not valid json: {exc.msg.lower()}",
                               code=REPORT_INPUT_NOT_JSON, file=str(path), line=exc.lineno,
                               column=exc.colno) from None
    except DocumentError as exc:
        raise ReportInputError(f"the {what} cannot be read: {exc.where()}",
                               code=REPORT_INPUT_SHAPE, file=str(path)) from None


def _summary_path(given: Path) -> Path:
    """The estate.json of a run directory (or the file itself)."""
    path = given / SUMMARY_FILE if given.is_dir() else given
    if not path.is_file():
        what = ("holds no estate.json" if given.is_dir() else "does not exist")
        raise ReportInputError(f"--post-apply-dir {given} {what}: give a directory "
                               "`keyplane post-apply --all --output-dir` wrote, or its "
                               "estate.json", code=REPORT_INPUT_UNREADABLE, file=str(given))
    return path


def _placeholder(result: UnitResult, command: str, started_at: str, where: Path) -> dict[str, Any]:
    """The report of a unit that did not run: one UNKNOWN for its stack, with why."""
    if result.error:
        why = f"did not run: {result.error.get('code')} {result.error.get('message')}"
    else:
        why = "did not run (the run was stopped before it)"
    unknown = {"rule_id": "read.state", "outcome": "UNKNOWN", "severity": "info",
               "resource": result.unit.stack, "resource_type": "", "area": "",
               "reason": f"{command} {result.unit.stack} {why} ({where})",
               "control": None, "cloud": result.unit.cloud,
               "environment": result.unit.environment}
    return {"schema_version": SCHEMA_VERSION, "kind": "post-apply", "command": command,
            "environment": result.unit.environment,
            "outcome": RunOutcome.INCOMPLETE.value, "exit_code": 3,
            "started_at": result.started_at or started_at, "sections": list(SECTIONS),
            "stopped": None, "summary": {"findings": 0, "acknowledged": 0, "unknown": 1,
                                         "checked": 0},
            "findings": [], "unknowns": [unknown], "checked": [], "access": [],
            "matched": {}, "drafts": [], "unmatched_known_drift": [], "notes": []}


def _units_of(given: Path) -> tuple[list[_Unit], list[InputFile]]:
    """The unit reports of one run directory, each checked against estate.json."""
    path = _summary_path(given)
    data, raw = _read(path, "estate.json")
    try:
        command, _, results = read_summary(data, where="this file")
    except ValueError as exc:
        raise ReportInputError(str(exc), code=REPORT_INPUT_SHAPE, file=str(path)) from None
    if command != "post-apply":
        raise ReportInputError(f"this is the estate.json of `{command} --all`, not of "
                               "`post-apply --all`; a drill run's evidence is read with "
                               "--evidence-dir", code=REPORT_INPUT_SHAPE, file=str(path))
    started_at = str(data.get("started_at") or "")
    inputs = [describe(path, "post-apply", raw)]
    units: list[_Unit] = []
    for r in results:
        if r.file is None:
            units.append(_Unit(r.unit.environment, r.unit.cloud, "",
                               _placeholder(r, command, started_at, path), None))
            continue
        unit_path = path.parent / r.file
        doc, unit_raw = _read(unit_path, f"report of unit {r.unit.stack}")
        if r.sha256 is not None and hashlib.sha256(unit_raw).hexdigest() != r.sha256:
            raise ReportInputError(f"the report of unit {r.unit.stack} changed after the run "
                                   f"wrote it (its sha256 is not the one {path} records); "
                                   "run the unit again (`--resume`) rather than edit it",
                                   code=REPORT_INPUT_SHAPE, file=str(unit_path))
        if not isinstance(doc, Mapping) or doc.get("environment") != r.unit.environment:
            raise ReportInputError(f"not the report of unit {r.unit.stack}: expected a "
                                   f"post-apply json report of environment "
                                   f"{r.unit.environment}", code=REPORT_INPUT_SHAPE,
                                   file=str(unit_path))
        info = describe(unit_path, "post-apply", unit_raw)
        inputs.append(info)
        units.append(_Unit(r.unit.environment, r.unit.cloud, str(doc.get("started_at") or ""),
                           dict(doc), info))
    return units, inputs


def read_run_dirs(paths: Sequence[Path]) -> tuple[list[PostApplyRun], list[InputFile]]:
    """(one merged run per environment, every file read) of the run directories `paths`."""
    newest: dict[tuple[str, str], _Unit] = {}
    inputs: list[InputFile] = []
    for given in paths:
        units, files = _units_of(given)
        inputs += files
        for u in units:
            key = (u.environment, u.cloud)
            cur = newest.get(key)
            # a report beats a placeholder; of two reports (or two placeholders) the newer
            if cur is None or (u.file is not None, u.started_at) >= \
                    (cur.file is not None, cur.started_at):
                newest[key] = u
    by_env: dict[str, list[_Unit]] = {}
    for (env, _), u in sorted(newest.items()):
        by_env.setdefault(env, []).append(u)
    runs = []
    for env, units in by_env.items():
        try:
            merged = merge_unit_reports([u.doc for u in units])
        except ValueError as exc:
            where = " + ".join(u.file.path for u in units if u.file)
            raise ReportInputError(f"the units of environment {env} cannot be merged: {exc}",
                                   code=REPORT_INPUT_SHAPE, file=where) from None
        real = [u.file for u in units if u.file is not None]
        file = real[0] if len(real) == 1 and len(units) == 1 else InputFile(
            kind="post-apply", path=" + ".join(u.file.path if u.file else
                                               f"{env}-{u.cloud} (did not run)"
                                               for u in units),
            sha256=None, modified=max((f.modified for f in real if f.modified),
                                      default=dt.datetime.now(dt.UTC).date()))
        runs.append(post_apply_run(merged, file))
    return runs, inputs
