"""Benchmark: `keyplane drift` over 1,000 keys in the local sandbox, concurrent vs sequential.

Starts the sandbox in the background (its own process) with a fixed per-request
latency (default 20 ms, roughly a KMS API call from inside a Region; a local
server answers in well under that, which would hide what concurrency buys),
declares N keys, synthesizes them (`keyplane synth`: post-apply reads the expected state
from the stack), creates what the stack declares through the sandbox writer (real
Terraform would take tens of minutes for 1,000 keys and is measured by real_path.py),
then runs `keyplane drift` with the default concurrency and with `--concurrency 1` in the
same run. Prints wall times, the
speed-up and each run's peak memory (max RSS).

    .venv/bin/python benchmarks/drift.py [--keys 1000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "999900001111"
_CHILD = ("import atexit, resource, sys\n"
          "atexit.register(lambda: sys.stderr.write("
          "f'PEAK_RSS_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'))\n"
          "from keyplane.cli import main\nmain()\n")


def environment(n: int) -> str:
    """A non-production environment declaring `n` symmetric keys."""
    head = f"""\
name: bench
kind: non-production
aws: {{account_id: "{ACCOUNT}", region: eu-west-1}}
principals:
  key_admins: {{aws: ["arn:aws:iam::{ACCOUNT}:role/admins"]}}
  backup_operators: {{aws: ["arn:aws:iam::{ACCOUNT}:role/backup"]}}
  auditors: {{aws: ["arn:aws:iam::{ACCOUNT}:role/audit"]}}
  break_glass: {{aws: ["arn:aws:iam::{ACCOUNT}:role/break-glass"]}}
workloads:
  - name: app
    aws: {{role_arn: "arn:aws:iam::{ACCOUNT}:role/app"}}
keys:
"""
    keys = "".join(f"  - {{name: data-{i:04d}, tier: non-production, cloud: aws, "
                   f"usage: encrypt, users: [app]}}\n" for i in range(n))
    return head + keys


def keyplane(args: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Run keyplane in a child process: (wall seconds, exit code, peak RSS in KiB)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True,
                          cwd=REPO, env=env)
    wall = time.perf_counter() - start
    peak = next((int(line.split("=")[1]) for line in proc.stderr.splitlines()
                 if line.startswith("PEAK_RSS_KB=")), -1)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"keyplane {' '.join(args[:2])} failed ({proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, proc.returncode, peak


def create(envs: Path, synth: Path, endpoint: str) -> None:
    """Create what the synthesized bench stack declares, through the sandbox writer."""
    sys.path.insert(0, str(REPO))
    from keyplane.model import load_estate
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.stack import load_environment_stacks
    from keyplane.sandbox.apply import apply_state

    env = load_estate([envs / "bench.yaml"]).get("bench")
    apply_state(expected_state(env, load_environment_stacks(env, synth)),
                aws_endpoint=endpoint, gcp_endpoint=None)


def set_latency(endpoint: str, ms: float) -> None:
    """Change the sandbox's per-request latency through its control endpoint."""
    req = urllib.request.Request(f"{endpoint}/_keyplane/latency", method="PUT",
                                 data=json.dumps({"latency_ms": ms}).encode())
    with urllib.request.urlopen(req, timeout=10):
        pass


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="keyplane-bench-") as tmp:
        envs = Path(tmp) / "environments"
        envs.mkdir()
        (envs / "bench.yaml").write_text(environment(args.keys), encoding="utf-8")
        env = {**os.environ, "KEYPLANE_SANDBOX_STATE": str(Path(tmp) / "sandbox.json")}
        env.pop("AWS_ACCESS_KEY_ID", None)
        subprocess.run([sys.executable, "-m", "keyplane.cli", "sandbox", "up", "--background"],
                       cwd=REPO, env=env, check=True, capture_output=True)
        try:
            endpoint = json.loads((Path(tmp) / "sandbox.json").read_text())["aws_endpoint"]
            synth = Path(tmp) / "cdktf.out"
            subprocess.run([sys.executable, "-m", "keyplane.cli", "synth", "bench", "-d",
                            str(envs), "--out-dir", str(synth), "--quiet"],
                           cwd=REPO, env=env, check=True, capture_output=True)
            t0 = time.perf_counter()
            create(envs, synth, endpoint)
            created = time.perf_counter() - t0
            set_latency(endpoint, args.latency_ms)
            common = ["drift", "bench", "-d", str(envs), "--sandbox", "--format", "json",
                      "--synth-dir", str(synth)]
            out_c, out_s = Path(tmp) / "concurrent.json", Path(tmp) / "sequential.json"
            t_c, code_c, rss_c = keyplane([*common, "--output", str(out_c)], env)
            t_s, code_s, rss_s = keyplane([*common, "--concurrency", "1", "--output",
                                           str(out_s)], env)
        finally:
            subprocess.run([sys.executable, "-m", "keyplane.cli", "sandbox", "down"], cwd=REPO,
                           env=env, capture_output=True)
        rep_c, rep_s = json.loads(out_c.read_text()), json.loads(out_s.read_text())
    print(f"keyplane drift over {args.keys} keys in the local sandbox "
          f"(fixed latency {args.latency_ms:g} ms per request; keys created in {created:.1f} s)")
    print(f"  default concurrency (8): {t_c:7.1f} s  exit {code_c}  "
          f"{rep_c['summary']['checked']} checked  peak RSS {rss_c / 1024:.0f} MiB")
    print(f"  --concurrency 1:         {t_s:7.1f} s  exit {code_s}  "
          f"{rep_s['summary']['checked']} checked  peak RSS {rss_s / 1024:.0f} MiB")
    print(f"  speed-up: {t_s / t_c:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
