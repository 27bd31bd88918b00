"""`keyplane matrix`: the CI job matrix, as JSON, from the inventory and the drill evidence.

Reads environments/*.yaml through keyplane's loader (so an invalid inventory stops CI here,
with every problem named) and, for `--for drill`, the drill evidence records from local
directories. Imports no cloud SDK and no CDK library: it runs in a second on a bare runner.
Exit 0 with the matrix (an empty `include` when nothing is due), 2 on bad input.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keyplane.estate.errors import (
    BAD_CHOICE,
    BAD_DATE,
    BAD_SHARD_COUNT,
    EVIDENCE_DIR_MISSING,
    EVIDENCE_UNREADABLE,
    OPTION_NOT_APPLICABLE,
    EstateError,
)
from keyplane.estate.matrix import MAX_MATRIX_JOBS, PURPOSES, Matrix, Target
from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.output import deliver, set_format

if TYPE_CHECKING:
    from keyplane.audit.evidence import DrillResult
    from keyplane.model.environment import Environment

FORMATS = ("json", "markdown")
DRILLED_TIERS = ("ca", "production", "non-production")  # ephemeral keys are never drilled
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COUNT = re.compile(r"[0-9]{1,6}")
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://")


def _choice(option: str, value: str, allowed: Sequence[str], note: str = "") -> str:
    """`value` when allowed; EstateError (KP921) naming the allowed values otherwise."""
    if value in allowed:
        return value
    close = difflib.get_close_matches(value, allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise EstateError(f"{option} must be one of {', '.join(allowed)}{note}, got {value!r}{hint}",
                      code=BAD_CHOICE)


def _shard_count(value: str) -> int:
    """--shards N: a whole number from 1 to 256 (the shard list is itself one matrix)."""
    count = int(value) if _COUNT.fullmatch(value) else 0
    if not 1 <= count <= MAX_MATRIX_JOBS:
        raise EstateError(f"--shards must be a whole number from 1 to {MAX_MATRIX_JOBS} (the "
                          f"shards are themselves one matrix), got {value!r}",
                          code=BAD_SHARD_COUNT)
    return count


def _today(value: str | None) -> dt.date:
    """--today, or today's UTC date."""
    if value is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        if _DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise EstateError(f"--today must be a date (yyyy-mm-dd), got {value!r}", code=BAD_DATE)


def read_evidence(environments: Sequence[Environment], evidence_dirs: Sequence[Path]
                  ) -> tuple[dict[str, list[DrillResult]], dict[str, str], list[str]]:
    """(records per environment, where an environment's evidence was not read, dirs read).

    Given directories are read as `keyplane report` reads them: each DIR and DIR/<env>. With
    none, each environment's own evidence_location when it is a local directory (the drill
    command's default, ./evidence/<env>); an object-store location cannot be read here and
    is named in the second mapping ("evidence at s3://... is remote"), so its drills count as due
    rather than silently done.
    """
    from keyplane.audit.evidence import EvidenceError, LocalEvidenceStore

    for d in evidence_dirs:
        if not d.is_dir():
            what = "is a file, not a directory" if d.exists() else "does not exist"
            raise EstateError(f"--evidence-dir {d} {what}; give the directory the drill "
                              "evidence records were copied to", code=EVIDENCE_DIR_MISSING)
    records: dict[str, list[DrillResult]] = {}
    unread: dict[str, str] = {}
    read: list[str] = []
    for env in environments:
        if evidence_dirs:
            roots = [p for d in evidence_dirs for p in (d, d / env.name)]
        else:
            location = (env.evidence_location or f"./evidence/{env.name}").removeprefix(
                "file://")
            if _REMOTE.match(location):
                unread[env.name] = f"evidence at {location} is remote"
                continue
            roots = [Path(location)]
        seen: set[Path] = set()
        found: dict[str, DrillResult] = {}
        for root in roots:
            if not root.is_dir() or root.resolve() in seen:
                continue
            seen.add(root.resolve())
            if str(root) not in read:
                read.append(str(root))
            try:
                for r in LocalEvidenceStore(root).history(env.name):
                    found[r.record_name()] = r
            except EvidenceError as exc:
                raise EstateError(exc.message, code=EVIDENCE_UNREADABLE) from None
        records[env.name] = list(found.values())
    return records, unread, read


def render_markdown(matrix: Matrix, purpose: str, today: dt.date | None) -> str:
    """The matrix for people (a job summary): one row per target, its shard, what is due."""
    when = f" on {today.isoformat()}" if today is not None else ""
    shards = f" in {matrix.shards} shard(s)" if matrix.shards is not None else ""
    lines = [f"### keyplane matrix --for {purpose}{when}", "",
             f"{len(matrix.targets)} target(s){shards}.", ""]
    if not matrix.targets:
        lines.append("Nothing to run." if purpose != "drill" else "No drill is due.")
        return "\n".join(lines) + "\n"
    shard_of = {t.shard_key: f"{i}/{matrix.shards}"
                for i, g in enumerate(matrix.groups, start=1) for t in g}
    lines += ["| target | account | region(s) | shard | drills |", "|---|---|---|---|---|"]
    for t in matrix.targets:
        drills = "<br>".join(
            f"{'**due**' if d.due else 'not due'}: {d.kind} {d.key or ''} ({d.tier.value}): "
            f"{d.reason}".replace("  ", " ") for d in t.drills) or "-"
        lines.append(f"| {t.environment}-{t.cloud.value} | {t.account} | "
                     f"{', '.join(t.regions)} | {shard_of.get(t.shard_key, '-')} | "
                     f"{drills.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _select(targets: Sequence[Target], shard: str, shards: int | None
            ) -> tuple[list[Target], str]:
    """The targets of one shard (`--shard i/N`), and the shard's canonical name."""
    from keyplane.estate.shard import parse_shard, select_shard

    index, count = parse_shard(shard, option="--shard")
    if shards is not None and shards != count:
        raise EstateError(f"--shard {shard} names {count} shards but --shards is {shards}; "
                          "give the same N, or --shard alone", code=OPTION_NOT_APPLICABLE)
    chosen = select_shard(targets, shard, key=lambda t: t.shard_key, option="--shard")
    return chosen, f"{index}/{count}"


