"""Post-apply on state that real Terraform built: clean after the apply, and every drift
case post-apply detects is still detected.

The example estate's stacks are applied into the sandbox with real Terraform and the real
hashicorp/aws provider (`keyplane sandbox apply`), so what post-apply reads is what the
provider wrote, not what keyplane's own SDK writer would have written. The GCP stack is
created through google-cloud-kms (no google provider here). Skips, naming what is missing,
where terraform or the provider mirror is absent.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.model import load_estate
from keyplane.sandbox.server import Sandbox
from tests.conftest import EXAMPLE_ENVIRONMENTS, Synthesized
from tests.sandbox.helpers import aws, gcp, key_arn, run_cli

pytestmark = pytest.mark.integration

PROD_ACCOUNT = "210987654321"


def _needs_terraform() -> None:
    from keyplane.sandbox.terraform import find_plugin_dir

    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH (install terraform >= 1.10)")
    if find_plugin_dir() is None:
        pytest.skip("no hashicorp/aws provider mirror ($KEYPLANE_TF_PLUGIN_DIR or "
                    "/opt/tf-plugins)")


@pytest.fixture(scope="module")
def built(synthesized_estate: Synthesized, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Sandbox, Path, dict[str, object]]]:
    """One sandbox holding prod and dev, each applied by `keyplane sandbox apply`'s code."""
    _needs_terraform()
    from keyplane.sandbox.stack_apply import apply_environment

    assert synthesized_estate.exit_code == 0, synthesized_estate.stderr[-2000:]
    sb = Sandbox()
    sb.start()
    work = tmp_path_factory.mktemp("tf")
    done: dict[str, object] = {}
    try:
        for name in ("prod", "dev"):
            env = load_estate([EXAMPLE_ENVIRONMENTS / f"{name}.yaml"]).get(name)
            done[name] = apply_environment(
                env, synth_dir=synthesized_estate.out, work_root=work,
                aws_endpoint=sb.aws.url, gcp_endpoint=sb.gcp.target,
                sandbox_id={"aws_endpoint": sb.aws.url, "pid": 0})
        yield sb, synthesized_estate.out, done
    finally:
        sb.stop()


def post_apply(capsys: pytest.CaptureFixture[str], sb: Sandbox, synth: Path, env: str,
               command: str = "post-apply") -> tuple[int, dict, str]:
    code, out, err = run_cli(capsys, command, env, "-d", str(EXAMPLE_ENVIRONMENTS), "--format",
                             "json", "--endpoint-url", sb.aws.url, "--gcp-endpoint",
                             sb.gcp.target, "--synth-dir", str(synth), "--max-attempts", "2")
    assert "Traceback" not in err
    return code, json.loads(out), err


# The tests below share one sandbox and run in file order: the clean run first, then the
# one that injects drift.

@pytest.mark.parametrize("env", ["prod", "dev"])
def test_terraform_built_state_is_clean_and_the_second_plan_was_empty(
        built, env: str, capsys: pytest.CaptureFixture[str]) -> None:
    sb, synth, done = built
    applied = done[env]
    assert applied.second_plan_empty is True
    stack = json.loads((synth / "stacks" / f"{env}-aws" / "cdk.tf.json").read_text())
    assert applied.aws_resources == sum(len(v) for v in stack["resource"].values())
    code, report, err = post_apply(capsys, sb, synth, env)
    assert (code, report["outcome"], report["findings"], report["unknowns"]) == (
        0, "clean", [], []), err
    assert any(n.startswith("expected state: synth ") for n in report["notes"])


def test_drift_on_terraform_built_state_is_found(
        built, capsys: pytest.CaptureFixture[str]) -> None:
    sb, synth, _ = built
    acct = PROD_ACCOUNT
    kms = aws(sb, acct, "kms")
    doc_arn = key_arn(sb, acct, "alias/document-signing")
    kms.schedule_key_deletion(KeyId=doc_arn.rsplit("/", 1)[-1], PendingWindowInDays=30)
    release = key_arn(sb, acct, "alias/release-artifacts")
    kms.create_grant(KeyId=release, GranteePrincipal=f"arn:aws:iam::{acct}:user/alice",
                     Operations=["Decrypt"])
    kms.disable_key_rotation(KeyId=release)
    stray = kms.create_key(Description="hand-made")["KeyMetadata"]["Arn"]
    aws(sb, acct, "logs").put_retention_policy(logGroupName="/keyplane/prod/cloudtrail",
                                               retentionInDays=30)
    aws(sb, acct, "backup").delete_backup_vault_lock_configuration(BackupVaultName="keyplane-prod")
    aws(sb, acct, "cloudtrail").stop_logging(Name="keyplane-prod")
    key = ("projects/acme-pki-prod/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/"
           "mesh-mtls-issuer")
    gcp(sb).destroy_crypto_key_version(name=f"{key}/cryptoKeyVersions/1")

    code, report, _ = post_apply(capsys, sb, synth, "prod")
    got = {(f["check"], f.get("key") or f["resource"]) for f in report["findings"]}
    assert code == 1 and report["outcome"] == "findings"
    assert {("drift.key_pending_deletion", "document-signing@g2"),
            ("drift.grant_not_declared", "release-artifacts"),
            ("access.human_can_use", "release-artifacts"),
            ("rotation.disabled", "release-artifacts"),
            ("drift.key_undeclared", stray),
            ("drift.log_retention_lowered", "/keyplane/prod/cloudtrail"),
            ("drift.vault_lock_removed", f"arn:aws:backup:us-east-1:{acct}:backup-vault:"
                                         "keyplane-prod"),
            ("drift.trail_logging_stopped", f"arn:aws:cloudtrail:us-east-1:{acct}:trail/"
                                            "keyplane-prod"),
            ("drift.version_destroy_scheduled", "mesh-mtls-issuer")} <= got
