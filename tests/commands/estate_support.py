"""Helpers for the `--all` tests: the example estate (dev, staging, prod) under fresh ids.

Every test gets its own accounts, projects and bucket names (a copy of the example
environments and of their synthesized stacks with the ids replaced), so tests sharing one
module-scoped sandbox never see each other's state. The stacks are the example estate's,
synthesized once per run: the ids are plain literals in cdk.tf.json, so the copy is what
`keyplane synth` of the copied environments writes, without a Node start per test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keyplane.model import load_estate
from keyplane.postapply.expected import expected_state
from keyplane.postapply.stack import load_environment_stacks
from keyplane.sandbox.apply import apply_state
from keyplane.sandbox.server import Sandbox
from tests.conftest import EXAMPLE_ENVIRONMENTS, synthesize_example_estate
from tests.sandbox.helpers import new_ids, run_cli

# The ids each example environment names (accounts, project, globally named buckets).
IDS = {"dev": ("567890123456", "acme-pki-dev"),
       "staging": ("345678901234", "456789012345", "acme-pki-staging",
                   "acme-pki-escrow-staging"),
       "prod": ("210987654321", "987654321098", "acme-pki-prod",
                "acme-pki-certificate-inventory-prod")}


def estate_copy(tmp: Path, names: tuple[str, ...] = ("dev", "staging", "prod")
                ) -> tuple[Path, Path, dict[str, str]]:
    """(environments dir, synth dir, old id -> new id) of a fresh copy of `names`."""
    synthesized = synthesize_example_estate()
    assert synthesized.exit_code == 0, synthesized.stderr[-2000:]
    envs, synth = tmp / "environments", tmp / "cdktf.out"
    envs.mkdir(parents=True, exist_ok=True)
    ids: dict[str, str] = {}
    for name in names:
        for old in IDS[name]:
            account, project = new_ids()
            if old.isdigit():
                ids[old] = account
            elif old == f"acme-pki-{name}":
                ids[old] = project
            else:  # a bucket: S3 names are global in the sandbox
                ids[old] = f"kp-bucket-{account}"

    def fresh(text: str) -> str:
        for old, new in ids.items():
            text = text.replace(old, new)
        return text

    for name in names:
        (envs / f"{name}.yaml").write_text(
            fresh((EXAMPLE_ENVIRONMENTS / f"{name}.yaml").read_text(encoding="utf-8")),
            encoding="utf-8")
        for stack in sorted((synthesized.out / "stacks").glob(f"{name}-*")):
            dst = synth / "stacks" / stack.name / "cdk.tf.json"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(fresh((stack / "cdk.tf.json").read_text(encoding="utf-8")),
                           encoding="utf-8")
    return envs, synth, ids


def apply_estate(sb: Sandbox, envs: Path, synth: Path) -> None:
    """Create every environment of `envs` in the sandbox from its stacks."""
    for path in sorted(envs.glob("*.yaml")):
        env = load_estate([path]).get(path.stem)
        apply_state(expected_state(env, load_environment_stacks(env, synth)),
                    aws_endpoint=sb.aws.url, gcp_endpoint=sb.gcp.target)


def post_apply_all(capsys: Any, sb: Sandbox, envs: Path, synth: Path, *args: str
                   ) -> tuple[int, str, str]:
    """`keyplane post-apply --all` in-process against the sandbox."""
    return run_cli(capsys, "post-apply", "--all", "-d", str(envs), "--synth-dir", str(synth),
                   "--endpoint-url", sb.aws.url, "--gcp-endpoint", sb.gcp.target, *args)


def summary(run_dir: Path) -> dict[str, Any]:
    """The run's estate.json."""
    data: dict[str, Any] = json.loads((run_dir / "estate.json").read_text(encoding="utf-8"))
    return data


def units(run_dir: Path) -> dict[str, dict[str, Any]]:
    """estate.json's units by stack."""
    return {u["stack"]: u for u in summary(run_dir)["units"]}
