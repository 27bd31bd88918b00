"""Helpers for the matrix tests: generated estates, and drill evidence written the way
`keyplane drill` writes it (its runner and its evidence store; only the cloud work is faked)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest

from keyplane.audit.evidence import DrillResult, LocalEvidenceStore
from keyplane.model.environment import Environment
from keyplane.model.loader import load_targets
from tests.conftest import BASE_ENV, EXAMPLE_ENVIRONMENTS


def run_matrix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`keyplane matrix ARGS` through the real entry point, in-process: (exit, stdout, stderr)."""
    from keyplane.cli import main

    try:
        main(["matrix", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def example_estate() -> list[Environment]:
    """The committed example environments, loaded as every command loads them."""
    return list(load_targets([], EXAMPLE_ENVIRONMENTS).environments)


def env_text(index: int, name: str | None = None) -> str:
    """A valid production environment on both clouds (keys on each), in its own account and
    project: BASE_ENV with a name, an account id and a project id of its own."""
    name = name or f"e{index:03d}"
    return (BASE_ENV.replace("name: prod", f"name: {name}")
            .replace("111122223333", f"{100000000000 + index}")
            .replace("acme-test-prod", f"acme-test-{name}"))


def write_estate(directory: Path, count: int, start: int = 0) -> Path:
    """`count` generated environment files in `directory` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        (directory / f"e{i:03d}.yaml").write_text(env_text(i), encoding="utf-8")
    return directory


def at(day: dt.date, hour: int = 4) -> dt.datetime:
    """A UTC time on `day` (when a scheduled drill would run)."""
    return dt.datetime(day.year, day.month, day.day, hour, 23, tzinfo=dt.UTC)


def drill_with_the_runner(env: Environment, evidence_dir: Path, when: dt.datetime, *,
                          outcome: Callable[[object], str] = lambda drill: "PASSED",
                          select: Callable[[object], bool] = lambda drill: True
                          ) -> list[DrillResult]:
    """Run keyplane's drill runner over `env`'s scheduled drills (those `select` keeps) at
    `when`, writing evidence records to `evidence_dir/<env>` with its own evidence store.

    Only `_execute` (the cloud work) is replaced: it answers `outcome(drill)` for every target
    a real drill reports (each generation of a sign canary, each Region of a replica), so the
    records carry the names, times and fields the runner gives them.
    """
    from keyplane.audit.events import AuditLog, MemorySink, new_run_id
    from keyplane.drills import runner
    from keyplane.drills.base import DrillContext, DrillVerdict
    from keyplane.drills.journal import LocalJournalStore
    from keyplane.drills.lock import FileLock
    from keyplane.drills.waiter import Timing

    def execute(ctx: DrillContext, drill: runner.PlannedDrill, ports: runner.DrillPorts
                ) -> list[DrillVerdict]:
        verdict = outcome(drill)
        if drill.kind == "replica" and drill.key is not None:
            return [DrillVerdict(outcome=verdict, reason="faked", target=f"{drill.key.name}@{r}")
                    for r in drill.key.replica_regions or ()]
        if drill.kind == "sign-canary" and drill.key is not None and drill.key.generations:
            return [DrillVerdict(outcome=verdict, reason="faked", generation=g.generation)
                    for g in drill.key.generations if g.enabled]
        return [DrillVerdict(outcome=verdict, reason="faked")]

    root = evidence_dir / env.name
    store = LocalEvidenceStore(root)
    ctx = DrillContext(env=env, run_id=new_run_id(when), identity="arn:aws:sts::1:assumed/ci",
                       audit=AuditLog(sinks=[MemorySink()], command="drill", actor="ci"),
                       journal_store=LocalJournalStore(root / ".journal"),
                       timing=Timing(clock=when.timestamp, sleep=lambda _: None))
    planned = [d for d in runner.plan(env) if select(d)]
    with mock.patch.object(runner, "_execute", execute):
        report = runner.run(ctx, planned, runner.DrillPorts(lock=FileLock(root / ".locks")),
                            store)
    assert report.evidence, "the runner wrote no evidence"
    return report.results
