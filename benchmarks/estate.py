"""Benchmark: a generated estate of N environments, validate -> synth -> post-apply --all -> report.

Each environment is its own AWS account (the sandbox answers as any account from its access
key) and declares K keys (three symmetric encryption keys to one ECC signing key). For each
estate size the benchmark:

1. generates the environment files in a temporary directory;
2. runs `keyplane validate` and `keyplane synth` of the whole estate in a child process (time,
   peak RSS of the Python process and of the Node child jsii starts), and `keyplane synth` of
   one environment alone, in a fresh process (Node start included);
3. starts the sandbox (its own process), creates every environment's expected state through
   the sandbox writer (what `keyplane sandbox apply` does, without Terraform), then sets a
   fixed per-request latency (default 20 ms, about one KMS call inside a Region; a local
   server answers in well under that, which would hide what concurrency buys);
4. runs `keyplane post-apply --all` once per run asked for with `--runs`, each `C` (units at
   once, `--estate-concurrency`; each unit reads with post-apply's default 8 reads at once) or
   `C:P` (and `--estate-processes P`; without it, post-apply's default: one worker process per
   CPU, at most one per 10 units), the first being the baseline (default `1:1`: one stack
   after another in one process, as a shell loop over `keyplane matrix` runs them); it
   records the CPU seconds of keyplane (its worker processes included) and of the sandbox
   (both are Python processes on this machine: the sandbox's share is what a cloud spends on
   its own servers) and samples keyplane's RSS over the run, to show whether memory stays
   flat;
5. runs `keyplane report --post-apply-dir` on the last run (HTML pages).

It prints one table and, with two sizes, how each figure grows from the smallest to the
largest (linear growth of time is the goal; post-apply's memory should not grow with the
estate, only with the units at once). Only AWS is generated: a GCP section per environment
would add a second unit per environment, read the same way, doubling post-apply's work
without showing anything new about the scheduler.

    .venv/bin/python benchmarks/estate.py [--envs 20,200] [--keys 20] [--latency-ms 20]
        [--runs 1:1,4:1,4,64] [--skip-synth-above N] [--skip-baseline-above N] [--synth-only]

`--skip-synth-above N`: estates larger than N reuse the stack of the first environment
synthesized at the smallest size, with the account id replaced (a plain literal in
cdk.tf.json, so it is what synth writes); synth's time there is estimated from the smallest
size and marked. `--skip-baseline-above N`: the baseline, which is slow by design, is not run
on estates larger than N; its time is the smallest size's per environment times the size,
marked.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The child reports its own peak RSS (VmHWM) as it exits: ru_maxrss would not do, since Linux
# carries it across exec, so a child would inherit the benchmark process's own peak.
_CHILD = ("import atexit, re, sys\n"
          "def _peak():\n"
          "    status = open('/proc/self/status', encoding='ascii').read()\n"
          "    sys.stderr.write('PEAK_RSS_KB=' + re.search(r'VmHWM:\\s+(\\d+)', status)[1]"
          " + '\\n')\n"
          "atexit.register(_peak)\n"
          "from keyplane.cli import main\nmain()\n")
_TEMPLATE_ACCOUNT = "600000000001"


def account_of(i: int) -> str:
    """The account of environment i (1-based): distinct, 12 digits."""
    return f"6{i:011d}"


def environment(name: str, account: str, keys: int) -> str:
    """A non-production environment in `account` declaring `keys` keys (a mix of symmetric
    encryption keys and asymmetric signing keys, as a certificate estate holds)."""
    head = f"""\
name: {name}
kind: non-production
aws: {{account_id: "{account}", region: eu-west-1}}
evidence_location: ./evidence/{name}
principals:
  key_admins: {{aws: ["arn:aws:iam::{account}:role/admins"]}}
  backup_operators: {{aws: ["arn:aws:iam::{account}:role/backup"]}}
  auditors: {{aws: ["arn:aws:iam::{account}:role/audit"]}}
  break_glass: {{aws: ["arn:aws:iam::{account}:role/break-glass"]}}
workloads:
  - name: app
    aws: {{role_arn: "arn:aws:iam::{account}:role/app"}}
