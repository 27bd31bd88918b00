"""Helpers for tests that run against the local sandbox (moto's server + the Cloud KMS fake).

Every test gets its own AWS account and GCP project (a copy of the example `prod`
environment with new ids), so tests sharing one module-scoped sandbox never see
each other's drift.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from keyplane.cli import main
from keyplane.cloud.gcp.client import GcpConfig, build_client
from keyplane.model import load_estate
from keyplane.postapply.expected import expected_state
from keyplane.postapply.stack import load_environment_stacks
from keyplane.sandbox.apply import apply_state
from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key
from keyplane.sandbox.server import Sandbox
from tests.conftest import EXAMPLE_ENVIRONMENTS, synthesize_example_estate

PROD_ACCOUNT = "210987654321"
PROD_PROJECT = "acme-pki-prod"
_ids = itertools.count(1)


def new_ids() -> tuple[str, str]:
    """A fresh (account id, project id) pair."""
    n = next(_ids)
    return f"7{n:011d}", f"acme-pki-t{n:04d}"


def prod_copy(tmp: Path, account: str, project: str) -> Path:
    """An environments dir holding the example prod environment under new ids, and beside it
    (`<tmp>/cdktf.out`) its synthesized stacks.

    The stacks are the example estate's, synthesized once per run, with the account and
    project ids replaced: the ids are plain literals in cdk.tf.json (construct ids and
    Terraform addresses do not depend on them), so this is what `keyplane synth` of the copy
    writes, without a Node start per test.
    """
    d = tmp / "environments"
    d.mkdir(parents=True, exist_ok=True)
    text = (EXAMPLE_ENVIRONMENTS / "prod.yaml").read_text(encoding="utf-8")
    (d / "prod.yaml").write_text(text.replace(PROD_ACCOUNT, account)
                                 .replace(PROD_PROJECT, project), encoding="utf-8")
    synthesized = synthesize_example_estate()
    assert synthesized.exit_code == 0, synthesized.stderr[-2000:]
    manifest = {"version": "0.24.0", "stacks": {}}
    for name in ("prod-aws", "prod-gcp", "prod-aws-hsm"):  # the stacks post-apply reads
        src = synthesized.out / "stacks" / name / "cdk.tf.json"
        dst = tmp / "cdktf.out" / "stacks" / name / "cdk.tf.json"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(src.read_text(encoding="utf-8").replace(PROD_ACCOUNT, account)
                       .replace(PROD_PROJECT, project), encoding="utf-8")
        manifest["stacks"][name] = {"name": name, "constructPath": name,
                                    "synthesizedStackPath": f"stacks/{name}/cdk.tf.json",
                                    "workingDirectory": f"stacks/{name}"}
    (tmp / "cdktf.out" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return d


def applied_env(sb: Sandbox, tmp: Path) -> tuple[Path, str, str]:
    """A fresh prod copy, created in the sandbox from its stacks; (environments dir, account,
    project)."""
    account, project = new_ids()
    d = prod_copy(tmp, account, project)
    env = load_estate([d / "prod.yaml"]).get("prod")
    stack = load_environment_stacks(env, d.parent / "cdktf.out")
    apply_state(expected_state(env, stack), aws_endpoint=sb.aws.url, gcp_endpoint=sb.gcp.target)
    return d, account, project


def aws(sb: Sandbox, account: str, service: str, region: str = "us-east-1") -> Any:
    """A boto3 client acting in `account` against the sandbox (used to inject drift)."""
    return boto3.client(service, region_name=region, endpoint_url=sb.aws.url,
                        aws_access_key_id=sandbox_access_key(account),
                        aws_secret_access_key=SANDBOX_SECRET,
                        config=Config(retries={"mode": "standard", "max_attempts": 1}))


def gcp(sb: Sandbox) -> Any:
    """A Cloud KMS client against the sandbox's fake."""
    return build_client(GcpConfig(project="unused", endpoint=sb.gcp.target))


def key_arn(sb: Sandbox, account: str, alias: str, region: str = "us-east-1") -> str:
    """The ARN of the key an alias points to."""
    return str(aws(sb, account, "kms", region).describe_key(KeyId=alias)["KeyMetadata"]["Arn"])


HOOK_COMMANDS = {"rotation", "drift", "access-review", "discover", "post-apply"}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the real entry point in-process: (exit code, stdout, stderr).

    Post-apply commands read the stacks `prod_copy` wrote beside the environments directory
    (`-d DIR` -> `DIR/../cdktf.out`) unless the test gives `--synth-dir`; never a stack
    synthesized in the repository.
    """
    argv = list(args)
    if argv and argv[0] in HOOK_COMMANDS and "--synth-dir" not in argv:
        envs = next((argv[i + 1] for i, a in enumerate(argv[:-1])
                     if a in ("-d", "--environments-dir")), None)
        synth = Path(envs).parent / "cdktf.out" if envs else Path("/nonexistent/keyplane-synth")
        argv += ["--synth-dir", str(synth)]
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def patch_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry backoff without real sleeps (the attempts are still made)."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0)


def start_sandbox() -> Sandbox:
    """A started sandbox (the caller stops it)."""
    sb = Sandbox()
    sb.start()
    return sb
