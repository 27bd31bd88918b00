"""Synthesize an estate: one `EnvironmentStack` per environment into a cdktf.out directory."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cdktn import App

from keyplane.model.environment import Environment
from keyplane.stacks.environment import EnvironmentStack, local_state_path

DEFAULT_OUT = Path("cdktf.out")
# S3 native state locking (use_lockfile) needs Terraform/OpenTofu 1.10; cdktf.json says the same.
TARGET_VERSIONS = {"terraform": ">=1.10.0", "opentofu": ">=1.10.0"}


def build_app(envs: Iterable[Environment], outdir: Path = DEFAULT_OUT) -> App:
    """An App holding one stack per environment, not yet synthesized."""
    app = App(outdir=str(outdir), context={"targetVersions": TARGET_VERSIONS})
    for env in envs:
        # Terraform runs in <outdir>/stacks/<env>; keep local state in the project root, out
        # of the generated (and disposable) output directory.
        state = os.path.relpath(Path.cwd() / local_state_path(env.name),
                                Path(outdir).resolve() / "stacks" / env.name)
        EnvironmentStack(app, env=env, local_state=state)
    return app


def synth(envs: Iterable[Environment], outdir: Path = DEFAULT_OUT) -> Path:
    """Write `<outdir>/stacks/<env>/cdk.tf.json` and `<outdir>/manifest.json`; return outdir."""
    app = build_app(envs, outdir)
    app.synth()
    return outdir
