"""How large `keyplane report` gets at estate scale, one page against paged; prints figures.

Generates an estate (default 200 environments x 20 keys) with keyplane's own writers
(tests/audit/report_estate.py: inventories loaded by the loader, gate JSON by the gate's
reporter, post-apply JSON by post-apply's Report, drill records by the drill runner; every
document checked against keyplane's JSON Schema), then runs the real CLI twice in child
processes on the same inputs:

- baseline: `--page-size 0`, every environment on one page (the report as it was before
  it was paged);
- paged: the default `--page-size`, the estate overview on the first page.

Prints the size of every file written, the wall time and peak memory of each run, and the
CPU time of rendering alone (in this process, on one built report: loading and folding the
inputs, the same for both, dominate the wall time). Checks the target: every page (but
one holding a single environment larger than a page) stays under the renderer's
MAX_PAGE_BYTES. Exit 1 when it does not.

Usage: .venv/bin/python benchmarks/report_size.py [--environments 200] [--keys 20]
       [--page-size N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable

if TYPE_CHECKING:
    from tests.audit.report_estate import SyntheticEstate

# Run in the child: the CLI, then its peak RSS on stderr (the parent only waits).
_CHILD = ("import resource, sys\nfrom keyplane.cli import main\ntry:\n    main(sys.argv[1:])\n"
          "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
          "print(f'PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', "
          "file=sys.stderr)\nsys.exit(code)")


def run_report(args: list[str], out: Path) -> tuple[float, int, str]:
    """Wall seconds and peak RSS (KB) of `keyplane report ARGS --output OUT`, and its stderr."""
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    proc = subprocess.run([PY, "-c", _CHILD, "report", *args, "--output", str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"keyplane report failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    peak = next((int(line.split("=", 1)[1]) for line in proc.stderr.splitlines()
                 if line.startswith("PEAK_RSS_KB=")), -1)
    return wall, peak, proc.stderr


def render_times(estate: SyntheticEstate, page_size: int) -> None:
    """CPU seconds of loading, folding and rendering, in this process (steady under load)."""
    from keyplane.audit.report import build_report
    from keyplane.audit.report.html import MAX_PAGE_BYTES, render_html, render_pages

    start = time.process_time()
    envs = estate.environments()
    loaded = time.process_time()
    data = build_report(envs, estate.options())
    built = time.process_time()
    one = render_html(data)
    rendered = time.process_time()
    pages = render_pages(data, page_size=page_size, max_bytes=MAX_PAGE_BYTES)
    paged = time.process_time()
    print(f"\nCPU time: load {loaded - start:.1f} s, build {built - loaded:.1f} s, render one "
          f"page {rendered - built:.1f} s ({mib(len(one.encode()))}), render {len(pages)} pages "
          f"{paged - rendered:.1f} s")


def mib(n: int) -> str:
    return f"{n / 2**20:6.2f} MiB"


def main() -> int:
    from keyplane.audit.report.html import MAX_PAGE_BYTES
    from keyplane.commands.report import DEFAULT_PAGE_SIZE
    from tests.audit.report_estate import validate_documents, write_synthetic_estate

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--environments", type=int, default=200)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    ap.add_argument("--keep", type=Path, help="write the estate and the reports here (kept)")
    opts = ap.parse_args()

    root = opts.keep or Path(tempfile.mkdtemp(prefix="keyplane-report-size-"))
    try:
        start = time.perf_counter()
        estate = write_synthetic_estate(root / "inputs", opts.environments, opts.keys)
        generated = time.perf_counter() - start
        documents = validate_documents(estate)
        inputs = sum(p.stat().st_size for p in (root / "inputs").rglob("*") if p.is_file())
        print(f"estate: {opts.environments} environments x {opts.keys} keys, {documents} "
              f"documents valid against keyplane's schemas ({mib(inputs)} of inputs, "
              f"generated in {generated:.1f} s)")

        one = root / "one-page" / "report.html"
        wall, peak, _ = run_report([*estate.cli_args(), "--page-size", "0"], one)
        baseline = one.stat().st_size
        print(f"\nbaseline, one page (--page-size 0): {mib(baseline)}  "
              f"{wall:5.1f} s  peak {peak / 1024:.0f} MB")

        paged = root / "paged" / "report.html"
        wall, peak, err = run_report([*estate.cli_args(), "--page-size", str(opts.page_size)],
                                     paged)
        files = sorted(paged.parent.glob("*.html"),
                       key=lambda p: (p != paged, len(p.name), p.name))
        sizes = {p.name: p.stat().st_size for p in files}
        print(f"paged (--page-size {opts.page_size}): {len(files)} files, "
              f"{mib(sum(sizes.values()))} in all, {wall:5.1f} s  peak {peak / 1024:.0f} MB")
        for name, size in sizes.items():
            print(f"  {name:28} {mib(size)}  {size / baseline:6.1%} of the one page")
        largest = max(sizes.values())
        # A page above the bound is allowed only when one environment fills it by itself.
        over = [p.name for p in files if sizes[p.name] > MAX_PAGE_BYTES
                and p.read_text(encoding="utf-8").count('<section class="env"') > 1]
        print(f"\nlargest page {mib(largest)}, {baseline / largest:.1f}x smaller than the one "
              f"page; target: every page < {mib(MAX_PAGE_BYTES)}: "
              + ("met" if not over else f"NOT met ({', '.join(over)})"))
        for line in err.splitlines():
            if "warning:" in line:
                print(line)
        render_times(estate, opts.page_size)
        return 1 if over else 0
    finally:
        if opts.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
