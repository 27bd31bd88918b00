"""`keyplane synth`: the inventory -> one Terraform stack per environment in cdktf.out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.output import set_format
from keyplane.progress import Progress

# `cdktf synth` / `cdktf deploy` run the app command with CDKTF_OUTDIR set to where the
# CLI expects the stacks; honour it so both CLIs find the output.
OUTDIR_ENV = "CDKTF_OUTDIR"


def _default_out() -> Path:
    return Path(os.environ.get(OUTDIR_ENV) or "cdktf.out")


@click.command()
@click.argument("envs", nargs=-1)
@click.option("--out-dir", "out", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="Output directory (default: $CDKTF_OUTDIR or cdktf.out).")
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True, help="Where the environment files are.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: the stacks written, with their paths and counts.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
def synth(envs: tuple[str, ...], out: Path | None, environments_dir: Path, fmt: str,
          quiet: bool) -> None:
    """Synthesize ENVS (names or files; default: every environment) to Terraform JSON.

    Writes <out-dir>/stacks/<env>-<cloud>/cdk.tf.json (one stack per environment and cloud)
    and <out-dir>/manifest.json. Exit 0 when written, 2 when the inventory is invalid
    (every problem is listed).
    """
    set_format(fmt)
    outdir = out or _default_out()
    estate = load_targets(envs, environments_dir)
    try:  # before Node starts: its mkdir makes one level only
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from keyplane.errors import UsageError

        raise UsageError(f"cannot create --out-dir {outdir}: {exc.strerror or exc}") from None
    progress = Progress(enabled=not quiet)
    with progress.step("starting CDK Terrain (Node and the provider bindings)"):
        # Only now pay for Node, cdktn and the provider bindings the estate needs.
        from keyplane.stacks.app import build_app
    built: list[str] = []

    def on_stack(name: str) -> None:
        if built:
            progress.note(f"built {built[-1]}")
        built.append(name)

    with progress.step(f"building the stacks of {len(estate.environments)} environment(s)"):
        app = build_app(estate.environments, outdir, on_stack)
        if built:
            progress.note(f"built {built[-1]}")
    with progress.step(f"writing {outdir}"):
        app.synth()
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    stacks = []
    for name, stack in sorted(manifest.get("stacks", {}).items()):
        path = outdir / stack["synthesizedStackPath"]
        doc = json.loads(path.read_text(encoding="utf-8"))
        count = sum(len(v) for v in doc.get("resource", {}).values())
        stacks.append({"stack": name, "path": str(path), "resources": count})
    if fmt == "json":
        click.echo(json.dumps({"out_dir": str(outdir), "manifest": str(outdir / "manifest.json"),
                               "stacks": stacks}, indent=2))
        return
    for s in stacks:
        click.echo(f"{s['stack']}: {s['resources']} resource(s) -> {s['path']}")
    click.echo(f"manifest: {outdir / 'manifest.json'}")
