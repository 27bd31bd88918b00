"""One command over a whole estate from one runner: units, shards, a bounded pool, a summary.

`keyplane post-apply --all` and `keyplane drill --all` run what `post-apply ENV --cloud C` and
`drill ENV` run, for every stack of the inventory at once. A *unit* is one environment on one
cloud: the same target `keyplane matrix` lists (`<env>-<cloud>`), in the same account and
Region, so a runner that takes `--shard i/N` runs exactly the targets that
`keyplane matrix --shard i/N` lists (the shard is hashed from `keyplane.estate.matrix.shard_key`,
never from the unit's position in the list): many runners split an estate with no
coordination between them.

At most `concurrency` units run at once, each with its own pool of reads. A unit's report is
written (atomically) to `DIR/<env>-<cloud>.json` as soon as the unit ends, and `DIR/estate.json`
is written before the first unit starts, then again as units end (at most once a second) and
when the run ends, so a run that is killed keeps the units it finished, and
`--resume DIR/estate.json` skips them (one that ended after the last write runs again).
Nothing of a unit is kept in memory once its report is on disk but its summary line: memory
does not grow with the estate.

A unit whose setup fails (no synthesized stack, refused AssumeRole, wrong account, any error)
is recorded with its error code and message as incomplete, and the other units go on. The run's
exit code is the worst of its units: 3 when one is incomplete (or never ran), else 1 when one
has findings, else 0.

`merge_unit_reports` folds the unit reports of one environment (its AWS and its GCP stack) into
one report of exactly the schema of `keyplane post-apply ENV --format json`, which is how
`keyplane report` reads the directories of one or many such runs.

Pure orchestration: the command layer hands in the function that runs one unit and the one
that writes a file; nothing here reads a cloud or imports an SDK.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyplane.errors import KeyplaneError
from keyplane.estate.matrix import Target, shard_key
from keyplane.estate.shard import select_shard
from keyplane.findings import SCHEMA_VERSION, RunOutcome, Severity

SUMMARY_FILE = "estate.json"
KIND = "estate-run"
DEFAULT_UNITS_AT_ONCE = 4
MAX_UNITS_AT_ONCE = 64

ESTATE_RUN_INPUT = "KP940"  # --all options that are missing or contradict each other
OUTPUT_DIR_IN_USE = "KP941"  # the output directory already holds another run
RESUME_NOT_A_RUN = "KP942"  # --resume with --all names no estate.json of the same command/shard
UNIT_SETUP_FAILED = "KP943"  # an unexpected error stopped one unit (recorded, never raised)
# KP944-KP949 are reserved for bulk runs.

PENDING = "pending"  # a unit that has not ended (the run is going on, or was killed)
_RANK = {RunOutcome.CLEAN.value: 0, RunOutcome.FINDINGS.value: 1,
         RunOutcome.INCOMPLETE.value: 2, PENDING: 3}


class EstateRunError(KeyplaneError):
    """A bulk run cannot start as asked (exit 2): the message names the option and the fix."""

    code = ESTATE_RUN_INPUT


# ---- units -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """One environment on one cloud: one stack, one account (or project), one report."""

    environment: str
    cloud: str
    account: str
    region: str

    @property
    def stack(self) -> str:
        """`prod-aws`: the stack `keyplane synth` writes, and the name of the unit's report."""
        return f"{self.environment}-{self.cloud}"

    @property
    def shard_key(self) -> str:
        """What the unit's shard is hashed from: the key `keyplane matrix` shards by."""
        return shard_key(self.environment, self.cloud, self.region)

    @property
    def file(self) -> str:
        """The unit's report, relative to the run's directory."""
        return f"{self.stack}.json"

    def to_dict(self) -> dict[str, str]:
        """The unit's fields in the summary."""
        return {"environment": self.environment, "cloud": self.cloud, "stack": self.stack,
                "account": self.account, "region": self.region}


def units_of(targets: Iterable[Target]) -> list[Unit]:
    """The units of `keyplane matrix`'s targets, in their order."""
    return [Unit(environment=t.environment, cloud=t.cloud.value, account=t.account,
                 region=t.region) for t in targets]


def select(units: Sequence[Unit], shard: str | None) -> list[Unit]:
    """The units of shard `shard` ("i/N"), chosen exactly as `keyplane matrix --shard` chooses
    targets; all of them without a shard. A malformed selector is KP923."""
    if shard is None:
        return list(units)
    return select_shard(units, shard, key=lambda u: u.shard_key, option="--shard")


