"""An environment's `aws.role_arn`: every read (and drill) acts as that role, through sts:AssumeRole.

The sandbox's AWS front refuses AssumeRole as AWS does (moto alone hands out credentials for
any ARN): the role must exist in the account its ARN names and its trust policy must name the
caller and its conditions (here sts:ExternalId) must hold. The roles below exist only in the
environment's account and trust only a separate CI account with an external id, so a read
that reaches the environment's keys can only have gone through AssumeRole with that id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyplane.cloud.aws.reader import AwsReader
from keyplane.cloud.aws.session import AssumeRole, AwsClients, AwsConfig
from keyplane.commands.cloud_wiring import CloudOptions, build_aws_clients
from keyplane.model import load_estate
from keyplane.postapply.errors import HookSetupError
from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key
from keyplane.sandbox.server import Sandbox
from tests.conftest import BASE_ENV, write_env
from tests.sandbox.helpers import aws, new_ids, run_cli, start_sandbox

pytestmark = pytest.mark.integration

CI_ACCOUNT = "999900001111"
EXTERNAL_ID = "keyplane-ci-7f3a"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    s = start_sandbox()
    yield s
    s.stop()


@pytest.fixture
def ci_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's own credentials are the CI account's, not the environment's."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", sandbox_access_key(CI_ACCOUNT))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SANDBOX_SECRET)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ROLE_ARN", raising=False)


def reader_role(sb: Sandbox, account: str, name: str = "ci-reader",
                external_id: str | None = EXTERNAL_ID) -> str:
    """A role in `account` that only the CI account may assume (with `external_id`)."""
    stmt: dict[str, Any] = {"Effect": "Allow", "Action": "sts:AssumeRole",
                            "Principal": {"AWS": f"arn:aws:iam::{CI_ACCOUNT}:root"}}
    if external_id:
        stmt["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    role = aws(sb, account, "iam").create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17",
                                                            "Statement": [stmt]}))
    return str(role["Role"]["Arn"])


def environment(tmp_path: Path, account: str, role_arn: str,
                external_id: str | None = EXTERNAL_ID) -> Any:
    """The test's prod environment in `account`, naming `role_arn`."""
    extra = f"  role_arn: {role_arn}\n" + (f"  external_id: {external_id}\n" if external_id
                                           else "")
    text = BASE_ENV.replace('"111122223333"', f'"{account}"').replace(
        "111122223333", account).replace("  replica_regions: [us-west-2]\n",
                                         f"  replica_regions: [us-west-2]\n{extra}")
    d = tmp_path / "environments"
    d.mkdir(exist_ok=True)
    return load_estate([write_env(d, text)]).get("prod")


def test_reads_act_as_the_environments_role_in_its_account(
        sb: Sandbox, tmp_path: Path, ci_credentials: None) -> None:
    account, _ = new_ids()
    role = reader_role(sb, account)
    env_key = aws(sb, account, "kms").create_key(Description="in prod")["KeyMetadata"]["KeyId"]
    aws(sb, CI_ACCOUNT, "kms").create_key(Description="the ci account's own")
    env = environment(tmp_path, account, role)
    sb.front.calls.clear()
    sb.front.record_calls = True
    try:
        clients = build_aws_clients(account_id=account, region="us-east-1",
                                    opts=CloudOptions(endpoint_url=sb.aws.url), environment=env)
        reader = AwsReader(clients, "us-east-1")
        identity = (reader.caller_account(), reader.caller_arn())
        keys = reader.list_key_ids()
    finally:
        sb.front.record_calls = False
    assert identity == (account, f"arn:aws:sts::{account}:assumed-role/ci-reader/keyplane-prod")
    assert keys == [env_key]  # the environment's key, not the CI account's
    # one AssumeRole, before the first read, then reads with the role's credentials
    assert next(op for svc, op, _ in sb.front.calls if svc == "sts") == "AssumeRole"
    assert [op for _, op, _ in sb.front.calls].count("AssumeRole") == 1


def test_without_a_role_the_same_credentials_read_the_ci_account(
        sb: Sandbox, ci_credentials: None) -> None:
    account, _ = new_ids()
    clients = build_aws_clients(account_id=account, region="us-east-1",
                                opts=CloudOptions(endpoint_url=sb.aws.url))
    assert AwsReader(clients, "us-east-1").caller_account() == CI_ACCOUNT


def test_the_session_name_is_the_declared_one(sb: Sandbox, tmp_path: Path,
                                              ci_credentials: None) -> None:
    account, _ = new_ids()
    role = reader_role(sb, account)
    env = environment(tmp_path, account, role)
    env = env.model_copy(update={"aws": env.aws.model_copy(update={"session_name": "ci-run-42"})})
    clients = build_aws_clients(account_id=account, region="us-east-1",
                                opts=CloudOptions(endpoint_url=sb.aws.url), environment=env)
    assert AwsReader(clients, "us-east-1").caller_arn().endswith("/ci-reader/ci-run-42")


