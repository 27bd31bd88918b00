"""Synthesized stacks of an environment with adopted keys: one Terraform `import` block per
existing resource (`import_from`), addressed to the resource keyplane declares for it.

The GCP half is checked here on the synthesized JSON (no google provider can be installed on
keyplane's machines, so no real google plan); the AWS half also in a real plan
(`test_terraform.py`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.adopt.test_model import HEAD, KEY, KEYS, MRK, RING
from tests.conftest import REPO, write_env

pytestmark = pytest.mark.synth


def _address(doc: dict[str, Any], rtype: str, path: str) -> str:
    """`rtype.name` of the resource whose construct path ends with `path`."""
    found = [f"{rtype}.{name}" for name, body in doc["resource"].get(rtype, {}).items()
             if body["//"]["metadata"]["path"].endswith(path)]
    assert len(found) == 1, (rtype, path, found)
    return found[0]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("adopt-synth")
    envs = tmp / "environments"
    envs.mkdir()
    write_env(envs, HEAD + KEYS, name="dev")
    out = tmp / "cdktf.out"
    proc = subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()", "synth",
                           "dev", "-d", str(envs), "--out-dir", str(out), "-q"],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {name: json.loads((out / "stacks" / name / "cdk.tf.json").read_text(encoding="utf-8"))
            for name in ("dev-aws", "dev-gcp")}


def test_the_aws_stack_imports_the_adopted_key_replica_aliases_and_role(
        stacks: dict[str, dict[str, Any]]) -> None:
    doc = stacks["dev-aws"]
    imports = {i["to"]: i["id"] for i in doc["import"]}
    assert imports == {
        _address(doc, "aws_kms_key", "keys/shared-data/key"): MRK,
        _address(doc, "aws_kms_replica_key", "keys/shared-data/replica-us-west-2"): MRK,
        _address(doc, "aws_kms_alias", "keys/shared-data/alias"): "alias/shared-data",
        _address(doc, "aws_kms_alias", "keys/shared-data/alias-us-west-2"): "alias/shared-data",
        _address(doc, "aws_kms_key", "keys/legacy-hsm/g1/key"): KEY,
        _address(doc, "aws_iam_role", "iam/key-admin"): "keyplane-dev-key-admin",
        _address(doc, "aws_iam_role_policy", "iam/key-admin-policy"):
            "keyplane-dev-key-admin:keyplane",
    }
    # the key in another custom key store finds it by that store's own name
    lookups = {b["custom_key_store_name"]: name
               for name, b in doc["data"]["aws_kms_custom_key_store"].items()}
    assert set(lookups) == {"keyplane-dev", "legacy-hsm"}
    hsm = doc["resource"]["aws_kms_key"][_address(doc, "aws_kms_key",
                                                  "keys/legacy-hsm/g1/key").split(".")[1]]
    assert hsm["custom_key_store_id"] == \
        f"${{data.aws_kms_custom_key_store.{lookups['legacy-hsm']}.id}}"
    assert hsm["description"] == ""  # the existing key's, verbatim

def test_the_gcp_stack_imports_ring_key_and_version(stacks: dict[str, dict[str, Any]]) -> None:
    doc = stacks["dev-gcp"]
    imports = {i["to"]: i["id"] for i in doc["import"]}
    key = f"{RING}/cryptoKeys/legacy-tls"
    assert imports == {
        _address(doc, "google_kms_key_ring", "ring-legacy-europe-west1"): RING,
        _address(doc, "google_kms_crypto_key", "key-legacy-tls"): key,
        _address(doc, "google_kms_crypto_key_version", "key-legacy-tls-gen-1"):
            f"{key}/cryptoKeyVersions/3",
    }
    body = doc["resource"]["google_kms_crypto_key"][
        _address(doc, "google_kms_crypto_key", "key-legacy-tls").split(".")[1]]
    # what forces a new crypto key is the key's own, never a default
    assert "skip_initial_version_creation" not in body
    assert body["destroy_scheduled_duration"] == f"{30 * 86400}s"
    assert body["labels"]["team"] == "pki"
