"""`keyplane validate`: load and cross-check the inventory, print it per environment."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.model.summary import environment_summary, next_due, protection, rotation
from keyplane.output import deliver, set_format, to_json

TABLE_MIN_WIDTH = 120  # the table's natural width; narrower terminals get one block per key


@click.command()
@click.argument("envs", nargs=-1)
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True, help="Where the environment files are.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write to this file (atomically) instead of stdout.")
def validate(envs: tuple[str, ...], environments_dir: Path, fmt: str,
             output: Path | None) -> None:
    """Validate ENVS (names or files; default: every file in environments/).

    Exit 0 when valid, 2 when any file has a problem (all problems are listed).
    """
    set_format(fmt)
    estate = load_targets(envs, environments_dir)
    if fmt == "json":
        deliver(to_json({"valid": True, "environments": [
            environment_summary(env) for env in estate.environments]}), output)
        return
    import os
    import sys

    # $COLUMNS wins (a terminal sets it; a user can); a file or a CI log gets 150 columns
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() and int(columns) >= 40 else (
        150 if output is not None or not sys.stdout.isatty() else None)
    console = Console(record=output is not None, width=width)
    for env in estate.environments:
        where = []
        if env.aws:
            where.append(f"aws {env.aws.account_id} {env.aws.region}")
        if env.gcp:
            where.append(f"gcp {env.gcp.project_id} {env.gcp.location}")
        title = f"{env.name} ({env.kind.value}) — {'; '.join(where)}"
        rows = [(key.name, key.tier.value, key.owner or "-", key.cloud.value,
                 f"{key.usage.value} / {key.spec}", protection(key), rotation(key),
                 next_due(key)) for key in env.keys]
        if console.width >= TABLE_MIN_WIDTH:
            table = Table(title=title, title_justify="left")
            for col in ("key / owner", "tier", "cloud", "usage / spec", "protection",
                        "rotation", "next due"):
                table.add_column(col, overflow="fold")  # a long token folds, never cut
            for name, tier, owner, *rest in rows:
                table.add_row(Text(name) + Text(f"\n{owner}", style="dim"), tier, *rest)
            console.print(table)
            continue
        # Narrow terminals: one block per key, wrapped at words, nothing cut.
        console.print(Text(title, style="bold"))
        for name, tier, owner, cloud, spec, prot, rot, due in rows:
            console.print(Text(f"  {name}  {tier}  {cloud}", style="bold"), overflow="fold")
            console.print(Text(f"    owner {owner}"), overflow="fold")
            console.print(Text(f"    {spec} · {prot}"), overflow="fold")
            console.print(Text(f"    {rot} · next due {due}"), overflow="fold")
    n_keys = sum(len(e.keys) for e in estate.environments)
    console.print(f"valid: {len(estate.environments)} environment(s), {n_keys} key(s)")
    if output is not None:
        deliver(console.export_text(), output)
