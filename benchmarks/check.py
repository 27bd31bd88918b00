"""Benchmarks of `keyplane check`; prints figures and compares them with the targets.

(a) the example estate: `keyplane check` vs checkov's terraform_json scan of the same
    synthesized files, both measured in this run (checkov in its own virtualenv, built
    with `make checkov-venv` when missing). Target: keyplane >= 20x faster.
(b) generated Terraform plans of 1k, 5k and 10k resources: wall time and peak memory of
    `keyplane check` in a child process. Target: 10k < 2 s and < 300 MB, growing linearly.

Usage: .venv/bin/python benchmarks/check.py [--synth-dir cdktf.out] [--skip-checkov]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SPEEDUP_TARGET = 20.0
PLAN_SIZES = (1_000, 5_000, 10_000)
PLAN_TIME_TARGET_S = 2.0
PLAN_MEMORY_TARGET_MB = 300.0
AWS = "registry.terraform.io/hashicorp/aws"


def timed(cmd: list[str], cwd: Path = ROOT) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit code of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def keyplane_cmd(*args: str) -> list[str]:
    return [PY, "-m", "keyplane.cli", "check", *args]


# ---- (a) a synthesized estate -------------------------------------------------------------

def synth_from_inventory(out: Path) -> Path:
    """A cdktf.out shaped like `keyplane synth`'s, generated from the example inventory."""
    from keyplane.model import load_estate
    from keyplane.model.loader import environment_files
    from keyplane.model.specs import Cloud
    from keyplane.model.tags import aws_tags, gcp_labels, role_name
    from keyplane.model.tiers import TIERS, highest

    estate = load_estate(environment_files(ROOT / "environments"))
    stacks: dict[str, Any] = {}
    for env in estate.environments:
        top = highest(env.tiers())
        assert top is not None
        res: dict[str, dict[str, Any]] = {}
        acct = env.aws.account_id if env.aws else "000000000000"

        def add(rtype: str, name: str, body: dict[str, Any], path: str,
                res: dict[str, dict[str, Any]] = res, env_name: str = env.name) -> None:
            body["//"] = {"metadata": {"path": f"{env_name}/{path}", "uniqueId": name}}
            res.setdefault(rtype, {})[name] = body

        admin = f"arn:aws:iam::{acct}:role/{role_name(env.name, 'key-admin')}"
        for role in ("key-admin", "backup-operator", "auditor", "break-glass"):
            add("aws_iam_role", role.replace("-", "_"), {
                "name": role_name(env.name, role), "max_session_duration": 3600,
                "tags": {**aws_tags(env.name, top), "keyplane:role": role},
                "assume_role_policy": json.dumps({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]})},
                f"iam/{role}")
        for key in env.keys:
            pol = TIERS[key.tier]
            n = key.name.replace("-", "_")
            if key.cloud is Cloud.AWS:
                body: dict[str, Any] = {
                    "description": key.description, "deletion_window_in_days":
                    key.deletion_window_in_days, "tags": aws_tags(env.name, key.tier, key.name),
                    "policy": json.dumps({"Version": "2012-10-17", "Statement": [
                        {"Sid": "KeyAdmins", "Effect": "Allow", "Principal": {"AWS": admin},
                         "Action": ["kms:Describe*", "kms:PutKeyPolicy", "kms:GetKeyPolicy",
                                    "kms:ScheduleKeyDeletion"], "Resource": "*"},
                        {"Sid": "DeletionFloor", "Effect": "Deny", "Principal": {"AWS": "*"},
                         "Action": "kms:ScheduleKeyDeletion", "Resource": "*", "Condition": {
                             "NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays":
                                                 str(pol.min_deletion_window_in_days)}}}]}),
                    "lifecycle": {"prevent_destroy": pol.prevent_destroy}}
                if key.rotation_period_in_days:
                    body |= {"enable_key_rotation": True,
                             "rotation_period_in_days": key.rotation_period_in_days}
                add("aws_kms_key", n, body, f"keys/{key.name}/Key")
                add("aws_kms_alias", f"{n}_alias", {"name": key.alias,
                    "target_key_id": f"${{aws_kms_key.{n}.key_id}}"}, f"keys/{key.name}/Alias")
            else:
                add("google_kms_crypto_key", n, {
                    "name": key.name, "key_ring": "${google_kms_key_ring.ring.id}",
                    "labels": gcp_labels(env.name, key.tier, key.name),
                    "purpose": "ASYMMETRIC_SIGN" if key.usage.value == "sign"
                    else "ENCRYPT_DECRYPT",
                    "version_template": {"algorithm": key.spec,
                                         "protection_level": key.protection_level},
                    "lifecycle": {"prevent_destroy": pol.prevent_destroy}},
                    f"keys/{key.name}/CryptoKey")
        add("aws_cloudtrail", "trail", {"name": f"keyplane-{env.name}", "s3_bucket_name": "b",
            "is_multi_region_trail": True, "enable_log_file_validation": True,
            "kms_key_id": "${aws_kms_key.audit.arn}", "tags": aws_tags(env.name, top)},
            "audit/Trail")
        add("aws_cloudwatch_log_group", "trail_logs", {
            "name": f"/keyplane/{env.name}/trail", "kms_key_id": "${aws_kms_key.audit.arn}",
            "retention_in_days": TIERS[top].log_retention_in_days,
            "tags": aws_tags(env.name, top)}, "audit/LogGroup")
        stacks[env.name] = {"//": {"metadata": {"stackName": env.name, "version": "0.24.0"}},
                            "terraform": {"required_providers": {"aws": {
                                "source": "hashicorp/aws", "version": "6.0.0"}}},
                            "provider": {"aws": [{"region": "us-east-1"}]}, "resource": res}
    manifest = {"version": "0.24.0", "stacks": {}}
    for name, doc in stacks.items():
        d = out / "stacks" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "cdk.tf.json").write_text(json.dumps(doc, indent=2))
        manifest["stacks"][name] = {"name": name, "constructPath": name,
                                    "synthesizedStackPath": f"stacks/{name}/cdk.tf.json",
                                    "workingDirectory": f"stacks/{name}"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out


def bench_estate(synth_dir: Path | None, skip_checkov: bool, tmp: Path) -> bool:
    """Print keyplane vs checkov on the same synthesized files; True when the target is met."""
    if synth_dir is None or not (synth_dir / "stacks").is_dir():
        synth_dir = synth_from_inventory(tmp / "cdktf.out")
        origin = "generated from environments/*.yaml by this benchmark"
    else:
        origin = f"{synth_dir} (keyplane synth)"
    files = sorted(synth_dir.glob("stacks/*/cdk.tf.json"))
    n = sum(len(b) for f in files for b in json.loads(f.read_text()).get("resource", {}).values())
    print(f"(a) example estate: {len(files)} stack(s), {n} resources, {origin}")
    runs = [timed(keyplane_cmd(str(synth_dir), "--format", "json", "--output",
                               str(tmp / "kp.json")))[0] for _ in range(3)]
    kp = min(runs)
    print(f"    keyplane check           {kp:7.3f} s (best of 3)")
    if skip_checkov:
        print("    checkov                  skipped (--skip-checkov)")
        return True
    if not CHECKOV.exists():
        print("    building checkov's virtualenv: make checkov-venv")
        subprocess.run(["make", "checkov-venv"], cwd=ROOT, check=True)
    ck_runs = []
    for _ in range(2):
        cmd = [str(CHECKOV), "--framework", "terraform_json", "--quiet", "--compact",
               "--skip-download", "-o", "json"]
        for f in files:
            cmd += ["-f", str(f)]
        ck_runs.append(timed(cmd)[0])
    ck = min(ck_runs)
    ratio = ck / kp
    ok = ratio >= SPEEDUP_TARGET
    print(f"    checkov terraform_json   {ck:7.3f} s (best of 2)")
    print(f"    speed-up                 {ratio:7.1f}x  target >= {SPEEDUP_TARGET:.0f}x: "
          f"{'met' if ok else 'NOT met'}")
    return ok


# ---- (b) generated plans ------------------------------------------------------------------

def generated_plan(n: int) -> dict[str, Any]:
    """A Terraform plan (format 1.2) of `n` resources: keys, aliases, roles, log groups."""
    tiers = ("ca", "production", "non-production", "ephemeral")
    changes, planned = [], []
    for i in range(n):
        tier = tiers[i % 4]
        tags = {"keyplane:env": "bench", "keyplane:tier": tier, "keyplane:key": f"k{i // 4}"}
        kind = i % 4
        if kind in (0, 1):
            rtype, name = "aws_kms_key", f"k{i}"
            after: dict[str, Any] = {
                "description": f"key {i}", "customer_master_key_spec": "SYMMETRIC_DEFAULT",
                "key_usage": "ENCRYPT_DECRYPT", "enable_key_rotation": True,
                "rotation_period_in_days": 90, "deletion_window_in_days": 30,
                "multi_region": False, "bypass_policy_lockout_safety_check": False,
                "custom_key_store_id": None, "tags": tags, "tags_all": tags,
                "policy": json.dumps({"Version": "2012-10-17", "Statement": [{
                    "Sid": "KeyAdmins", "Effect": "Allow", "Principal": {
                        "AWS": "arn:aws:iam::111122223333:role/keyplane-bench-key-admin"},
                    "Action": ["kms:PutKeyPolicy", "kms:Describe*"], "Resource": "*"}]})}
            unknown = {"arn": True, "id": True, "key_id": True}
        elif kind == 2:
            rtype, name = "aws_kms_alias", f"a{i}"
            after = {"name": f"alias/k{i}"}
            unknown = {"arn": True, "id": True, "target_key_id": True}
        else:
            rtype, name = "aws_cloudwatch_log_group", f"l{i}"
            after = {"name": f"/bench/{i}", "retention_in_days": 365, "kms_key_id": None,
                     "tags": tags, "tags_all": tags}
            unknown = {"arn": True, "id": True}
        address = f"{rtype}.{name}"
        changes.append({"address": address, "mode": "managed", "type": rtype, "name": name,
                        "provider_name": AWS, "change": {
                            "actions": ["create"], "before": None, "after": after,
                            "after_unknown": unknown, "before_sensitive": False,
                            "after_sensitive": {"tags": {}, "tags_all": {}}}})
        planned.append({"address": address, "mode": "managed", "type": rtype, "name": name,
                        "provider_name": AWS, "schema_version": 0, "values": after,
                        "sensitive_values": {}})
    return {"format_version": "1.2", "terraform_version": "1.9.8",
            "planned_values": {"root_module": {"resources": planned}},
            "resource_changes": changes,
            "configuration": {"root_module": {"resources": []}},
            "applyable": True, "complete": True, "errored": False}


def bench_plans(tmp: Path) -> bool:
    """Print wall time and peak memory per plan size; True when the 10k target is met."""
    print("(b) generated plans (keyplane check --format json, child process):")
    rows = []
    for n in PLAN_SIZES:
        plan = tmp / f"plan-{n}.json"
        plan.write_text(json.dumps(generated_plan(n)))
        best = min((timed(keyplane_cmd(str(plan), "--format", "json", "--output",
                                       str(tmp / f"out-{n}.json"))) for _ in range(3)),
                   key=lambda r: r[0])
        findings = len(json.loads((tmp / f"out-{n}.json").read_text())["findings"])
        rows.append((n, best[0], best[1]))
        print(f"    {n:6d} resources  {best[0]:6.3f} s  peak {best[1]:6.1f} MB  "
              f"({findings} findings, {plan.stat().st_size / 1e6:.1f} MB plan)")
    (n1, t1, m1), (nk, tk, mk) = rows[0], rows[-1]
    per_k = [(rows[i + 1][1] - rows[i][1]) / ((rows[i + 1][0] - rows[i][0]) / 1000)
             for i in range(len(rows) - 1)]
    print(f"    growth 1k -> 10k: time x{tk / t1:.1f}, memory x{mk / m1:.1f} "
          f"(resources x{nk / n1:.0f}; start-up is a fixed cost); marginal time per 1k "
          f"resources: {', '.join(f'{p:.3f} s' for p in per_k)}")
    ok = tk < PLAN_TIME_TARGET_S and mk < PLAN_MEMORY_TARGET_MB
    print(f"    10k target < {PLAN_TIME_TARGET_S:.0f} s and < {PLAN_MEMORY_TARGET_MB:.0f} MB: "
          f"{'met' if ok else 'NOT met'}")
    return ok


def main() -> int:
    """Run both benchmarks; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth-dir", type=Path, default=ROOT / "cdktf.out")
    parser.add_argument("--skip-checkov", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        a = bench_estate(args.synth_dir, args.skip_checkov, tmp)
        b = bench_plans(tmp)
    return 0 if a and b else 1


if __name__ == "__main__":
    sys.exit(main())
