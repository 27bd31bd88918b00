"""`keyplane check`: the pull-request gate over synth JSON and Terraform plan JSON."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from keyplane.errors import UsageError
from keyplane.output import deliver, set_format
from keyplane.reporters import FORMATS

LEVELS = ("critical", "high", "medium", "low", "info")


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write to this file (atomically) instead of stdout.")
@click.option("--fail-level", type=click.Choice(LEVELS), default="high", show_default=True,
              help="Exit 1 when a finding at or above this severity fails.")
@click.option("--waivers", type=click.Path(path_type=Path, dir_okay=False),
              help="YAML file of waivers (rule, resource, owner, reason, expires).")
@click.option("--list-rules", is_flag=True, help="Print the rules (markdown: docs/rules.md).")
@click.option("--sarif-root", type=click.Path(path_type=Path, file_okay=False),
              help="With --format sarif: the repository root file URIs are relative to "
                   "(default: `git rev-parse --show-toplevel` of each input's directory).")
@click.option("--as-of", "as_of", hidden=True, help="Evaluate dates as of this day (tests).")
def check(inputs: tuple[Path, ...], fmt: str, output: Path | None, fail_level: str,
          waivers: Path | None, list_rules: bool, sarif_root: Path | None,
          as_of: str | None) -> None:
    """Check INPUTS (cdktf.out directories, cdk.tf.json files or `terraform show -json`
    plans; default: cdktf.out) against each resource's tier.

    Exit 0 when the gate passes, 1 when a finding at or above --fail-level fails (or a
    rule errors, or a ca/production guardrail is UNKNOWN), 2 on bad input.
    """
    set_format(fmt)
    if sarif_root is not None:
        _check_sarif_root(sarif_root, fmt, list(inputs) or [Path("cdktf.out")])
    if list_rules:
        from keyplane.policy.docs import rules_markdown, rules_text

        deliver(rules_markdown() if fmt == "markdown" else rules_text(), output)
        return
    from keyplane.findings import Severity
    from keyplane.policy.api import check as run_check
    from keyplane.reporters import render

    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise UsageError(f"--as-of must be a date (yyyy-mm-dd), got {as_of!r}") from None
    paths = list(inputs) or [Path("cdktf.out")]
    report = run_check(paths, waivers=waivers, fail_level=Severity(fail_level), on=day)
    if fmt == "text" and output is None:
        pass  # warnings are part of the text report
    elif fmt != "json":
        for w in report.warnings:
            click.echo(f"warning: {w.render()}", err=True)
    text = render(report, fmt, root=sarif_root)
    deliver(text, output)
    if output is not None and fmt == "text":
        click.echo(text.splitlines()[-1], err=True)
    raise SystemExit(1 if report.failed else 0)


def _check_sarif_root(root: Path, fmt: str, inputs: list[Path]) -> None:
    """--sarif-root is a directory holding every input: else a URI would leave the repository."""
    if fmt != "sarif":
        raise UsageError(f"--sarif-root applies to --format sarif only, got --format {fmt}")
    if not root.is_dir():
        raise UsageError(f"--sarif-root must be an existing directory, got {str(root)!r}")
    base = root.resolve()
    outside = [str(p) for p in inputs if not p.resolve().is_relative_to(base)]
    if outside:
        raise UsageError(f"--sarif-root {str(root)!r} does not contain input(s) "
                         f"{', '.join(repr(p) for p in outside)}; give the repository root")
