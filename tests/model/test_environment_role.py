"""`aws.role_arn`, `aws.external_id`, `aws.session_name`: the role keyplane assumes in the
environment's account, checked when the inventory loads (KP104 with file:line:col)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyplane.cli import main
from keyplane.errors import InventoryError, Problem
from keyplane.model import load_estate
from tests.conftest import BASE_ENV, write_env

ROLE = "arn:aws:iam::111122223333:role/platform/keyplane-reader"


def with_aws(extra: str) -> str:
    """BASE_ENV with `extra` lines added to its aws section."""
    return BASE_ENV.replace("  replica_regions: [us-west-2]\n",
                            "  replica_regions: [us-west-2]\n" + extra)


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(InventoryError) as info:
        load_estate([path])
    return info.value.problems()


def test_a_role_in_the_environments_account_loads_with_its_session_name(env_dir: Path) -> None:
    env = load_estate([write_env(env_dir, with_aws(f"  role_arn: {ROLE}\n  external_id: ci-7f3a\n"
                                                   ))]).get("prod")
    assert (env.aws.role_arn, env.aws.external_id, env.aws_session_name()) == (
        ROLE, "ci-7f3a", "keyplane-prod")
    named = load_estate([write_env(env_dir, with_aws(
        f"  role_arn: {ROLE}\n  session_name: nightly-drift\n"))]).get("prod")
    assert named.aws_session_name() == "nightly-drift"


def test_without_a_role_nothing_is_assumed(env_dir: Path) -> None:
    env = load_estate([write_env(env_dir, BASE_ENV)]).get("prod")
    assert (env.aws.role_arn, env.aws.external_id, env.aws.session_name) == (None, None, None)


def test_fails_on_a_role_in_another_account(env_dir: Path) -> None:
    other = "arn:aws:iam::444455556666:role/keyplane-reader"
    path = write_env(env_dir, with_aws(f"  role_arn: {other}\n"))
    [problem] = problems_of(path)
    assert problem.render() == (
        f"{path}:7:3: KP104 role_arn: the role is in account 444455556666, but account_id is "
        "111122223333; the role keyplane assumes must be in the environment's own account, "
        f"got '{other}' (aws.role_arn)")


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::111122223333:user/keyplane-reader",  # a user, not a role
    "arn:aws:sts::111122223333:assumed-role/keyplane-reader/s",  # a session, not the role
    "arn:aws:iam::11112222333:role/keyplane-reader",  # 11 digits
    "keyplane-reader",  # a name, not an ARN
    f"arn:aws:iam::111122223333:role/{'r' * 65}",  # a role name has at most 64 characters
])
def test_fails_on_what_is_not_an_iam_role_arn(env_dir: Path, arn: str) -> None:
    path = write_env(env_dir, with_aws(f"  role_arn: {arn}\n"))
    [problem] = problems_of(path)
    assert (problem.code, problem.line, problem.path) == ("KP104", 7, "aws.role_arn")
    shown = repr(arn) if len(arn) <= 58 else repr(arn)[:57] + "..."  # long values shortened
    assert problem.message == ("role_arn: must be an iam role arn, arn:<partition>:iam::"
                               f"<12-digit account>:role/[<path>/]<name>, got {shown}")


@pytest.mark.parametrize("field", ["external_id", "session_name"])
def test_fails_on_role_options_without_a_role(env_dir: Path, field: str) -> None:
    path = write_env(env_dir, with_aws(f"  {field}: ci-7f3a\n"))
    [problem] = problems_of(path)
    assert (problem.code, problem.line, problem.path) == ("KP104", 7, f"aws.{field}")
    assert problem.message.startswith(f"{field}: {field} applies only when role_arn names a "
                                      "role to assume")


def test_fails_on_a_session_name_sts_refuses(env_dir: Path) -> None:
    path = write_env(env_dir, with_aws(f"  role_arn: {ROLE}\n  session_name: has space\n"))
    [problem] = problems_of(path)
    assert (problem.code, problem.line, problem.path) == ("KP104", 8, "aws.session_name")


def test_validate_exits_2_with_the_coded_error(env_dir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write_env(env_dir, with_aws("  role_arn: arn:aws:iam::444455556666:role/r\n"))
    with pytest.raises(SystemExit) as exc:
        main(["validate", "-d", str(env_dir)])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert f"{path}:7:3: KP104 role_arn: the role is in account 444455556666" in err