keys:
"""
    lines = []
    for k in range(keys):
        if k % 4 == 3:
            lines.append(f"  - {{name: sign-{k:03d}, tier: non-production, cloud: aws, "
                         f"usage: sign, spec: ECC_NIST_P256, users: [app], generation: 1, "
                         f"generations: [{{generation: 1, created_on: 2026-05-01}}]}}\n")
        else:
            lines.append(f"  - {{name: data-{k:03d}, tier: non-production, cloud: aws, "
                         f"usage: encrypt, users: [app]}}\n")
    return head + "".join(lines)


def generate(root: Path, n: int, keys: int) -> Path:
    """N environment files e0001..eN under root/environments."""
    envs = root / "environments"
    envs.mkdir(parents=True)
    for i in range(1, n + 1):
        (envs / f"e{i:04d}.yaml").write_text(environment(f"e{i:04d}", account_of(i), keys),
                                              encoding="utf-8")
    return envs


# ---- measuring a child process ---------------------------------------------------------------

@dataclass
class Measured:
    """One child run: wall time, exit code, peak RSS of the process and of its descendants,
    and RSS samples over time (seconds since start, KiB)."""

    wall: float
    code: int
    peak_kb: int
    children_peak_kb: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    cpu: float = 0.0  # user + system seconds of the child and what it waited for
    server_cpu: float = 0.0  # user + system seconds the sandbox spent meanwhile


def _proc_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children", encoding="ascii") as fh:
                kids = [int(p) for p in fh.read().split()]
        except OSError:
            kids = []
        out += kids
        frontier += kids
    return out


def run_child(args: list[str], env: dict[str, str], *, ok: tuple[int, ...] = (0,),
              every: float = 0.25) -> Measured:
    """Run keyplane in a child process, polling its RSS (and its descendants' peak)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int]] = []
    kids_peak: dict[int, int] = {}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            samples.append((time.perf_counter() - start, _proc_kb(proc.pid, "VmRSS:")))
            for kid in _descendants(proc.pid):
                kids_peak[kid] = max(kids_peak.get(kid, 0), _proc_kb(kid, "VmHWM:"))
            done.wait(every)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    out, err = proc.communicate()
    done.set()
    poller.join()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = next((int(line.split("=")[1]) for line in err.splitlines()
                 if line.startswith("PEAK_RSS_KB=")), -1)
    if proc.returncode not in ok:
        raise SystemExit(f"keyplane {' '.join(args[:3])} failed ({proc.returncode}):\n"
                         f"{out[-2000:]}\n{err[-3000:]}")
    return Measured(wall=wall, code=proc.returncode, peak_kb=peak,
                    children_peak_kb=max(kids_peak.values(), default=0), samples=samples,
                    stdout=out, stderr=err, cpu=cpu)


def process_cpu(pid: int) -> float:
    """User + system seconds `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the sandbox ---------------------------------------------------------------------------

def sandbox_up(env: dict[str, str]) -> str:
    """Start the sandbox in the background; its AWS endpoint."""
    subprocess.run([sys.executable, "-m", "keyplane.cli", "sandbox", "up", "--background"],
                   cwd=REPO, env=env, check=True, capture_output=True)
    state = Path(env["KEYPLANE_SANDBOX_STATE"])
    return str(json.loads(state.read_text())["aws_endpoint"])


def sandbox_down(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "keyplane.cli", "sandbox", "down"], cwd=REPO,
                   env=env, capture_output=True)


def set_latency(endpoint: str, ms: float) -> None:
    """Change the sandbox's per-request latency through its control endpoint."""
    req = urllib.request.Request(f"{endpoint}/_keyplane/latency", method="PUT",
                                 data=json.dumps({"latency_ms": ms}).encode())
    with urllib.request.urlopen(req, timeout=10):
        pass


def create(envs: Path, synth: Path, endpoint: str, workers: int = 8) -> float:
    """Create every environment's expected state in the sandbox; seconds taken."""
    sys.path.insert(0, str(REPO))
    from keyplane.model import load_estate
    from keyplane.model.loader import environment_files
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.stack import load_environment_stacks
    from keyplane.sandbox.apply import apply_state

    estate = load_estate(environment_files(envs))
    start = time.perf_counter()

    def one(e: object) -> None:
        apply_state(expected_state(e, load_environment_stacks(e, synth)),  # type: ignore[arg-type]
                    aws_endpoint=endpoint, gcp_endpoint=None)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, estate.environments))
    return time.perf_counter() - start


