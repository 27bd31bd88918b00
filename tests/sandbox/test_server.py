"""The sandbox's lifetime: a fresh sandbox starts empty."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.helpers import aws, start_sandbox

pytestmark = pytest.mark.integration


def test_a_sandbox_started_after_another_stopped_holds_none_of_its_resources() -> None:
    """moto keeps its state in module globals: without a reset a bucket (global names) or a
    role of a stopped sandbox would make the next one's create fail as already existing."""
    first = start_sandbox()
    try:
        aws(first, "744444444444", "s3").create_bucket(Bucket="keyplane-sandbox-lifetime")
        aws(first, "744444444444", "iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    finally:
        first.stop()
    second = start_sandbox()
    try:
        s3 = aws(second, "744444444444", "s3")
        assert s3.list_buckets()["Buckets"] == []
        with pytest.raises(ClientError) as gone:
            aws(second, "744444444444", "iam").get_role(RoleName="r")
        assert gone.value.response["Error"]["Code"] == "NoSuchEntity"
        s3.create_bucket(Bucket="keyplane-sandbox-lifetime")
    finally:
        second.stop()


def test_a_second_sandbox_started_while_one_runs_shares_its_state() -> None:
    """Only the last sandbox of the process to stop empties moto: a running one keeps its
    resources when another starts or stops beside it."""
    running = start_sandbox()
    try:
        aws(running, "755555555555", "s3").create_bucket(Bucket="keyplane-sandbox-kept")
        beside = start_sandbox()
        beside.stop()
        names = [b["Name"] for b in aws(running, "755555555555", "s3").list_buckets()["Buckets"]]
        assert names == ["keyplane-sandbox-kept"]
    finally:
        running.stop()
