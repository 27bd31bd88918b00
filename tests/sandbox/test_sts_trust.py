"""sts:AssumeRole in the sandbox is decided as AWS decides it (moto alone assumes any ARN).

Each case is a real boto3 AssumeRole over HTTP to the sandbox's front; the answer is either
moto's credentials (which then act in the role's account) or AWS's AccessDenied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from keyplane.sandbox.aws_front import AwsEndpoint
from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key

pytestmark = pytest.mark.integration

CALLER = "123400005678"
TARGET = "876500004321"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    ep = AwsEndpoint()
    url = ep.start()
    yield url
    ep.stop()


def client(url: str, service: str, account: str | None = None, **creds: str) -> Any:
    keys = creds or {"aws_access_key_id": sandbox_access_key(account or CALLER),
                     "aws_secret_access_key": SANDBOX_SECRET}
    return boto3.client(service, region_name="us-east-1", endpoint_url=url,
                        config=Config(retries={"mode": "standard", "max_attempts": 1}), **keys)


_roles = iter(range(1, 10_000))


def role(url: str, *statements: dict[str, Any]) -> str:
    """A new role in TARGET with these trust statements; its ARN."""
    got = client(url, "iam", TARGET).create_role(
        RoleName=f"r{next(_roles)}", AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": list(statements)}))
    return str(got["Role"]["Arn"])


def allow(principal: Any, **condition: Any) -> dict[str, Any]:
    stmt: dict[str, Any] = {"Effect": "Allow", "Action": "sts:AssumeRole",
                            "Principal": principal}
    if condition:
        stmt["Condition"] = condition
    return stmt


def assume(url: str, arn: str, account: str | None = None, **kw: Any) -> Any:
    return client(url, "sts", account, **kw.pop("creds", {})).assume_role(
        RoleArn=arn, RoleSessionName="ts", **kw)


def refused(url: str, arn: str, **kw: Any) -> str:
    with pytest.raises(ClientError) as err:
        assume(url, arn, **kw)
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    return str(err.value.response["Error"]["Message"])


def test_a_trusted_caller_gets_credentials_that_act_in_the_roles_account(endpoint: str) -> None:
    arn = role(endpoint, allow({"AWS": f"arn:aws:iam::{CALLER}:root"}))
    creds = assume(endpoint, arn)["Credentials"]
    sts = client(endpoint, "sts", aws_access_key_id=creds["AccessKeyId"],
                 aws_secret_access_key=creds["SecretAccessKey"],
                 aws_session_token=creds["SessionToken"])
    who = sts.get_caller_identity()
    assert (who["Account"], who["Arn"]) == (
        TARGET, f"arn:aws:sts::{TARGET}:assumed-role/{arn.rsplit('/', 1)[1]}/ts")


def test_fails_for_a_role_that_does_not_exist(endpoint: str) -> None:
    arn = f"arn:aws:iam::{TARGET}:role/nobody-made-me"
    assert refused(endpoint, arn) == (f"User: arn:aws:iam::{CALLER}:root is not authorized to "
                                      f"perform: sts:AssumeRole on resource: {arn}")


def test_fails_for_a_caller_the_trust_policy_does_not_name(endpoint: str) -> None:
    arn = role(endpoint, allow({"AWS": "arn:aws:iam::111111111111:root"}),
               allow({"Service": "ec2.amazonaws.com"}))
    refused(endpoint, arn)


def test_the_external_id_condition_must_hold(endpoint: str) -> None:
    arn = role(endpoint, allow({"AWS": CALLER},
                               StringEquals={"sts:ExternalId": ["ext-1", "ext-2"]}))
    assert assume(endpoint, arn, ExternalId="ext-2")["AssumedRoleUser"]["Arn"].endswith("/ts")
    refused(endpoint, arn, ExternalId="ext-3")
    refused(endpoint, arn)  # a condition on a key the request does not carry is not met


def test_if_exists_conditions_hold_when_the_key_is_absent(endpoint: str) -> None:
    arn = role(endpoint, allow("*", StringEqualsIfExists={"sts:ExternalId": "ext-1"}))
    assume(endpoint, arn)
    refused(endpoint, arn, ExternalId="other")


def test_a_deny_statement_wins(endpoint: str) -> None:
    arn = role(endpoint, allow("*"),
               {"Effect": "Deny", "Action": "sts:*", "Principal": {"AWS": CALLER}})
    refused(endpoint, arn)


def test_an_operator_the_sandbox_does_not_evaluate_is_never_met(endpoint: str) -> None:
    arn = role(endpoint, allow("*", DateGreaterThan={"aws:CurrentTime": "2020-01-01T00:00:00Z"}))
    refused(endpoint, arn)


def test_an_assumed_role_is_named_by_its_role_arn_when_it_chains(endpoint: str) -> None:
    first = role(endpoint, allow({"AWS": CALLER}))
    second = role(endpoint, allow({"AWS": first}))
    creds = assume(endpoint, first)["Credentials"]
    chained = {"aws_access_key_id": creds["AccessKeyId"],
               "aws_secret_access_key": creds["SecretAccessKey"],
               "aws_session_token": creds["SessionToken"]}
    got = assume(endpoint, second, creds=chained)
    assert got["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{TARGET}:assumed-role/")
    refused(endpoint, second)  # the caller's account root is not the role the policy names
