"""Per-environment stacks: backends, providers, isolation, and which bindings they import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from keyplane.model.environment import GcsBackend, StateBackend
from tests.conftest import REPO, scratch_dir
from tests.constructs.aws.helpers import aws_only, example_estate, synth_aws_estate

pytestmark = pytest.mark.synth


def test_s3_backend_with_native_locking() -> None:
    backend = synth_aws_estate()[1]["prod"]["terraform"]["backend"]
    assert backend == {"s3": {"bucket": "acme-terraform-state-prod", "encrypt": True,
                              "key": "keyplane/prod-aws.tfstate", "region": "us-east-1",
                              "use_lockfile": True}}


def test_local_backend_when_none_declared() -> None:
    backend = synth_aws_estate()[1]["dev"]["terraform"]["backend"]
    assert backend["local"]["path"].endswith("terraform.dev-aws.tfstate")


def test_one_provider_per_environment_pinned_to_its_account() -> None:
    providers = synth_aws_estate()[1]["prod"]["provider"]["aws"]
    assert [p.get("alias") for p in providers] == [None, "us_west_2"]
    for p in providers:
        assert p["allowed_account_ids"] == ["210987654321"]
        assert p["default_tags"] == [{"tags": {"keyplane:env": "prod"}}]
    assert [p["region"] for p in providers] == ["us-east-1", "us-west-2"]
    dev = synth_aws_estate()[1]["dev"]["provider"]["aws"]
    assert [p["allowed_account_ids"] for p in dev] == [["567890123456"]]


def test_manifest_lists_every_stack() -> None:
    out, _ = synth_aws_estate()
    manifest = json.loads((out / "manifest.json").read_text())
    # each environment that declares a drill account gets its drill account's stack too, and
    # one with ca keys in a CloudHSM key store the stack of its cluster
    assert sorted(manifest["stacks"]) == ["dev-aws", "prod-aws", "prod-aws-drill", "prod-aws-hsm",
                                          "staging-aws", "staging-aws-drill"]
    assert manifest["stacks"]["prod-aws"]["synthesizedStackPath"] == "stacks/prod-aws/cdk.tf.json"


def test_each_stack_states_its_terraform_and_provider_range_and_own_state() -> None:
    doc = synth_aws_estate()[1]["prod"]
    assert doc["terraform"]["required_version"] == ">= 1.10.0"
    assert doc["terraform"]["required_providers"] == {
        "aws": {"source": "hashicorp/aws", "version": ">= 5.100.0, < 7.0.0"}}
    # prod declares keyplane/prod.tfstate; each cloud's stack keeps its own object beside it
    assert doc["terraform"]["backend"]["s3"]["key"] == "keyplane/prod-aws.tfstate"
    # staging imports an RSA key: key_spec on aws_kms_external_key needs hashicorp/aws 6.11
    staging = synth_aws_estate()[1]["staging"]["terraform"]["required_providers"]["aws"]
    assert staging["version"] == ">= 6.11.0, < 7.0.0"


def test_environment_without_keys_synthesizes_no_stack() -> None:
    from keyplane.stacks.app import synth

    env = example_estate()["staging"].model_copy(update={"keys": ()})
    out = scratch_dir("stack-") / "out"
    synth([env], out)
    assert json.loads((out / "manifest.json").read_text())["stacks"] == {}


def test_gcs_backend_gets_a_prefix_per_cloud() -> None:
    from keyplane.stacks.app import synth

    env = aws_only(example_estate()["dev"]).model_copy(update={
        "state_backend": StateBackend(gcs=GcsBackend(bucket="b", prefix="p"))})
    out = scratch_dir("stack-") / "out"
    synth([env], out)
    doc = json.loads((out / "stacks" / "dev-aws" / "cdk.tf.json").read_text())
    assert doc["terraform"]["backend"] == {"gcs": {"bucket": "b", "prefix": "p/aws"}}
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == ["dev-aws"]


def test_aws_only_environment_never_imports_the_google_bindings(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tests.constructs.aws.helpers import aws_only, example_estate\n"
        "from keyplane.stacks.app import synth\n"
        f"synth([aws_only(example_estate()['dev'])], Path({str(tmp_path / 'out')!r}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('cdktn_provider_')"
        " and m.count('.') == 0))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "['cdktn_provider_aws']"


def test_aws_only_helper_drops_gcp_keys() -> None:
    env = aws_only(example_estate()["prod"])
    assert {k.cloud.value for k in env.keys} == {"aws"}
