"""`keyplane report`: the evidence report, self-contained HTML pages (or Markdown), offline."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from keyplane.model.loader import DEFAULT_DIR, load_targets
from keyplane.output import deliver, set_format

if TYPE_CHECKING:
    from keyplane.audit.report.html import HtmlPage

_FILE = click.Path(path_type=Path, dir_okay=False)
# Environments per HTML page when --page-size is not given: with 20 keys each, a page of
# them is about 3 MiB (benchmarks/report_size.py); the renderer also bounds a page in bytes.
DEFAULT_PAGE_SIZE = 20


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
@click.option("--post-apply-dir", "post_apply_dirs", multiple=True, metavar="DIRECTORY",
              # Checked by the report itself (KP811), like every other unusable input.
              type=click.Path(path_type=Path),
              help="A directory `keyplane post-apply --all` wrote, or its estate.json "
                   "(repeatable: one per shard). Each environment's stacks are merged into "
                   "one run; a stack that did not run shows as unknown.")
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
@click.option("--page-size", "page_size", type=click.IntRange(0, 100_000), metavar="N",
              help=f"HTML to --output FILE: at most N environments per page (default "
                   f"{DEFAULT_PAGE_SIZE}), worst first. FILE (report.html) holds the estate "
                   "overview and the first environments, report-page-2.html and on the next "
                   "ones; a page also ends early to stay under 4 MiB. 0: every environment "
                   "on one page, as stdout gets it.")
def report(envs: tuple[str, ...], environments_dir: Path, out: Path | None, fmt: str,
           check_files: tuple[Path, ...], post_apply_files: tuple[Path, ...],
           post_apply_dirs: tuple[Path, ...], evidence_dirs: tuple[Path, ...],
           waivers_file: Path | None,
           as_of: str | None, page_size: int | None) -> None:
    """Write the evidence report for ENVS (names or files; default: every environment).

    First the estate overview: per tier and control, how many keys are met / not met /
    unknown, and the worst environments, worst first. Then per environment, worst first:
    the keys by tier with the tier's controls marked met / not met / unknown from the
    evidence given, rotation state and due dates with a timeline, the latest drift and
    access-review findings, the PR gate results, restore drills with their recovery times,
    and waivers with their expiry. Reads files only; never calls a cloud. HTML goes to
    --output FILE (in pages, see --page-size), or as one page to stdout when that is a pipe
    or a file, never to a terminal. Exit 0 when written, 2 on bad input (the file and the
    reason are named).
    """
    set_format(fmt)
    from keyplane.audit.report import ReportOptions, build_report, render, render_pages
    from keyplane.audit.report.errors import (
        REPORT_BAD_DATE,
        REPORT_HTML_TO_TERMINAL,
        REPORT_PAGES,
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
    if page_size is not None and fmt != "html":
        raise ReportInputError("--page-size splits html into pages; markdown is one document "
                               "(leave --page-size out)", code=REPORT_PAGES)
    estate = load_targets(envs, environments_dir)
    from keyplane.commands.report_runs import read_run_dirs

    runs, run_files = read_run_dirs(post_apply_dirs)
    data = build_report(estate.environments, ReportOptions(
        as_of=day, check_files=check_files, post_apply_files=post_apply_files,
        post_apply_runs=runs, post_apply_inputs=run_files,
        evidence_dirs=evidence_dirs, waivers_file=waivers_file))
    counts = (f"{len(estate.environments)} environment(s), "
              f"{sum(len(e.keys) for e in estate.environments)} key(s)")
    if fmt != "html" or (out is None and not page_size):
        deliver(render(data, fmt), out)
        if out is not None:
            click.echo(f"report: {out} ({counts})", err=True)
        return
    pages = render_pages(data, first_name=out.name if out is not None else "report.html",
                         page_size=DEFAULT_PAGE_SIZE if page_size is None else page_size)
    if out is None:
        if len(pages) > 1:
            raise ReportInputError(
                f"--page-size {page_size} makes {len(pages)} pages, and stdout takes one: "
                "give --output FILE, or --page-size 0 for one page",
                code=REPORT_PAGES)
        deliver(pages[0].text, None)
        return
    _write_pages(out, pages, counts)


def _write_pages(out: Path, pages: list[HtmlPage], counts: str) -> None:
    """Write every page beside `out` (the first page), the first one last, so it never links
    to a page not yet written; then remove pages a longer earlier report left behind."""
    from keyplane.audit.report.html import GENERATOR, MAX_PAGE_BYTES, page_name

    for page in [*pages[1:], pages[0]]:
        deliver(page.text, out.parent / page.name)
    stale = len(pages) + 1
    marker = f'<meta name="generator" content="{GENERATOR}">'
    while (old := out.parent / page_name(out.name, stale)).is_file():
        # Only a page keyplane wrote: anything else under that name is left alone.
        with old.open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
        if marker not in head:
            break
        old.unlink()
        click.echo(f"keyplane: removed {old} (a page of an earlier, longer report)", err=True)
        stale += 1
    for page in pages:
        if page.size > MAX_PAGE_BYTES and len(page.environments) == 1:
            click.echo(f"keyplane: warning: {out.parent / page.name} is {page.size / 2**20:.1f} "
                       f"MiB, above the {MAX_PAGE_BYTES // 2**20} MiB a page aims for: environment "
                       f"{page.environments[0]} alone is that large", err=True)
    more = f"; {len(pages)} pages, {pages[0].name} to {pages[-1].name}" if len(pages) > 1 else ""
    click.echo(f"report: {out} ({counts}{more})", err=True)
