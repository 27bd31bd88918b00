"""The real path, measured: `terraform plan` of the example estate vs `keyplane check` on its
JSON, and a `terraform apply` into the local sandbox.

Everything here is real Terraform with the real hashicorp/aws provider (from the filesystem
mirror) against keyplane's local sandbox, measured in this run:

(a) per AWS stack: `terraform plan` (+ `show -json`) wall time, the baseline; `keyplane check`
    on that plan JSON (and the stack's cdk.tf.json, as the PR workflow gives it), as a CLI
    child process and in-process (best of 5). Target: the gate costs < 10% of the plan.
(b) prod-aws: `terraform apply` into a fresh sandbox, then the second plan (which must be
    empty: the sandbox's fidelity test).

Usage: .venv/bin/python benchmarks/real_path.py [--synth-dir cdktf.out]
Needs terraform on PATH and the provider mirror (see README: Provider versions).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
GATE_SHARE_TARGET = 0.10


def _synth(out: Path) -> None:
    subprocess.run([PY, "-m", "keyplane.cli", "synth", "--out-dir", str(out)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def _gate_cli(inputs: list[Path]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run([PY, "-m", "keyplane.cli", "check", *map(str, inputs), "--format",
                           "json"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, proc.returncode


def _gate_in_process(inputs: list[Path]) -> float:
    from keyplane.policy.api import check

    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        check(inputs)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-dir", type=Path, default=None,
                        help="An existing cdktf.out (default: synthesize into a temp dir).")
    args = parser.parse_args()
    from keyplane.model.loader import load_estate
    from keyplane.model.specs import Cloud
    from keyplane.model.stacks import stack_file
    from keyplane.sandbox import terraform as tf
    from keyplane.sandbox.server import Sandbox

    if shutil.which("terraform") is None:
        print("terraform is not on PATH: nothing to measure")
        return 2
    work = Path(tempfile.mkdtemp(prefix="keyplane-bench-real-"))
    out = args.synth_dir or work / "cdktf.out"
    if args.synth_dir is None:
        _synth(out)
    estate = load_estate(sorted((ROOT / "environments").glob("*.yaml")))
    ok = True
    print("(a) terraform plan vs keyplane check on its JSON (each stack in a fresh sandbox)")
    sandbox = Sandbox()
    url, _ = sandbox.start()
    try:
        for env in estate.environments:
            if env.aws is None or not env.keys_on(Cloud.AWS):
                continue
            path = stack_file(env.name, Cloud.AWS, out)
            doc = tf.read_stack(path)
            ws = tf.prepare(path, work / path.parent.name, aws_endpoint=url,
                            account_id=env.aws.account_id)
            if tf.skew(doc, ws.provider_version):
                print(f"    {path.parent.name:12s} skipped: version skew with hashicorp/aws "
                      f"{ws.provider_version}")
                continue
            tf.seed_parameters(doc, aws_endpoint=url, account_id=env.aws.account_id,
                               region=env.aws.region)
            tf.init(ws)
            planfile = ws.directory / "plan.tfplan"
            start = time.perf_counter()
            tf.plan(ws, out=planfile)
            plan_json = tf.show_json(ws, planfile)
            t_plan = time.perf_counter() - start
            target = ws.directory / "plan.json"
            target.write_text(json.dumps(plan_json), encoding="utf-8")
            inputs = [target, path]
            t_cli, code = _gate_cli(inputs)
            t_inproc = _gate_in_process(inputs)
            share = t_cli / t_plan
            ok &= code == 0 and share < GATE_SHARE_TARGET
            print(f"    {path.parent.name:12s} {len(plan_json.get('resource_changes') or []):4d} "
                  f"changes  terraform plan {t_plan:6.2f} s | keyplane check {t_cli:5.2f} s "
                  f"(cli, exit {code}), {t_inproc * 1000:6.1f} ms in-process | gate = "
                  f"{share:5.1%} of the plan (target < {GATE_SHARE_TARGET:.0%})")
    finally:
        sandbox.stop()

    print("(b) prod-aws: terraform apply into a fresh sandbox, then the second plan")
    prod = next(e for e in estate.environments if e.name == "prod")
    assert prod.aws is not None
    sandbox = Sandbox()
    url, _ = sandbox.start()
    try:
        path = stack_file("prod", Cloud.AWS, out)
        doc = tf.read_stack(path)
        ws = tf.prepare(path, work / "apply-prod-aws", aws_endpoint=url,
                        account_id=prod.aws.account_id)
        tf.seed_parameters(doc, aws_endpoint=url, account_id=prod.aws.account_id,
                           region=prod.aws.region)
        start = time.perf_counter()
        tf.init(ws)
        t_init = time.perf_counter() - start
        start = time.perf_counter()
        tf.apply(ws)
        t_apply = time.perf_counter() - start
        start = time.perf_counter()
        changes = tf.plan(ws, detailed_exitcode=True)
        t_second = time.perf_counter() - start
        ok &= changes == 0
        print(f"    terraform init {t_init:5.2f} s | apply {t_apply:6.2f} s | second plan "
              f"{t_second:5.2f} s: {'no changes' if changes == 0 else 'CHANGES (unfaithful)'}")
    finally:
        sandbox.stop()
    print("result:", "all targets met" if ok else "a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