def copy_stacks(template: Path, synth: Path, n: int) -> None:
    """Stacks for e0001..eN from the synthesized stack of e0001, account id replaced."""
    text = (template / "stacks" / "e0001-aws" / "cdk.tf.json").read_text(encoding="utf-8")
    for i in range(1, n + 1):
        dst = synth / "stacks" / f"e{i:04d}-aws" / "cdk.tf.json"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(text.replace(_TEMPLATE_ACCOUNT, account_of(i))
                       .replace("e0001", f"e{i:04d}"), encoding="utf-8")


# ---- one estate size -------------------------------------------------------------------------

@dataclass
class Figures:
    """Everything measured at one estate size."""

    n: int
    validate: Measured | None = None
    synth: Measured | None = None
    synth_one: Measured | None = None
    synth_extrapolated: bool = False
    baseline_extrapolated: bool = False
    created_s: float = 0.0
    post_apply: dict[str, Measured] = field(default_factory=dict)  # by run ("C" or "C:P")
    checked: dict[str, int] = field(default_factory=dict)
    report: Measured | None = None


def _flatness(m: Measured) -> tuple[float, float]:
    """(peak RSS MiB in the first quarter of the run, in the last quarter)."""
    if not m.samples:
        return 0.0, 0.0
    end = m.samples[-1][0]
    first = [kb for t, kb in m.samples if t <= end / 4 and kb]
    last = [kb for t, kb in m.samples if t >= 3 * end / 4 and kb]
    return (max(first, default=0) / 1024, max(last, default=0) / 1024)


def measure(n: int, args: argparse.Namespace, tmp: Path, template: Path | None) -> Figures:
    """Run every step at estate size `n`."""
    root = tmp / f"estate-{n}"
    envs = generate(root, n, args.keys)
    env = {**os.environ, "KEYPLANE_SANDBOX_STATE": str(root / "sandbox.json"),
           "KEYPLANE_AUDIT_LOG": str(root / "audit" / "events.jsonl")}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        env.pop(name, None)
    fig = Figures(n=n)
    synth = root / "cdktf.out"
    print(f"\n== {n} environments x {args.keys} keys ==", flush=True)
    fig.validate = run_child(["validate", "-d", str(envs)], env)
    print(f"  validate: {fig.validate.wall:.1f} s", flush=True)
    if template is not None and n > args.skip_synth_above:
        copy_stacks(template, synth, n)
        fig.synth_extrapolated = True
        print("  synth: skipped (stacks copied from e0001's; figures extrapolated)", flush=True)
    else:
        one_dir = root / "one"
        fig.synth_one = run_child(["synth", str(envs / "e0001.yaml"), "-d", str(envs),
                                   "--out-dir", str(one_dir), "--quiet"], env)
        fig.synth = run_child(["synth", "-d", str(envs), "--out-dir", str(synth), "--quiet"],
                              env)
        print(f"  synth: one {fig.synth_one.wall:.1f} s, all {fig.synth.wall:.1f} s",
              flush=True)
    if args.synth_only:
        return fig
    endpoint = sandbox_up(env)
    try:
        fig.created_s = create(envs, synth, endpoint)
        print(f"  keys created in the sandbox in {fig.created_s:.1f} s", flush=True)
        set_latency(endpoint, args.latency_ms)
        last = None
        for c in args.concurrency:
            conc, _, procs = c.partition(":")
            if c == args.concurrency[0] and n > args.skip_baseline_above and len(
                    args.concurrency) > 1:
                fig.baseline_extrapolated = True
                print(f"  post-apply --all, {_label(c)}: skipped (extrapolated)", flush=True)
                continue
            out_dir = root / f"post-apply-{c.replace(':', 'x')}"
            server = json.loads(Path(env["KEYPLANE_SANDBOX_STATE"]).read_text())["pid"]
            server_before = process_cpu(server)
            m = run_child(["post-apply", "--all", "-d", str(envs), "--synth-dir", str(synth),
                           "--sandbox", "--output-dir", str(out_dir), "--estate-concurrency",
                           conc, *(["--estate-processes", procs] if procs else []),
                           "--quiet", "--format", "json"], env, ok=(0,))
            m.server_cpu = process_cpu(server) - server_before
            doc = json.loads(m.stdout)
            if doc["totals"]["clean"] != n:
                raise SystemExit(f"post-apply --all at {n}: not every unit is clean: "
                                 f"{doc['totals']}")
            fig.post_apply[c] = m
            fig.checked[c] = doc["summary"]["checked"]
            last = out_dir
            print(f"  post-apply --all, {_label(c)}: {m.wall:.1f} s", flush=True)
    finally:
        sandbox_down(env)
    assert last is not None
    fig.report = run_child(["report", "-d", str(envs), "--post-apply-dir", str(last),
                            "--output", str(root / "report" / "report.html"), "--as-of",
                            "2026-06-01"], env)
    print(f"  report: {fig.report.wall:.1f} s", flush=True)
    return fig