@pytest.mark.parametrize("external_id", [None, "not-the-one"])
def test_fails_with_the_role_named_when_the_external_id_is_wrong_or_missing(
        sb: Sandbox, tmp_path: Path, ci_credentials: None, external_id: str | None) -> None:
    account, _ = new_ids()
    role = reader_role(sb, account)
    env = environment(tmp_path, account, role, external_id=external_id)
    with pytest.raises(HookSetupError) as err:
        build_aws_clients(account_id=account, region="us-east-1",
                          opts=CloudOptions(endpoint_url=sb.aws.url), environment=env)
    assert err.value.message == (
        f"cannot assume aws.role_arn {role} of environment prod: AssumeRole: AccessDenied: "
        f"User: arn:aws:iam::{CI_ACCOUNT}:root is not authorized to perform: sts:AssumeRole on "
        f"resource: {role}; nothing was read")


def test_fails_when_the_role_exists_only_in_another_account(
        sb: Sandbox, tmp_path: Path, ci_credentials: None) -> None:
    account, _ = new_ids()
    other, _ = new_ids()
    reader_role(sb, other)  # the same role name, in another account: not the declared role
    env = environment(tmp_path, account, f"arn:aws:iam::{account}:role/ci-reader")
    with pytest.raises(HookSetupError, match=r"^cannot assume aws.role_arn .*AccessDenied"):
        build_aws_clients(account_id=account, region="us-east-1",
                          opts=CloudOptions(endpoint_url=sb.aws.url), environment=env)


def test_the_drill_account_is_not_read_as_the_environments_role(
        sb: Sandbox, tmp_path: Path, ci_credentials: None) -> None:
    account, _ = new_ids()
    drill_account, _ = new_ids()
    env = environment(tmp_path, account, reader_role(sb, account))
    clients = build_aws_clients(account_id=drill_account, region="us-east-1",
                                opts=CloudOptions(endpoint_url=sb.aws.url), environment=env)
    assert AwsReader(clients, "us-east-1").caller_account() == CI_ACCOUNT


def test_a_ci_web_identity_that_already_is_the_role_is_not_assumed_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keyplane.commands.cloud_wiring import environment_role

    account, _ = new_ids()
    role = f"arn:aws:iam::{account}:role/ci-reader"
    env = environment(tmp_path, account, role)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("AWS_ROLE_ARN", role)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(tmp_path / "token"))
    assert environment_role(env, account, CloudOptions()) is None
    monkeypatch.setenv("AWS_ROLE_ARN", f"arn:aws:iam::{CI_ACCOUNT}:role/github-oidc")
    assumed = environment_role(env, account, CloudOptions())
    assert (assumed.role_arn, assumed.external_id, assumed.session_name) == (
        role, EXTERNAL_ID, "keyplane-prod")


def test_role_credentials_are_renewed_before_they_expire(sb: Sandbox) -> None:
    account, _ = new_ids()
    role = reader_role(sb, account, external_id=None)
    now = [dt.datetime.now(dt.UTC)]
    base = AwsClients(AwsConfig(region="us-east-1", endpoint_url=sb.aws.url,
                                access_key_id=sandbox_access_key(CI_ACCOUNT),
                                secret_access_key=SANDBOX_SECRET), clock=lambda: now[0])
    clients = base.assume(AssumeRole(role_arn=role, session_name="long-run"))
    reader = AwsReader(clients, "us-east-1")
    sb.front.calls.clear()
    sb.front.record_calls = True
    try:
        assert reader.caller_account() == account  # asked once per reader, then kept
        for _ in range(3):
            reader.list_key_ids()
        fresh = [op for _, op, _ in sb.front.calls].count("AssumeRole")
        now[0] += dt.timedelta(minutes=50)  # 10 minutes before the hour's credentials expire
        reader.list_key_ids()
        renewed = [op for _, op, _ in sb.front.calls].count("AssumeRole")
        assert [op for _, op, _ in sb.front.calls].count("ListKeys") == 4
    finally:
        sb.front.record_calls = False
    assert (fresh, renewed > fresh) == (1, True)


def test_fails_on_a_session_duration_outside_what_sts_allows() -> None:
    with pytest.raises(HookSetupError, match=r"^role session duration must be between 900 and "
                                             r"43200 seconds, got 600$"):
        AssumeRole(role_arn="arn:aws:iam::111122223333:role/r", duration_in_seconds=600)


@pytest.mark.synth
def test_post_apply_in_the_sandbox_reads_the_environment_through_its_role(
        sb: Sandbox, tmp_path: Path, ci_credentials: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    from tests.sandbox.helpers import applied_env

    envs, account, _ = applied_env(sb, tmp_path)
    base = ["post-apply", "prod", "-d", str(envs), "--endpoint-url", sb.aws.url,
            "--gcp-endpoint", sb.gcp.target, "--cloud", "aws", "--format", "json"]
    code, out, err = run_cli(capsys, *base)
    # the CI account's own identity is not prod's (under --format json the error is JSON)
    assert code == 2 and json.loads(out)["error"] == "KP601", out + err
    role = reader_role(sb, account)
    text = (envs / "prod.yaml").read_text(encoding="utf-8")
    (envs / "prod.yaml").write_text(text.replace(
        "  organization_id: o-7k2m9x4q1z\n",
        f"  organization_id: o-7k2m9x4q1z\n  role_arn: {role}\n  external_id: {EXTERNAL_ID}\n"),
        encoding="utf-8")
    code, out, err = run_cli(capsys, *base)
    report = json.loads(out)
    assert (code, report["outcome"], report["unknowns"]) == (0, "clean", []), err
    assert any(f"arn:aws:kms:us-east-1:{account}:key/" in c for c in report["checked"])