@click.command("matrix")
@click.argument("envs", nargs=-1)
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True, help="Where the environment files are.")
@click.option("--for", "purpose", default="pr", show_default=True, metavar="pr|drift|drill",
              help="Which workflow the matrix is for: pr and drift list every stack "
                   "(environment x cloud); drill lists only targets with a drill due.")
@click.option("--shards", "shards_value", metavar="N",
              help="Split the targets into N stable shards (1-256) and list the shards; "
                   "default: only when there are more than 256 targets.")
@click.option("--shard", "shard", metavar="i/N",
              help="List only the targets of shard i of N, one entry each (what a shard's "
                   "second-level matrix runs).")
@click.option("--evidence-dir", "evidence_dirs", multiple=True, metavar="DIRECTORY",
              type=click.Path(path_type=Path),
              help="--for drill: drill evidence records (repeatable; also read: DIR/<env>). "
                   "Default: each environment's evidence_location when it is a local path.")
@click.option("--today", "today_value", metavar="YYYY-MM-DD",
              help="--for drill: judge cadences as of this day (default: today, UTC).")
@click.option("--tier", "tier_values", multiple=True, metavar="TIER",
              help="--for drill: only drills of this tier (repeatable; ca, production, "
                   "non-production).")
@click.option("--all-scheduled", is_flag=True,
              help="--for drill: every drill the tiers schedule, due or not (a manual run).")
@click.option("--format", "fmt", default="json", show_default=True, metavar="json|markdown",
              help="json for fromJSON(); markdown for people (a job summary).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the matrix to this file (atomically) instead of stdout.")
def matrix(envs: tuple[str, ...], environments_dir: Path, purpose: str,
           shards_value: str | None, shard: str | None, evidence_dirs: tuple[Path, ...],
           today_value: str | None, tier_values: tuple[str, ...], all_scheduled: bool,
           fmt: str, output: Path | None) -> None:
    """Print the CI matrix for ENVS (names or files; default: every environment) as JSON.

    Each entry is one environment on one cloud: environment, cloud, stack, account (AWS
    account id or GCP project), region, regions, and role_arn when the environment names
    one. With --for drill an entry also lists its drills (kind, key, tier, why due), the
    clouds the drill run reaches and where its evidence goes. More than 256 entries (or
    --shards N) become {"include": [{"shard": "i/N", "size": ..., "targets": [...]}]}.
    Exit 0 with the matrix (an empty include when nothing is due), 2 on bad input.
    """
    fmt = _choice("--format", fmt, FORMATS)
    set_format(fmt)
    purpose = _choice("--for", purpose, PURPOSES)
    shards = _shard_count(shards_value) if shards_value is not None else None
    if purpose != "drill":
        given = [name for name, value in (
            ("--evidence-dir", evidence_dirs), ("--today", today_value),
            ("--tier", tier_values), ("--all-scheduled", all_scheduled)) if value]
        if given:
            raise EstateError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to "
                              f"--for drill only, got --for {purpose}",
                              code=OPTION_NOT_APPLICABLE)
    from keyplane.estate.matrix import build_matrix, drill_targets, stack_targets
    from keyplane.model.tiers import Tier

    tiers = [Tier(_choice("--tier", t, DRILLED_TIERS, " (ephemeral keys are never drilled)"))
             for t in tier_values]
    today = _today(today_value) if purpose == "drill" else None
    if shard is not None:
        from keyplane.estate.shard import parse_shard

        parse_shard(shard, option="--shard")  # before the inventory is read: fail fast
    estate = load_targets(envs, environments_dir)
    if today is not None:
        records, unread, read = read_evidence(estate.environments, evidence_dirs)
        click.echo(f"keyplane: drill evidence read from {', '.join(read) or 'no directory'}",
                   err=True)
        for name, why in sorted(unread.items()):
            click.echo(f"keyplane: {name}: {why}: keyplane matrix reads local "
                       "directories only (copy the records and give --evidence-dir); its "
                       "drills count as due", err=True)
        targets = drill_targets(estate.environments, records, today, tiers=tiers,
                                every=all_scheduled, unread=unread)
    else:
        targets = stack_targets(estate.environments)
    if shard is not None:
        chosen, name = _select(targets, shard, shards)
        result = Matrix(targets=tuple(chosen), shards=None)
        if len(chosen) > MAX_MATRIX_JOBS:
            click.echo(f"keyplane: shard {name} holds {len(chosen)} targets, more than one "
                       f"matrix runs ({MAX_MATRIX_JOBS}); use more shards", err=True)
        data: dict[str, Any] = {"include": [{**t.to_dict(), "shard": name} for t in chosen]}
    else:
        result = build_matrix(targets, shards=shards)
        for name, size in result.oversized():
            click.echo(f"keyplane: shard {name} holds {size} targets, more than one matrix "
                       f"runs ({MAX_MATRIX_JOBS}); run it in one job, or use more shards",
                       err=True)
        data = result.to_dict()
    if fmt == "markdown":
        deliver(render_markdown(result, purpose, today), output)
    else:
        # one line: what `echo "matrix=$(...)" >> "$GITHUB_OUTPUT"` needs
        deliver(json.dumps(data, separators=(",", ":")) + "\n", output)