# ---- printing --------------------------------------------------------------------------------

def _mib(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def print_tables(figs: list[Figures], args: argparse.Namespace) -> None:
    """The figures of every size, then the growth from the smallest to the largest."""
    base = args.concurrency[0]
    print(f"\nkeyplane estate benchmark: {args.keys} keys per environment, AWS only, "
          f"{args.latency_ms:g} ms per request injected in post-apply")
    print(f"\n{'step':<46}" + "".join(f"{f'{f.n} envs':>16}" for f in figs))

    def row(label: str, values: list[str]) -> None:
        print(f"{label:<46}" + "".join(f"{v:>16}" for v in values))

    small = figs[0]
    for f in figs:  # a skipped baseline: the smallest size's time per environment
        if f.baseline_extrapolated and base in small.post_apply:
            f.post_apply[base] = Measured(wall=small.post_apply[base].wall * f.n / small.n,
                                          code=0, peak_kb=-1, children_peak_kb=-1)
            f.checked[base] = f.checked[args.concurrency[1]]
    for f in figs:  # a skipped synth: one environment's start, then the marginal cost of each
        if f.synth_extrapolated and small.synth is not None and small.synth_one is not None:
            marginal = max(0.0, (small.synth.wall - small.synth_one.wall) / max(1, small.n - 1))
            f.synth = Measured(wall=small.synth_one.wall + marginal * (f.n - 1), code=0,
                               peak_kb=-1, children_peak_kb=-1)
            f.synth_one = small.synth_one

    def wall(m: Measured | None, per: int = 1, digits: int = 1, star: bool = False) -> str:
        return "-" if m is None else f"{m.wall / per:.{digits}f}" + ("*" if star else "")

    def mib(m: Measured | None, children: bool = False) -> str:
        kb = None if m is None else (m.children_peak_kb if children else m.peak_kb)
        return "-" if kb is None or kb < 0 else f"{kb / 1024:.0f}"

    row("validate: wall s", [wall(f.validate) for f in figs])
    row("validate: peak RSS MiB", [mib(f.validate) for f in figs])
    row("synth one environment: wall s", [wall(f.synth_one) for f in figs])
    row("synth one environment: python / node MiB",
        [f"{mib(f.synth_one)} / {mib(f.synth_one, True)}" for f in figs])
    row("synth all: wall s", [wall(f.synth, star=f.synth_extrapolated) for f in figs])
    row("synth all: s per environment", [wall(f.synth, f.n, 2, f.synth_extrapolated)
                                         for f in figs])
    row("synth all: python / node peak MiB",
        [f"{mib(f.synth)} / {mib(f.synth, True)}" for f in figs])
    if not args.synth_only:
        row("sandbox: create the keys, s", [f"{f.created_s:.1f}" for f in figs])
        for c in args.concurrency:
            tag = " (baseline)" if c == base else (" (default)" if c == "4" else "")
            row(f"post-apply --all, {_label(c)}{tag}: s",
                [wall(f.post_apply.get(c), star=f.baseline_extrapolated and c == base)
                 for f in figs])
            row("   per environment, s", [wall(f.post_apply.get(c), f.n, 3) for f in figs])
            row("   speed-up over the baseline",
                [f"{f.post_apply[base].wall / f.post_apply[c].wall:.1f}x" for f in figs])
            row("   CPU s per environment: keyplane / sandbox", [
                f"{f.post_apply[c].cpu / f.n:.2f} / {f.post_apply[c].server_cpu / f.n:.2f}"
                if f.post_apply[c].cpu else "-" for f in figs])
            row("   peak RSS MiB: main / largest worker process", [
                f"{mib(f.post_apply.get(c))} / {mib(f.post_apply.get(c), True)}"
                for f in figs])
            row("   RSS MiB, first / last quarter", [
                "{:.0f} / {:.0f}".format(*_flatness(f.post_apply[c]))
                if f.post_apply[c].samples else "-" for f in figs])
        row("post-apply: resources checked", [str(f.checked.get(base, "-")) for f in figs])
        row("report (html pages): wall s", [wall(f.report) for f in figs])
        row("report: peak RSS MiB", [mib(f.report) for f in figs])
    if any(f.synth_extrapolated for f in figs):
        print("* synth not run at this size: one environment's time plus the smallest size's "
              "marginal time per further environment (stacks copied from e0001's)")
    if any(f.baseline_extrapolated for f in figs):
        print(f"* baseline ({_label(base)}) not run at "
              f"{', '.join(str(f.n) for f in figs if f.baseline_extrapolated)} environments: "
              "the smallest size's time per environment times the size")
    if len(figs) < 2:
        return
    a, b = figs[0], figs[-1]
    k = b.n / a.n
    print(f"\ngrowth from {a.n} to {b.n} environments ({k:.0f}x; linear: time x{k:.0f}; "
          "post-apply's memory should not grow)")

    def grow(label: str, x: float | None, y: float | None) -> None:
        if x and y and x > 0 and y > 0:
            print(f"  {label:<52} x{y / x:5.2f}")

    pairs = [("validate", a.validate, b.validate, True)]
    if not b.synth_extrapolated:
        pairs.append(("synth all", a.synth, b.synth, True))
    if not args.synth_only:
        pairs += [(f"post-apply --all ({_label(c)})", a.post_apply.get(c), b.post_apply.get(c),
                   not (b.baseline_extrapolated and c == base)) for c in args.concurrency]
        pairs.append(("report", a.report, b.report, True))
    for label, x, y, measured in pairs:
        if x is None or y is None or not measured:
            continue
        grow(f"{label}: wall", x.wall, y.wall)
        grow(f"{label}: peak RSS", x.peak_kb, y.peak_kb)
        if label == "synth all":
            grow(f"{label}: node peak RSS", x.children_peak_kb, y.children_peak_kb)
    if args.synth_only:
        return
    default = "4" if "4" in args.concurrency else args.concurrency[-1]
    t = b.post_apply[default].wall
    print(f"\ngoal: post-apply of {b.n} environments from one runner in under 120 s at "
          f"{args.latency_ms:g} ms: {t:.0f} s with {_label(default)} "
          f"({'met' if t < 120 else 'not met'})")


def _label(run: str) -> str:
    """`4 at once, 2 processes` for "4:2"; `4 at once` for "4" (post-apply's default processes)."""
    c, _, p = run.partition(":")
    return f"{c} at once" + (f", {p} process{'es' if p != '1' else ''}" if p else
                             ", default processes")


def _runs(text: str) -> list[str]:
    out = [x.strip() for x in text.split(",") if x.strip()]
    for x in out:
        c, _, p = x.partition(":")
        if not c.isdigit() or (p and not p.isdigit()):
            raise argparse.ArgumentTypeError(f"{x!r}: expected C or C:P (integers)")
    return out


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=_ints, default=[20, 200],
                    help="estate sizes, comma separated (default 20,200)")
    ap.add_argument("--keys", type=int, default=20, help="keys per environment")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--runs", dest="concurrency", type=_runs, default=["1:1", "4:1", "4", "64"],
                    help="post-apply runs, each C (--estate-concurrency C, default processes) "
                         "or C:P (and --estate-processes P); the first is the baseline "
                         "(default 1,4,64; 4 is post-apply's default)")
    ap.add_argument("--skip-synth-above", type=int, default=10**9,
                    help="do not synthesize estates larger than this (see the module doc)")
    ap.add_argument("--skip-baseline-above", type=int, default=10**9,
                    help="do not run the baseline (the first --concurrency value) on estates "
                         "larger than this: its time is extrapolated linearly from the "
                         "smallest size, and marked")
    ap.add_argument("--synth-only", action="store_true",
                    help="only generate, validate and synthesize (no sandbox, no post-apply)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="keyplane-estate-bench-"))
    figs: list[Figures] = []
    print(f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.1f} (other "
          "processes on the machine slow every figure)", flush=True)
    try:
        template = None
        for n in sorted(args.envs):
            figs.append(measure(n, args, tmp, template))
            if template is None and not figs[-1].synth_extrapolated:
                template = tmp / f"estate-{n}" / "cdktf.out"
        print_tables(figs, args)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if args.keep:
            print(f"\nkept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
