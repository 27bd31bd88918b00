"""`keyplane access-review` against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import applied_env, aws, gcp, key_arn, run_cli, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def review(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path) -> tuple[int, dict]:
    code, out, err = run_cli(capsys, "access-review", "prod", "-d", str(envs), "--format",
                             "json", "--endpoint-url", sb.aws.url, "--gcp-endpoint",
                             sb.gcp.target)
    assert "Traceback" not in err
    return code, json.loads(out)


def test_declared_access_is_clean_and_listed(sb: Sandbox, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, _ = applied_env(sb, tmp_path)
    code, report = review(capsys, sb, envs)
    assert (code, report["findings"]) == (0, [])
    row = next(r for r in report["access"] if r["key"] == "code-signing@g4")
    assert row["use"] == [f"arn:aws:iam::{acct}:role/keyplane-prod-user-release-pipeline"]
    assert f"arn:aws:iam::{acct}:role/keyplane-prod-key-admin" in row["administer"]


def test_wildcard_grant_human_user_and_cross_project_member_are_flagged(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, project = applied_env(sb, tmp_path)
    kms = aws(sb, acct, "kms")
    arn = key_arn(sb, acct, "alias/document-signing")
    kms.create_grant(KeyId=arn, GranteePrincipal=f"arn:aws:iam::{acct}:root",
                     Operations=["Sign"])
    kms.create_grant(KeyId=arn, GranteePrincipal=f"arn:aws:iam::{acct}:user/alice",
                     Operations=["Sign"])
    client = gcp(sb)
    name = (f"projects/{project}/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/"
            "release-attestation")
    pol = client.get_iam_policy(request={"resource": name})
    pol.bindings.add(role="roles/cloudkms.signerVerifier",
                     members=["user:bob@acme.example", "serviceAccount:x@other-proj.iam."
                              "gserviceaccount.com"])
    client.set_iam_policy(request={"resource": name, "policy": pol})
    code, report = review(capsys, sb, envs)
    got = {(f["check"], f["key"], f.get("actual")) for f in report["findings"]}
    assert code == 1
    assert {("access.wildcard_principal", "document-signing@g2", f"grant {g}")
            for g in [next(f["actual"].split()[1] for f in report["findings"]
                           if f["check"] == "access.wildcard_principal")]} <= got
    assert ("access.human_can_use", "document-signing@g2",
            f"arn:aws:iam::{acct}:user/alice") in got
    assert ("access.human_can_use", "release-attestation", "user:bob@acme.example") in got
    assert ("access.cross_account", "release-attestation",
            "serviceAccount:x@other-proj.iam.gserviceaccount.com") in got
    assert ("access.principal_not_declared", "release-attestation",
            "user:bob@acme.example") in got