# ---- results ---------------------------------------------------------------------------------

@dataclass
class UnitResult:
    """What the summary keeps of one unit: its outcome, counts and where its report is."""

    unit: Unit
    outcome: str  # clean | findings | incomplete | pending
    exit_code: int | None = None
    summary: dict[str, int] = field(default_factory=dict)
    file: str | None = None  # relative to the run's directory
    sha256: str | None = None  # of the report as written
    started_at: str | None = None
    seconds: float | None = None
    stopped: str | None = None  # why the unit's run stopped early (expired credentials)
    error: dict[str, str] | None = None  # {"code", "message"}: the unit could not run
    resumed: bool = False  # continued from the report of an earlier, incomplete run

    @classmethod
    def failed(cls, unit: Unit, *, code: str, message: str, seconds: float | None = None,
               started_at: str | None = None) -> UnitResult:
        """A unit that could not run: incomplete, with its error."""
        return cls(unit=unit, outcome=RunOutcome.INCOMPLETE.value,
                   exit_code=RunOutcome.INCOMPLETE.exit_code, seconds=seconds,
                   started_at=started_at, error={"code": code, "message": message})

    @property
    def finished(self) -> bool:
        """Whether the unit ended with a verdict that a resumed run need not repeat."""
        return self.error is None and self.exit_code in (0, 1) and self.file is not None

    def to_dict(self) -> dict[str, Any]:
        """The unit's line in estate.json."""
        out: dict[str, Any] = {**self.unit.to_dict(), "outcome": self.outcome,
                               "exit_code": self.exit_code, "summary": dict(self.summary),
                               "file": self.file, "sha256": self.sha256,
                               "started_at": self.started_at,
                               "seconds": None if self.seconds is None
                               else round(self.seconds, 3),
                               "stopped": self.stopped, "error": self.error}
        if self.resumed:
            out["resumed"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnitResult:
        """A unit's line of an earlier estate.json (ValueError when it is not one)."""
        try:
            unit = Unit(environment=str(data["environment"]), cloud=str(data["cloud"]),
                        account=str(data["account"]), region=str(data["region"]))
            summary = data.get("summary") or {}
            code = data.get("exit_code")
            error = data.get("error")
            return cls(unit=unit, outcome=str(data["outcome"]),
                       exit_code=code if isinstance(code, int) else None,
                       summary={str(k): int(v) for k, v in summary.items()},
                       file=_opt(data.get("file")), sha256=_opt(data.get("sha256")),
                       started_at=_opt(data.get("started_at")),
                       seconds=float(data["seconds"]) if isinstance(
                           data.get("seconds"), int | float) else None,
                       stopped=_opt(data.get("stopped")),
                       error={str(k): str(v) for k, v in error.items()}
                       if isinstance(error, Mapping) else None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a unit of an estate run: {exc}") from None


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def digest(text: str) -> str:
    """The sha256 the summary records for a report, so a reader can tell it was not changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def worst(outcomes: Iterable[str]) -> str:
    """The worst of `outcomes` (pending is worst: a unit that never ran proves nothing)."""
    return max(outcomes, key=lambda o: _RANK.get(o, 3), default=RunOutcome.CLEAN.value)


def exit_code_of(outcome: str) -> int:
    """0 clean, 1 findings, 3 incomplete or pending."""
    return {RunOutcome.CLEAN.value: 0, RunOutcome.FINDINGS.value: 1}.get(outcome, 3)


# ---- the summary -----------------------------------------------------------------------------

@dataclass
class Summary:
    """The state of a run, as estate.json holds it: every selected unit, ended or pending."""

    command: str
    shard: str | None
    started_at: str
    settings: dict[str, Any]
    results: dict[str, UnitResult]  # by stack, in the order the units were selected
    finished: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, *, command: str, shard: str | None, units: Sequence[Unit],
              settings: Mapping[str, Any], now: dt.datetime,
              carried: Mapping[str, UnitResult] | None = None) -> Summary:
        """A summary with every unit pending, except those `carried` over from a resumed run."""
        carried = carried or {}
        results = {u.stack: carried.get(u.stack) or UnitResult(unit=u, outcome=PENDING)
                   for u in units}
        return cls(command=command, shard=shard, started_at=_iso(now), settings=dict(settings),
                   results=results)

    @property
    def outcome(self) -> str:
        """The worst outcome of the units (clean for a run that selected none)."""
        return worst(r.outcome for r in self.results.values())

    @property
    def exit_code(self) -> int:
        """The run's exit code."""
        return exit_code_of(self.outcome)

    def counts(self) -> dict[str, int]:
        """Units in all and by outcome (clean, findings, incomplete, pending)."""
        out = {"units": len(self.results)}
        for name in _RANK:
            out[name] = sum(1 for r in self.results.values() if r.outcome == name)
        return out

    def added_up(self) -> dict[str, int]:
        """The units' summaries added up (post-apply: findings, acknowledged, unknown,
        checked; drills: drills, passed, failed, incomplete, evidence)."""
        out: dict[str, int] = {}
        for r in self.results.values():
            for k, v in r.summary.items():
                out[k] = out.get(k, 0) + v
        return out

    def environments(self) -> list[dict[str, Any]]:
        """One line per environment: its units' worst outcome and their counts added up."""
        by_env: dict[str, list[UnitResult]] = {}
        for r in self.results.values():
            by_env.setdefault(r.unit.environment, []).append(r)
        out = []
        for env, results in by_env.items():
            outcome = worst(r.outcome for r in results)
            totals: dict[str, int] = {}
            for r in results:
                for k, v in r.summary.items():
                    totals[k] = totals.get(k, 0) + v
            out.append({"environment": env, "outcome": outcome,
                        "exit_code": exit_code_of(outcome),
                        "units": [r.unit.stack for r in results], "summary": totals,
                        "errors": [f"{r.unit.stack}: {r.error['code']} {r.error['message']}"
                                   for r in results if r.error]})
        return out

    def to_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """estate.json."""
        return {"schema_version": SCHEMA_VERSION, "kind": KIND, "command": self.command,
                "shard": self.shard, "started_at": self.started_at,
                "updated_at": _iso(now or dt.datetime.now(dt.UTC)), "finished": self.finished,
                "outcome": self.outcome, "exit_code": self.exit_code,
                "settings": self.settings, "totals": self.counts(),
                "summary": self.added_up(),
                "environments": self.environments(),
                "units": [r.to_dict() for r in self.results.values()], "notes": self.notes}


def _iso(ts: dt.datetime) -> str:
    return ts.isoformat(timespec="seconds").replace("+00:00", "Z")


def read_summary(data: Any, *, where: str) -> tuple[str, str | None, list[UnitResult]]:
    """(command, shard, unit results) of a parsed estate.json; ValueError naming `where` and
    what is wrong when it is not one."""
    if not isinstance(data, Mapping) or data.get("kind") != KIND:
        raise ValueError(f"{where} is not the estate.json of a `--all` run (expected an object "
                         f"with \"kind\": \"{KIND}\")")
    units = data.get("units")
    if not isinstance(units, list):
        raise ValueError(f"{where} has no 'units' list")
    results = []
    for i, item in enumerate(units):
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: units[{i}] is not an object")
        try:
            results.append(UnitResult.from_dict(item))
        except ValueError as exc:
            raise ValueError(f"{where}: units[{i}] is {exc}") from None
    shard = data.get("shard")
    return str(data.get("command")), (str(shard) if shard is not None else None), results


def carried_over(previous: Sequence[UnitResult], units: Sequence[Unit], out_dir: Path,
                 ) -> tuple[dict[str, UnitResult], dict[str, Path]]:
    """What a resumed run keeps: (finished units, by stack; incomplete units' reports, by
    stack). A unit counts as finished only if its report is still there, unchanged (its
    sha256); an incomplete unit whose report is there continues from it; any other runs
    again from the start."""
    wanted = {u.stack: u for u in units}
    done: dict[str, UnitResult] = {}
    partial: dict[str, Path] = {}
    for r in previous:
        unit = wanted.get(r.unit.stack)
        if unit is None or r.file is None:
            continue
        path = out_dir / r.file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if r.sha256 is not None and digest(text) != r.sha256:
            continue  # changed since: run again rather than vouch for it
        if r.finished:
            done[unit.stack] = UnitResult(**{**r.__dict__, "unit": unit})
        elif r.error is None and r.exit_code == RunOutcome.INCOMPLETE.exit_code:
            partial[unit.stack] = path
    return done, partial


# ---- the scheduler ---------------------------------------------------------------------------

Work = Callable[[Unit, Path | None], UnitResult]


def run_units(units: Sequence[Unit], work: Work, *, concurrency: int,
              on_result: Callable[[UnitResult], None],
              resume_from: Mapping[str, Path] | None = None,
              clock: Callable[[], float] = time.monotonic) -> None:
    """Run `work(unit, partial report or None)` for each unit, at most `concurrency` at once,
    and call `on_result` (in this thread, one at a time) as each ends.

    Units are submitted as slots free up, so nothing of a unit exists before it starts. An
    exception out of `work` ends that unit as incomplete with the error's code and message
    (KP943 and the exception's type for one that is not keyplane's own); the others go on.
    On KeyboardInterrupt no further unit starts; those running finish, their results are
    recorded, and the interrupt goes on.
    """
    if not 1 <= concurrency <= MAX_UNITS_AT_ONCE:
        raise EstateRunError(f"--estate-concurrency must be between 1 and {MAX_UNITS_AT_ONCE}, "
                             f"got {concurrency}")
    resume_from = resume_from or {}

    def guarded(unit: Unit) -> UnitResult:
        started = clock()
        stamp = _iso(dt.datetime.now(dt.UTC))
        try:
            return work(unit, resume_from.get(unit.stack))
        except KeyplaneError as exc:
            return UnitResult.failed(unit, code=exc.code, message=exc.message,
                                     seconds=clock() - started, started_at=stamp)
        except Exception as exc:  # a defect in one unit must not read as clean, nor stop all
            return UnitResult.failed(unit, code=UNIT_SETUP_FAILED,
                                     message=f"internal error: {type(exc).__name__}: {exc}",
                                     seconds=clock() - started, started_at=stamp)

    queue = list(reversed(units))
    running: set[Future[UnitResult]] = set()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="keyplane-unit") as pool:
        try:
            while queue or running:
                while queue and len(running) < concurrency:
                    running.add(pool.submit(guarded, queue.pop()))
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    running.discard(fut)
                    on_result(fut.result())
        except KeyboardInterrupt:
            queue.clear()
            for fut in list(running):
                on_result(fut.result())
            raise


# ---- merging the unit reports of one environment ---------------------------------------------

_SEVERITY_RANK = {s.value: s.rank for s in Severity}


def _outcome_of(doc: Mapping[str, Any]) -> str:
    value = doc.get("outcome")
    return value if isinstance(value, str) and value in _RANK else RunOutcome.INCOMPLETE.value


def _merged_list(docs: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    """The items of list `name` of every document, in document order (a non-list is none)."""
    return [item for d in docs if isinstance(d.get(name), list) for item in d[name]]


def _unique(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def merge_unit_reports(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One environment's unit reports (its stacks, each read by `post-apply ENV --cloud C`) as
    one report of the same schema, as `post-apply ENV` would have written it over both clouds.

    Findings, unknowns, access rows and drafts are put together; `checked` and `matched` are
    the union; the outcome is the worst and `stopped` names every stop; the run started when
    its first unit did. A known-drift entry is unmatched only if no unit matched it. One
    document is returned as it is. ValueError when the documents are not reports of one
    command over one environment.
    """
    if not docs:
        raise ValueError("no report to merge")
    if len(docs) == 1:
        return dict(docs[0])
    envs = {d.get("environment") for d in docs}
    commands = {d.get("command") for d in docs}
    if len(envs) != 1 or len(commands) != 1:
        raise ValueError(f"cannot merge reports of different environments or commands: "
                         f"{sorted(map(str, envs))}, {sorted(map(str, commands))}")
    starts = sorted(str(d["started_at"]) for d in docs if d.get("started_at"))
    outcome = worst(_outcome_of(d) for d in docs)
    findings = sorted(_merged_list(docs, "findings"), key=lambda f: (
        -_SEVERITY_RANK.get(str(f.get("severity")), 0), str(f.get("rule_id")),
        str(f.get("resource"))))
    unknowns = sorted(_merged_list(docs, "unknowns"),
                      key=lambda u: (str(u.get("resource")), str(u.get("reason"))))
    checked = sorted({str(c) for c in _merged_list(docs, "checked")})
    matched: dict[str, Any] = {}
    for d in docs:
        if isinstance(d.get("matched"), Mapping):
            matched.update(d["matched"])
    unmatched = [a for a in _unique(_merged_list(docs, "unmatched_known_drift"))
                 if all(a in (d.get("unmatched_known_drift") or []) for d in docs)]
    stopped = [str(d["stopped"]) for d in docs if d.get("stopped")]
    sums = {k: sum(int((d.get("summary") or {}).get(k) or 0) for d in docs)
            for k in ("findings", "acknowledged")}
    first = docs[0]
    merged: dict[str, Any] = {
        "schema_version": first.get("schema_version", SCHEMA_VERSION),
        "kind": first.get("kind", "post-apply"),
        "command": first.get("command"),
        "environment": first.get("environment"),
        "outcome": outcome,
        "exit_code": exit_code_of(outcome),
        "started_at": starts[0] if starts else None,
        "sections": _unique(s for d in docs for s in (d.get("sections") or [])),
        "stopped": "; ".join(stopped) if stopped else None,
        "summary": {**sums, "unknown": len(unknowns), "checked": len(checked)},
        "findings": findings,
        "unknowns": unknowns,
        "checked": checked,
        "access": _merged_list(docs, "access"),
        "matched": matched,
        "drafts": _merged_list(docs, "drafts"),
        "unmatched_known_drift": unmatched,
        "notes": _unique(str(n) for n in _merged_list(docs, "notes")),
    }
    certs = [d for d in docs if "certs" in (d.get("sections") or [])]
    if certs:  # schema 1.1: each unit's certificates and timeline, of its own cloud's keys
        merged["schema_version"] = certs[0].get("schema_version", SCHEMA_VERSION)
        merged["at"] = next((d["at"] for d in certs if d.get("at")), None)
        merged["certificates"] = _merged_list(certs, "certificates")
        merged["timeline"] = _merged_list(certs, "timeline")
    return merged


# ---- what a person reads -----------------------------------------------------------------

def _counts_text(summary: Mapping[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in summary.items())


def render_text(doc: Mapping[str, Any], out_dir: Path) -> str:
    """The run's summary for a terminal or a CI log: one headline, a line per unit that is not
    clean, where the reports are."""
    totals = doc["totals"]
    shard = f" (shard {doc['shard']})" if doc.get("shard") else ""
    sums = doc.get("summary") or {}
    lines = [f"{doc['command']} --all{shard}: {str(doc['outcome']).upper()} — "
             f"{totals['units']} unit(s) of {len(doc['environments'])} environment(s): "
             f"{totals['clean']} clean, {totals['findings']} with findings, "
             f"{totals['incomplete']} incomplete, {totals[PENDING]} not run"
             + (f"; {_counts_text(sums)}" if sums else "")]
    for u in doc["units"]:
        if u["outcome"] == RunOutcome.CLEAN.value:
            continue
        if u.get("error"):
            why = f"{u['error']['code']} {u['error']['message']}"
        elif u["outcome"] == PENDING:
            why = "did not run"
        else:
            why = _counts_text(u["summary"]) + (f"; stopped: {u['stopped']}"
                                                if u.get("stopped") else "")
        lines.append(f"  {u['outcome'].upper():10} {u['stack']:28} {why}")
    lines += [f"  note: {n}" for n in doc.get("notes", [])]
    lines.append(f"reports: {out_dir}/<env>-<cloud>.json, summary: {out_dir / SUMMARY_FILE}")
    return "\n".join(lines) + "\n"


def render_markdown(doc: Mapping[str, Any], out_dir: Path) -> str:
    """The run's summary for a CI job summary: a headline and a table of the units that are
    not clean."""
    totals = doc["totals"]
    shard = f" (shard {doc['shard']})" if doc.get("shard") else ""
    lines = [f"### keyplane {doc['command']} --all{shard}: **{str(doc['outcome']).upper()}**",
             "", f"{totals['units']} unit(s) of {len(doc['environments'])} environment(s): "
                 f"{totals['clean']} clean, {totals['findings']} with findings, "
                 f"{totals['incomplete']} incomplete, {totals[PENDING]} not run.", ""]
    rows = [u for u in doc["units"] if u["outcome"] != RunOutcome.CLEAN.value]
    if rows:
        lines += ["| stack | account | outcome | details |", "|---|---|---|---|"]
        for u in rows:
            detail = (f"{u['error']['code']} {u['error']['message']}" if u.get("error")
                      else _counts_text(u["summary"]) or "did not run")
            lines.append(f"| `{u['stack']}` | {u['account']} | {u['outcome']} | "
                         f"{detail.replace('|', '/')} |")
        lines.append("")
    lines.append(f"Reports: `{out_dir}/<env>-<cloud>.json`; summary: `{out_dir / SUMMARY_FILE}`.")
    return "\n".join(lines) + "\n"
