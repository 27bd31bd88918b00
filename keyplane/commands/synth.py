"""`keyplane synth`: the inventory -> one Terraform stack per environment in cdktf.out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from keyplane.model.loader import DEFAULT_DIR, environment_files, load_estate, resolve_targets
from keyplane.output import set_format

# `cdktf synth` / `cdktf deploy` run the app command with CDKTF_OUTDIR set to where the
# CLI expects the stacks; honour it so both CLIs find the output.
OUTDIR_ENV = "CDKTF_OUTDIR"


def _default_out() -> Path:
    return Path(os.environ.get(OUTDIR_ENV) or "cdktf.out")


@click.command()
@click.argument("envs", nargs=-1)
@click.option("--out", "-o", "out", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Output directory (default: $CDKTF_OUTDIR or cdktf.out).")
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True, help="Where the environment files are.")
def synth(envs: tuple[str, ...], out: Path | None, environments_dir: Path) -> None:
    """Synthesize ENVS (names or files; default: every environment) to Terraform JSON.

    Writes <out>/stacks/<env>-<cloud>/cdk.tf.json (one stack per environment and cloud)
    and <out>/manifest.json. Exit 0 when written,
    2 when the inventory is invalid (every problem is listed).
    """
    set_format("text")
    outdir = out or _default_out()
    files = resolve_targets(envs, environments_dir)
    scope = environment_files(environments_dir) if environments_dir.is_dir() else []
    estate = load_estate(files, isolation_scope=scope)
    # Only now pay for Node, cdktn and the provider bindings the estate needs.
    from keyplane.stacks.app import synth as synth_app

    synth_app(estate.environments, outdir)
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    for name, stack in sorted(manifest.get("stacks", {}).items()):
        path = outdir / stack["synthesizedStackPath"]
        doc = json.loads(path.read_text(encoding="utf-8"))
        count = sum(len(v) for v in doc.get("resource", {}).values())
        click.echo(f"{name}: {count} resource(s) -> {path}")
