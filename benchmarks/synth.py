"""Wall time and peak memory of `keyplane synth` on the example estate, beside the cost of
importing the provider bindings alone, so keyplane's own overhead is visible.

Each measurement runs in a fresh subprocess (imports are cached per process):

1. synth: load the estate, build one stack per environment, write cdktf.out;
   it also records which provider binding modules it imported;
2. import only: import cdktn and exactly those binding modules, nothing else.

Peak RSS is reported for the Python process and for its Node (jsii) child.

    .venv/bin/python benchmarks/synth.py [--environments-dir environments] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_SYNTH = """
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from keyplane.model.loader import environment_files, load_estate
from keyplane.stacks.app import synth
estate = load_estate(environment_files(Path(sys.argv[1])))
synth(estate.environments, Path(sys.argv[2]))
wall = time.perf_counter() - t0
mods = sorted(m for m in sys.modules if m.startswith("cdktn_provider_"))
print(json.dumps({"wall": wall, "modules": mods,
                  "rss_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

_IMPORT = """
import importlib, json, resource, sys, time
t0 = time.perf_counter()
from keyplane.constructs.node import ensure_node
ensure_node()
import cdktn
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
wall = time.perf_counter() - t0
print(json.dumps({"wall": wall,
                  "rss_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _run(code: str, *args: str) -> dict[str, float]:
    """Run `code` in a fresh interpreter; its JSON result plus the Node child's peak RSS."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=REPO, check=False)
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # RUSAGE_CHILDREN is the largest of all waited-for descendants so far (Python or Node).
    result["rss_children"] = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return result


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments-dir", type=Path, default=REPO / "environments")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    synth_runs, import_runs = [], []
    modules: list[str] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            run = _run(_SYNTH, str(args.environments_dir), str(Path(tmp) / "cdktf.out"))
        modules = list(run["modules"])  # type: ignore[arg-type]
        synth_runs.append(run)
        import_runs.append(_run(_IMPORT, json.dumps(modules)))

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    s_wall, i_wall = median(synth_runs, "wall"), median(import_runs, "wall")
    mb = 1024.0  # ru_maxrss is in KiB on Linux
    print(f"example estate: {args.environments_dir} ({args.repeat} run(s), median)")
    print(f"binding modules imported: {len(modules)} "
          f"({', '.join(sorted({m.split('.')[0] for m in modules}))})")
    print(f"{'step':<28}{'wall s':>10}{'python peak MiB':>18}")
    print(f"{'import bindings only':<28}{i_wall:>10.2f}"
          f"{median(import_runs, 'rss_self') / mb:>18.0f}")
    print(f"{'keyplane synth':<28}{s_wall:>10.2f}{median(synth_runs, 'rss_self') / mb:>18.0f}")
    print(f"{'keyplane overhead':<28}{s_wall - i_wall:>10.2f}")
    peak_child = max(r["rss_children"] for r in synth_runs + import_runs) / mb
    print(f"peak RSS of any child process (python or node): {peak_child:.0f} MiB")


if __name__ == "__main__":
    main()
