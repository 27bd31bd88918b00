"""Units of a bulk run spread over worker processes, each running a few at once.

A unit of `post-apply --all` spends most of its CPU in the AWS SDK (signing, serializing and
parsing about 160 requests for 20 keys) and in judging what it read, all under one Python
interpreter lock: one process uses at most one core however many units run at once in it.
A CI runner has two or four. So a large run starts `processes` workers (spawned, not forked:
the parent has threads), gives each every `processes`-th unit, and each worker runs its share
with `run_units`, `per_process` at once, exactly as a one-process run does. Each result comes
back to the parent as it ends, in the order units end, so the parent keeps `estate.json`
current as before; the unit's own report is written by the worker.

A worker that dies (killed, out of memory) cannot report its units: the parent records each
of its unreported units as incomplete (KP943, with the worker's exit code), never as clean,
and the others go on.

Pure orchestration, like `keyplane.estate.run`: the work function is the command layer's,
passed by reference (a module-level function, so a spawned worker can import it).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue as queue_mod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from keyplane.estate.run import UNIT_SETUP_FAILED, Unit, UnitResult, run_units

__all__ = ["run_units_in_processes", "split"]

# How long the parent waits for a result before it looks at whether its workers still live.
_POLL_S = 0.5


def split(units: Sequence[Unit], processes: int) -> list[list[Unit]]:
    """Every `processes`-th unit to each worker (a unit's neighbours in the inventory, often
    alike in size, go to different workers); no empty share."""
    shares = [list(units[i::processes]) for i in range(processes)]
    return [s for s in shares if s]


def _worker(share: list[Unit], per_process: int, work: Callable[..., UnitResult],
            args: tuple[Any, ...], resume_from: Mapping[str, Path], results: Any) -> None:
    """One worker: its share of units, `per_process` at once, each result sent as it ends."""
    with contextlib.suppress(KeyboardInterrupt):  # the parent stops too; what ended was sent
        run_units(share, lambda unit, partial: work(unit, partial, *args),
                  concurrency=per_process, on_result=results.put, resume_from=resume_from)


def run_units_in_processes(units: Sequence[Unit], work: Callable[..., UnitResult], *,
                           args: tuple[Any, ...], processes: int, per_process: int,
                           on_result: Callable[[UnitResult], None],
                           resume_from: Mapping[str, Path] | None = None) -> None:
    """Run `work(unit, partial report or None, *args)` for each unit in `processes` spawned
    workers, `per_process` at once in each, and call `on_result` in this thread as each ends.

    `work` and `args` must be picklable (a module-level function; plain data and models).
    """
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers: list[tuple[Any, set[str]]] = []
    for share in split(units, processes):
        proc = context.Process(target=_worker, name="keyplane-units", daemon=True,
                               args=(share, per_process, work, args, dict(resume_from or {}),
                                     results))
        proc.start()
        workers.append((proc, {u.stack for u in share}))
    owner = {stack: i for i, (_, stacks) in enumerate(workers) for stack in stacks}
    by_stack = {u.stack: u for u in units}

    def take(result: UnitResult) -> None:
        pending = workers[owner[result.unit.stack]][1]
        if result.unit.stack in pending:  # once per unit, even after a worker was reaped
            pending.discard(result.unit.stack)
            on_result(result)

    try:
        while any(stacks for _, stacks in workers):
            try:
                take(results.get(timeout=_POLL_S))
            except queue_mod.Empty:
                if all(proc.is_alive() for proc, stacks in workers if stacks):
                    continue
                # a worker ended: what it sent before it did is read first
                while True:
                    try:
                        take(results.get(timeout=_POLL_S))
                    except queue_mod.Empty:
                        break
                _reap(workers, by_stack, on_result)
    finally:
        for proc, _ in workers:
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=5)


def _reap(workers: list[tuple[Any, set[str]]], by_stack: Mapping[str, Unit],
          on_result: Callable[[UnitResult], None]) -> None:
    """A worker that ended with units it never reported: each of them is incomplete."""
    for proc, stacks in workers:
        if stacks and not proc.is_alive():
            proc.join()
            for stack in sorted(stacks):
                on_result(UnitResult.failed(
                    by_stack[stack], code=UNIT_SETUP_FAILED,
                    message=f"the worker process running it ended (exit code {proc.exitcode}) "
                            "before the unit did; run it again with --resume"))
            stacks.clear()
