"""Synthesize an estate: one `EnvironmentStack` per environment and cloud into cdktf.out,
one `DrillAccountStack` per environment that declares a drill account, and one `HsmStack`
per environment with ca keys in a CloudHSM custom key store."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from cdktn import App

from keyplane.desired.aws import plan_drill_account, plan_hsm_stack
from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud
from keyplane.model.stacks import (
    DEFAULT_OUT_DIR,
    HSM_STACK_SUFFIX,
    aux_local_state_path,
    drill_local_state_path,
    drill_stack_name,
    hsm_stack_name,
    local_state_path,
    stack_name,
)
from keyplane.stacks.drill import DrillAccountStack
from keyplane.stacks.environment import EnvironmentStack
from keyplane.stacks.hsm import HsmStack

DEFAULT_OUT = DEFAULT_OUT_DIR
# cdktn's own validation reads the `targetVersions` context: S3 native state locking
# (use_lockfile) is accepted only when the targets are >= 1.10. The stacks carry the same
# floor as `terraform.required_version` (keyplane.model.stacks).
TARGET_VERSIONS = {"terraform": ">=1.10.0", "opentofu": ">=1.10.0"}


def build_app(envs: Iterable[Environment], outdir: Path = DEFAULT_OUT,
              on_stack: Callable[[str], None] = lambda _: None) -> App:
    """An App holding one stack per environment and cloud with keys (and one per drill
    account and CloudHSM cluster), not yet synthesized; `on_stack(name)` is called as each stack is built."""
    app = App(outdir=str(outdir), context={"targetVersions": TARGET_VERSIONS})
    for env in envs:
        for cloud in Cloud:
            if not env.keys_on(cloud):
                continue
            on_stack(stack_name(env.name, cloud))
            # Terraform runs in <outdir>/stacks/<env>-<cloud>; keep local state in the
            # project root, out of the generated (and disposable) output directory.
            state = os.path.relpath(Path.cwd() / local_state_path(env.name, cloud),
                                    Path(outdir).resolve() / "stacks" / stack_name(env.name, cloud))
            EnvironmentStack(app, env=env, cloud=cloud, local_state=state)
        if env.keys_on(Cloud.AWS) and plan_drill_account(env) is not None:
            name = drill_stack_name(env.name)
            on_stack(name)
            state = os.path.relpath(Path.cwd() / drill_local_state_path(env.name),
                                    Path(outdir).resolve() / "stacks" / name)
            DrillAccountStack(app, env=env, local_state=state)
        if env.keys_on(Cloud.AWS) and plan_hsm_stack(env) is not None:
            name = hsm_stack_name(env.name)
            on_stack(name)
            state = os.path.relpath(Path.cwd() / aux_local_state_path(env.name, HSM_STACK_SUFFIX),
                                    Path(outdir).resolve() / "stacks" / name)
            HsmStack(app, env=env, local_state=state)
    return app


def synth(envs: Iterable[Environment], outdir: Path = DEFAULT_OUT,
          on_stack: Callable[[str], None] = lambda _: None) -> Path:
    """Write `<outdir>/stacks/<env>-<cloud>/cdk.tf.json` and `<outdir>/manifest.json`."""
    app = build_app(envs, outdir, on_stack)
    app.synth()
    return outdir
