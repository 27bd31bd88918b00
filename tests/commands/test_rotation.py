"""`keyplane rotation` against the sandbox.

moto neither stores `RotationPeriodInDays` nor refuses rotation on asymmetric keys;
the sandbox's front (same port) does both, so these tests read real AWS behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import applied_env, aws, key_arn, run_cli, start_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


def rotation(capsys: pytest.CaptureFixture[str], sb: Sandbox, envs: Path) -> tuple[int, dict]:
    code, out, err = run_cli(capsys, "rotation", "prod", "-d", str(envs), "--format", "json",
                             "--endpoint-url", sb.aws.url, "--gcp-endpoint", sb.gcp.target)
    assert "Traceback" not in err
    return code, json.loads(out)


def test_rotation_turned_off_and_period_changed_are_findings(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, project = applied_env(sb, tmp_path)
    kms = aws(sb, acct, "kms")
    code, before = rotation(capsys, sb, envs)
    assert (code, before["findings"]) == (0, [])
    kms.disable_key_rotation(KeyId=key_arn(sb, acct, "alias/release-artifacts"))
    from google.cloud import kms_v1
    from google.protobuf import field_mask_pb2

    from tests.sandbox.helpers import gcp
    name = (f"projects/{project}/locations/us-east1/keyRings/keyplane-prod/cryptoKeys/"
            "inventory-records")
    gcp(sb).update_crypto_key(crypto_key=kms_v1.CryptoKey(name=name, rotation_period={
        "seconds": 400 * 86400}), update_mask=field_mask_pb2.FieldMask(paths=["rotation_period"]))
    code, report = rotation(capsys, sb, envs)
    got = {(f["check"], f["key"], f["severity"]) for f in report["findings"]}
    assert code == 1
    assert got == {("rotation.disabled", "release-artifacts", "high"),
                   ("rotation.period_above_tier", "inventory-records", "high")}


def test_rotation_period_is_read_from_the_endpoint(
        sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    envs, acct, _ = applied_env(sb, tmp_path)
    aws(sb, acct, "kms").enable_key_rotation(KeyId=key_arn(sb, acct, "alias/release-artifacts"),
                                             RotationPeriodInDays=200)
    code, report = rotation(capsys, sb, envs)
    (finding,) = report["findings"]
    assert (code, finding["check"], finding["expected"], finding["actual"]) == (
        1, "rotation.period_differs", 180, 200)


def test_fails_to_enable_rotation_on_an_asymmetric_key_in_the_sandbox(
        sb: Sandbox, tmp_path: Path) -> None:
    """AWS refuses it (moto alone accepts it): the sandbox front answers as AWS does."""
    from botocore.exceptions import ClientError

    _, acct, _ = applied_env(sb, tmp_path)
    with pytest.raises(ClientError) as exc:
        aws(sb, acct, "kms").enable_key_rotation(KeyId=key_arn(sb, acct, "alias/code-signing"))
    assert exc.value.response["Error"]["Code"] == "UnsupportedOperationException"
    assert "key rotation is not supported for this key" in exc.value.response["Error"]["Message"]
