#!/usr/bin/env python3
"""Regenerate the real-plan fixtures the gate's tests read: tests/policy/fixtures/plans/real/.

For each AWS stack of the example estate: `keyplane synth`, then real Terraform with the
real hashicorp/aws provider (from the filesystem mirror) plans it against a fresh local
sandbox (the sandbox only answers the provider's reads: the caller identity and the SSM
parameters the stack reads), and `terraform show -json` of that plan is the fixture. It is
the plan a pull request of a new environment produces: every resource a create, every
attribute computed by AWS "known after apply".

Stacks whose attributes the mirror's provider does not know (version skew, see README:
Provider versions) are skipped with the reason. Needs terraform and the provider mirror;
run from the repository root:  .venv/bin/python scripts/regenerate_real_plans.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "policy" / "fixtures" / "plans" / "real"
sys.path.insert(0, str(REPO))


def main() -> int:
    from keyplane.model.loader import load_estate
    from keyplane.model.specs import Cloud
    from keyplane.model.stacks import hsm_stack_file, stack_file
    from keyplane.sandbox import terraform as tf
    from keyplane.sandbox.server import Sandbox
    from keyplane.sandbox.stack_apply import plan_aws_stack, plan_stack

    work = Path(tempfile.mkdtemp(prefix="keyplane-real-plans-"))
    out = work / "cdktf.out"
    subprocess.run([sys.executable, "-m", "keyplane.cli", "synth", "--out-dir", str(out)],
                   cwd=REPO, check=True)
    estate = load_estate(sorted((REPO / "environments").glob("*.yaml")))
    FIXTURES.mkdir(parents=True, exist_ok=True)
    version = tf.provider_version(tf.find_plugin_dir())
    sandbox = Sandbox()
    aws_url, _ = sandbox.start()
    try:
        for env in estate.environments:
            if env.aws is None or not env.keys_on(Cloud.AWS):
                continue
            path = stack_file(env.name, Cloud.AWS, out)
            skewed = tf.skew(tf.read_stack(path), version)
            if skewed:
                print(f"{path.parent.name}: skipped, the mirror's provider {version} lacks: "
                      f"{'; '.join(skewed)}")
                continue
            sandbox_id = {"aws_endpoint": aws_url, "pid": None}
            hsm = hsm_stack_file(env.name, out)
            if hsm.is_file():
                # the cluster's own stack, planned before it is applied (plan_aws_stack
                # applies it and connects the key store, as a deploy does)
                _write(plan_stack(env, hsm, work_root=work, aws_endpoint=aws_url,
                                  sandbox_id=sandbox_id), hsm.parent.name, version)
            # the same path as `keyplane sandbox plan`: seeded parameters, init, plan, show
            plan, _ = plan_aws_stack(env, synth_dir=out, work_root=work, aws_endpoint=aws_url,
                                     sandbox_id=sandbox_id)
            _write(plan, path.parent.name, version)
    finally:
        sandbox.stop()
    return 0


def _write(plan: dict, stack: str, version: str | None) -> None:
    target = FIXTURES / f"{stack}.plan.json"
    target.write_text(json.dumps(plan, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    changes = plan.get("resource_changes") or []
    print(f"{stack}: {len(changes)} resource change(s), terraform "
          f"{plan.get('terraform_version')}, hashicorp/aws {version} -> "
          f"{target.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
