"""`keyplane report`: the evidence report, one self-contained HTML page (or Markdown), offline."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.output import deliver, set_format

_FILE = click.Path(path_type=Path, dir_okay=False)


@click.command()
@click.argument("envs", nargs=-1)
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True, help="Where the environment files are.")
@click.option("--output", "-o", "out", type=_FILE,
              help="Write the report to this file (atomically) instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["html", "markdown"]), default="html",
              show_default=True)
@click.option("--check-json", "check_files", type=_FILE, multiple=True,
              help="Output of `keyplane check --format json` (repeatable; per environment "
                   "the newest file wins).")
@click.option("--post-apply-json", "post_apply_files", type=_FILE, multiple=True,
              help="JSON report of `keyplane post-apply`, `drift`, `rotation` or "
                   "`access-review` (repeatable; per section the newest run wins).")
@click.option("--evidence-dir", "evidence_dirs", multiple=True,
              # Checked by the report itself, so a missing directory or a file is a coded
              # error (KP816) like every other unusable input.
              type=click.Path(path_type=Path), metavar="DIRECTORY",
              help="Drill evidence records: an existing directory (repeatable; also read: "
                   "DIR/<env>). Default: each environment's evidence_location when it is a "
                   "local path.")
@click.option("--waivers", "waivers_file", type=_FILE,
              help="The waivers file `keyplane check` used, to show owners and expiry.")
@click.option("--as-of", "as_of", help="Judge dates as of this day (yyyy-mm-dd; default: "
                                       "today, UTC).")
def report(envs: tuple[str, ...], environments_dir: Path, out: Path | None, fmt: str,
           check_files: tuple[Path, ...], post_apply_files: tuple[Path, ...],
           evidence_dirs: tuple[Path, ...], waivers_file: Path | None,
           as_of: str | None) -> None:
    """Write the evidence report for ENVS (names or files; default: every environment).

    Per environment: the keys by tier with the tier's controls marked met / not met /
    unknown from the evidence given, rotation state and due dates with a timeline, the
    latest drift and access-review findings, the PR gate results, restore drills with
    their recovery times, and waivers with their expiry. Reads files only; never calls a
    cloud. HTML goes to --output FILE, or to stdout when that is a pipe or a file, never
    to a terminal. Exit 0 when written, 2 on bad input (the file and the reason are named).
    """
    set_format(fmt)
    from keyplane.audit.report import ReportOptions, build_report, render
    from keyplane.audit.report.errors import (
        REPORT_BAD_DATE,
        REPORT_HTML_TO_TERMINAL,
        ReportInputError,
    )

    day = dt.datetime.now(dt.UTC).date()
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise ReportInputError(f"--as-of must be a date (yyyy-mm-dd), got {as_of!r}",
                                   code=REPORT_BAD_DATE) from None
    if fmt == "html" and out is None and sys.stdout.isatty():
        # A page of markup scrolling past helps no one, and the page is meant to be opened
        # in a browser: ask for a file before any input is read.
        raise ReportInputError("html is not written to a terminal: give --output FILE (or pipe "
                               "stdout to a file, or use --format markdown)",
                               code=REPORT_HTML_TO_TERMINAL)
    estate = load_targets(envs, environments_dir)
    data = build_report(estate.environments, ReportOptions(
        as_of=day, check_files=check_files, post_apply_files=post_apply_files,
        evidence_dirs=evidence_dirs, waivers_file=waivers_file))
    deliver(render(data, fmt), out)
    if out is not None:
        click.echo(f"report: {out} ({len(estate.environments)} environment(s), "
                   f"{sum(len(e.keys) for e in estate.environments)} key(s))", err=True)
