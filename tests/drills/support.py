"""Helpers for drill tests against the sandbox: a fake clock that moves the sandbox's too."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from keyplane.drills.waiter import Timing
from keyplane.sandbox.server import Sandbox
from tests.conftest import REPO, scratch_dir
from tests.sandbox.helpers import run_cli

ESCROW_ENV = """\
name: lab
kind: non-production
aws:
  account_id: "{account}"
  region: eu-west-1
  backup:
    drill_account_id: "{drill}"
evidence_location: {evidence}
principals:
  key_admins:
    aws: [arn:aws:iam::{account}:role/admins]
  backup_operators:
    aws: [arn:aws:iam::{account}:role/backup]
  auditors:
    aws: [arn:aws:iam::{account}:role/audit]
  break_glass:
    aws: [arn:aws:iam::{account}:role/break-glass]
workloads:
  - name: tester
    aws:
      role_arn: arn:aws:iam::{account}:role/tester
keys:
  - name: escrow-wrap
    tier: non-production
    cloud: aws
    usage: encrypt
    users: [tester]
  - name: lab-signer
    tier: non-production
    cloud: aws
    usage: sign
    spec: {spec}
    origin: external
    users: [tester]
    escrow:
      location: s3://lab-escrow-{account}/lab-signer.json
      wrapping_key: escrow-wrap
    generation: 1
    generations:
      - generation: 1
        created_on: 2026-05-01
"""


class SandboxClock:
    """The drill's clock and sleep: a sleep moves both this clock and the sandbox's."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.t = sb.front.clock.now()  # the drill and the sandbox share one timeline
        self.slept = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds
        self.sb.front.clock.advance(seconds)

    def timing(self) -> Timing:
        return Timing(clock=self.now, sleep=self.sleep)


def use_clock(monkeypatch: pytest.MonkeyPatch, sb: Sandbox) -> SandboxClock:
    """Make `keyplane drill` use a fake clock bound to the sandbox."""
    import keyplane.commands.drill as drill_cmd

    clock = SandboxClock(sb)
    monkeypatch.setattr(drill_cmd, "timing", clock.timing)
    return clock


def drill(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path, env: str, *args: str
          ) -> tuple[int, dict[str, Any], str]:
    """`keyplane drill ENV --format json ...` in-process: (exit code, report, stderr)."""
    code, out, err = run_cli(capsys, "drill", env, "-d", str(envs), "--format", "json",
                             "--endpoint-url", sb.aws.url, "--gcp-endpoint", sb.gcp.target,
                             "--max-attempts", "2", "--audit-log", str(envs.parent / "ev.jsonl"),
                             *args)
    return code, (json.loads(out) if out.strip().startswith("{") else {}), err


def outcomes(report: dict[str, Any]) -> dict[tuple[str, str, int | None], str]:
    """(kind, key, generation) -> outcome."""
    return {(r["kind"], r["key"], r["generation"]): r["outcome"] for r in report["results"]}


def result(report: dict[str, Any], kind: str, key: str) -> dict[str, Any]:
    """The first result of a kind and key."""
    return next(r for r in report["results"] if r["kind"] == kind and r["key"] == key)


def drill_env(sb: Sandbox, tmp: Path, **edits: str) -> tuple[Path, str]:
    """A fresh copy of the example prod environment, applied to the sandbox.

    Its evidence bucket is unique per test (S3 bucket names are global in the sandbox);
    `edits` are text replacements made after the apply (drift the inventory, not the cloud).
    """
    from keyplane.model import load_estate
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.stack import load_environment_stacks
    from keyplane.sandbox.apply import apply_state
    from tests.sandbox.helpers import new_ids, prod_copy

    account, project = new_ids()
    d = prod_copy(tmp, account, project)
    path = d / "prod.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "acme-keyplane-evidence-prod", f"evidence-{account}"), encoding="utf-8")
    env = load_estate([path]).get("prod")
    stacks = load_environment_stacks(env, d.parent / "cdktf.out")
    apply_state(expected_state(env, stacks), aws_endpoint=sb.aws.url, gcp_endpoint=sb.gcp.target)
    text = path.read_text(encoding="utf-8")
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return d, account


_LAB_ACCOUNT = "769999999999"  # the placeholder account the lab stack is synthesized with


@functools.lru_cache(maxsize=1)
def _lab_stacks() -> Path:
    """`keyplane synth` of the lab environment (ESCROW_ENV), once per test process."""
    root = scratch_dir("lab-synth-")
    (root / "environments").mkdir()
    (root / "environments" / "lab.yaml").write_text(ESCROW_ENV.format(
        account=_LAB_ACCOUNT, drill="760000009999", evidence=root / "evidence",
        spec="ECC_NIST_P256"), encoding="utf-8")
    out = root / "cdktf.out"
    proc = subprocess.run(
        [sys.executable, "-c", "from keyplane.cli import main; main()", "synth", "--out-dir",
         str(out), "--environments-dir", str(root / "environments")],
        capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def lab_env(tmp: Path, *, account: str, drill: str, evidence: Path) -> Path:
    """An environments dir holding the lab environment (an imported signing key with an
    escrow copy) in `account`, and beside it (`<tmp>/cdktf.out`) its synthesized stack.

    The stack is synthesized once per run and the account id replaced: it is a plain literal
    in cdk.tf.json, so this is what `keyplane synth` of the copy writes.
    """
    d = tmp / "environments"
    d.mkdir(parents=True, exist_ok=True)
    (d / "lab.yaml").write_text(ESCROW_ENV.format(account=account, drill=drill,
                                                  evidence=evidence, spec="ECC_NIST_P256"),
                                encoding="utf-8")
    src = _lab_stacks()
    dst = tmp / "cdktf.out"
    shutil.copytree(src, dst)
    stack = dst / "stacks" / "lab-aws" / "cdk.tf.json"
    stack.write_text(stack.read_text(encoding="utf-8").replace(_LAB_ACCOUNT, account),
                     encoding="utf-8")
    return d
