"""A mainstream IaC scanner (checkov, terraform_json) over the synthesized GCP stacks.

Every check passes except the ones that do not apply to keyplane's tier policy; each
of those is listed here with its reason, so a new finding fails this test.
Skipped where `make checkov-venv` has not been run.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keyplane.model import Environment, load_estate
from tests.conftest import EXAMPLE_ENVIRONMENTS, scratch_dir

pytestmark = pytest.mark.synth

REPO = Path(__file__).resolve().parents[3]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

# check id -> why it does not apply
NOT_APPLICABLE = {
    # TIERS.md: prevent-destroy only for ca and production; non-production and
    # ephemeral keys are re-issuable and still wait out the destroy-scheduled duration.
    "CKV_GCP_82": "prevent_destroy is a ca/production control",
    # Cloud KMS rotates symmetric encryption keys only; HMAC keys rotate by generations.
    "CKV_GCP_43": "hmac keys cannot rotate automatically",
    # Cloud Storage usage logs are a legacy feature; reads are in Cloud Audit Logs, and
    # the audit and escrow buckets are locked, private and readable by auditors only.
    "CKV_GCP_62": "bucket usage logs",
}


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory,
         env_builder: Callable[[dict[str, Any]], Environment],
         hand_made: dict[str, Callable[[], dict[str, Any]]]) -> dict[str, Any]:
    """checkov's JSON report over every environment, each written as `<env>/cdk.tf.json`."""
    if not CHECKOV.exists():
        pytest.skip("checkov is not installed (make checkov-venv)")
    import cdktn

    from keyplane.constructs.gcp import GcpEnvironment

    envs = {e.name: e for e in
            load_estate(sorted(EXAMPLE_ENVIRONMENTS.glob("*.yaml"))).environments}
    envs.update({name: env_builder(make()) for name, make in hand_made.items()})
    root = tmp_path_factory.mktemp("checkov")
    for name, env in envs.items():
        app = cdktn.Testing.app(outdir=str(scratch_dir("cdktn-app-")))
        stack = cdktn.TerraformStack(app, name)
        GcpEnvironment(stack, "gcp", env=env)
        (root / name).mkdir()
        (root / name / "cdk.tf.json").write_text(cdktn.Testing.synth(stack))
    out = subprocess.run([str(CHECKOV), "-d", str(root), "--framework", "terraform_json",
                          "-o", "json", "--skip-download"],
                         capture_output=True, text=True, timeout=300)
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def _failures(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    out = set()
    for f in report["results"]["failed_checks"]:
        env = f["file_path"].strip("/").split("/")[0]
        construct = re.sub(r"^resource\.gcp_(.+)_[0-9A-F]{8}$", r"\1", f["resource"])
        out.add((env, f["check_id"], construct))
    return out


def test_estate_fails_only_checks_that_do_not_apply(scan: dict[str, Any]) -> None:
    estate = {f for f in _failures(scan) if f[0] in ("prod", "staging", "dev")}
    assert estate == {
        ("prod", "CKV_GCP_62", "audit-bucket"),
        ("staging", "CKV_GCP_62", "audit-bucket"),
        ("staging", "CKV_GCP_82", "key-staging-mesh-issuer"),
        ("dev", "CKV_GCP_82", "key-per-deploy-data"),
    }
    assert scan["summary"]["passed"] > 60


def test_every_failure_is_a_listed_exception(scan: dict[str, Any]) -> None:
    failures = _failures(scan)
    assert failures
    for env, check, construct in failures:
        assert check in NOT_APPLICABLE, (env, check, construct)
        if check == "CKV_GCP_82":
            assert env in ("staging", "dev", "partner-test", "ci"), (env, construct)
        if check == "CKV_GCP_43":
            assert construct in ("key-webhook-mac", "key-job-mac"), (env, construct)
        if check == "CKV_GCP_62":
            assert "bucket" in construct, (env, construct)
