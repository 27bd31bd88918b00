"""`keyplane discover` against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import applied_env, aws, gcp, run_cli, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def test_unmanaged_keys_get_draft_entries(sb: Sandbox, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, project = applied_env(sb, tmp_path)
    kms = aws(sb, acct, "kms")
    signer = kms.create_key(KeySpec="RSA_3072", KeyUsage="SIGN_VERIFY",
                            Description="legacy signer")["KeyMetadata"]
    kms.create_alias(AliasName="alias/legacy-invoice-signing", TargetKeyId=signer["KeyId"])
    ci = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/ci-cache", TargetKeyId=ci["KeyId"])
    client = gcp(sb)
    client.create_crypto_key(request={
        "parent": f"projects/{project}/locations/us-east1/keyRings/keyplane-prod",
        "crypto_key_id": "old-tls", "crypto_key": {"purpose": "ASYMMETRIC_SIGN",
                                                   "version_template": {
                                                       "algorithm": "EC_SIGN_P256_SHA256"}}})
    code, out, err = run_cli(capsys, "discover", "prod", "-d", str(envs), "--format", "json",
                             "--endpoint-url", sb.aws.url, "--gcp-endpoint", sb.gcp.target)
    assert code == 1, err
    drafts = {d["name"]: d for d in json.loads(out)["drafts"]}
    assert set(drafts) == {"legacy-invoice-signing", "ci-cache", "old-tls"}
    (entry,) = YAML(typ="safe").load(drafts["legacy-invoice-signing"]["yaml"])
    assert entry == {"name": "legacy-invoice-signing", "tier": "production", "cloud": "aws",
                     "usage": "sign", "spec": "RSA_3072",
                     "alias": "alias/legacy-invoice-signing", "description": "legacy signer"}
    assert drafts["ci-cache"]["tier"] == "ephemeral"
    (gentry,) = YAML(typ="safe").load(drafts["old-tls"]["yaml"])
    assert (gentry["cloud"], gentry["usage"], gentry["spec"]) == ("gcp", "sign",
                                                                  "EC_SIGN_P256_SHA256")


def test_nothing_unmanaged_exits_clean(sb: Sandbox, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    envs, _, _ = applied_env(sb, tmp_path)
    code, out, _ = run_cli(capsys, "discover", "prod", "-d", str(envs), "--endpoint-url",
                           sb.aws.url, "--gcp-endpoint", sb.gcp.target)
    assert code == 0
    assert out.startswith("discover prod: CLEAN — 0 finding(s)")
