"""`keyplane post-apply`: rotation + drift + access review, one report, one exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.sandbox.server import Sandbox
from tests.conftest import EXAMPLE_ENVIRONMENTS, Synthesized
from tests.sandbox.helpers import applied_env, aws, key_arn, run_cli, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def test_one_report_across_sections_and_formats(sb: Sandbox, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, _ = applied_env(sb, tmp_path)
    base = ["post-apply", "prod", "-d", str(envs), "--endpoint-url", sb.aws.url,
            "--gcp-endpoint", sb.gcp.target]
    code, out, _ = run_cli(capsys, *base)
    assert code == 0 and out.startswith("post-apply prod: CLEAN")
    kms = aws(sb, acct, "kms")
    kms.disable_key_rotation(KeyId=key_arn(sb, acct, "alias/release-artifacts"))
    kms.disable_key(KeyId=key_arn(sb, acct, "alias/code-signing").rsplit("/", 1)[-1])
    kms.create_grant(KeyId=key_arn(sb, acct, "alias/release-artifacts"),
                     GranteePrincipal="arn:aws:iam::999999999999:role/outsider",
                     Operations=["Decrypt"])
    report_file = tmp_path / "out" / "report.json"
    code, out, _ = run_cli(capsys, *base, "--format", "json", "--output", str(report_file))
    report = json.loads(report_file.read_text())
    assert (code, out, report["sections"]) == (1, "", ["rotation", "drift", "access-review"])
    assert {f["check"] for f in report["findings"]} == {
        "rotation.disabled", "drift.key_disabled", "drift.grant_not_declared",
        "access.cross_account"}
    code, md, _ = run_cli(capsys, *base, "--format", "markdown")
    assert code == 1 and md.startswith("### keyplane post-apply `prod`: **FINDINGS**")
    assert "| critical | `drift.key_disabled` | `code-signing@g4 us-east-1` |" in md


def test_one_cloud_reads_only_its_stack_and_needs_only_its_endpoint(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, project = applied_env(sb, tmp_path)
    aws(sb, acct, "kms").disable_key_rotation(KeyId=key_arn(sb, acct, "alias/release-artifacts"))
    # the GCP job of a CI matrix: no AWS endpoint or credentials given, and AWS drift unseen
    (tmp_path / "cdktf.out" / "stacks" / "prod-aws" / "cdk.tf.json").unlink()
    code, out, err = run_cli(capsys, "post-apply", "prod", "-d", str(envs), "--format", "json",
                             "--cloud", "gcp", "--gcp-endpoint", sb.gcp.target)
    report = json.loads(out)
    assert (code, report["findings"], report["unknowns"]) == (0, [], []), err
    assert any(f"projects/{project}/" in c for c in report["checked"])
    assert not [c for c in report["checked"] if "arn:aws" in c]
    code, _, err = run_cli(capsys, "post-apply", "prod", "-d", str(envs), "--cloud", "aws",
                           "--endpoint-url", sb.aws.url)
    assert code == 2 and "KP609" in err  # the AWS stack is gone: never judged against a guess


def test_findings_never_carry_secret_material(sb: Sandbox, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, _ = applied_env(sb, tmp_path)
    code, out, _ = run_cli(capsys, "post-apply", "prod", "-d", str(envs), "--format", "json",
                           "--endpoint-url", sb.aws.url, "--gcp-endpoint", sb.gcp.target)
    assert code == 0
    for needle in ("keyplane-sandbox", "KPSBX", "sandbox-only", "PRIVATE KEY"):
        assert needle not in out


def test_fails_with_exit_2_for_an_unknown_environment(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "post-apply", "nope", "-d", str(tmp_path),
                             "--endpoint-url", "http://127.0.0.1:9")
    assert code == 2 and "Traceback" not in err and out == ""
    assert "KP00" in err


@pytest.mark.synth
def test_sandbox_built_from_the_synthesized_stack_has_no_drift(
        sb: Sandbox, capsys: pytest.CaptureFixture[str],
        synthesized_estate: Synthesized) -> None:
    """The expected state comes from `cdktf.out` (policies, per-generation aliases, log group)."""
    from keyplane.model import load_estate
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.stack import load_environment_stacks
    from keyplane.sandbox.apply import apply_state

    assert synthesized_estate.exit_code == 0, synthesized_estate.stderr[-2000:]
    env = load_estate([EXAMPLE_ENVIRONMENTS / "prod.yaml"]).get("prod")
    state = expected_state(env, load_environment_stacks(env, synthesized_estate.out))
    assert state.source.startswith("synth ")
    apply_state(state, aws_endpoint=sb.aws.url, gcp_endpoint=sb.gcp.target)
    code, out, _ = run_cli(capsys, "post-apply", "prod", "-d", str(EXAMPLE_ENVIRONMENTS),
                           "--format", "json", "--endpoint-url", sb.aws.url, "--gcp-endpoint",
                           sb.gcp.target, "--synth-dir", str(synthesized_estate.out))
    report = json.loads(out)
    assert (code, report["findings"]) == (0, [])
    assert any(n.startswith("expected state: synth ") for n in report["notes"])


def test_fails_without_credentials_naming_both_clouds_and_the_fixes(
        tmp_path: Path, synthesized_estate: Synthesized) -> None:
    import os
    import subprocess
    import sys

    empty = tmp_path / "empty"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "GOOGLE_", "CLOUDSDK_", "KEYPLANE_SANDBOX"))}
    env.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty),
               AWS_EC2_METADATA_DISABLED="true", HOME=str(tmp_path),
               GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "none.json"),
               CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="true",
               KEYPLANE_AUDIT_LOG=str(tmp_path / "events.jsonl"))

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from keyplane.cli import main; main()", "post-apply", "prod",
             "-d", str(EXAMPLE_ENVIRONMENTS), "--synth-dir", str(synthesized_estate.out),
             *extra], capture_output=True, text=True, env=env, timeout=120)

    both = run()
    assert both.returncode == 2 and "Traceback" not in both.stderr
    assert both.stderr.startswith("keyplane: error KP604: no credentials for aws (set "
                                  "AWS_PROFILE or --profile")
    assert " and gcp (run `gcloud auth application-default login`" in both.stderr
    assert both.stderr.rstrip().endswith("against the local sandbox add --sandbox; to read one "
                                         "cloud only add --cloud aws|gcp")
    assert both.stderr.count("keyplane: error") == 1  # printed once
    aws_only = run("--cloud", "aws")
    assert aws_only.returncode == 2 and "gcp" not in aws_only.stderr
