"""`keyplane rotate`: the YAML gains a generation, keeps its comments, and stays valid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from keyplane.cli import cli
from keyplane.model.loader import load_environment
from tests.conftest import EXAMPLE_ENVIRONMENTS


@pytest.fixture
def envs(tmp_path: Path) -> Path:
    d = tmp_path / "environments"
    shutil.copytree(EXAMPLE_ENVIRONMENTS, d)
    return d


def rotate(envs: Path, *args: str):
    return CliRunner().invoke(cli, ["rotate", *args, "-d", str(envs)])


def test_rotate_adds_the_next_generation_and_closes_the_previous(envs: Path) -> None:
    before = (envs / "prod.yaml").read_text()
    result = rotate(envs, "prod", "code-signing", "--reason", "calendar",
                    "--as-of", "2026-12-01")
    assert result.exit_code == 0, result.output
    key = load_environment(envs / "prod.yaml").key("code-signing")
    assert key.generation == 5
    assert [g.generation for g in key.generations] == [5, 4, 3]
    new, old = key.generations[0], key.generations[1]
    assert new.created_on.isoformat() == "2026-12-01" and new.verify_until is None
    assert old.verify_until.isoformat() == "2026-12-31"  # production overlap: 30 days
    assert old.enabled is True
    assert "prod/code-signing: generation 4 -> 5 (reason: calendar)" in result.output
    assert "~ generation 4: verify_until 2026-12-31" in result.output
    after = (envs / "prod.yaml").read_text()
    # only the rotated key changed: three lines added, one changed
    removed = set(before.splitlines()) - set(after.splitlines())
    assert removed == {"    generation: 4"}


def test_rotate_preserves_comments_quotes_and_layout(envs: Path) -> None:
    before = (envs / "prod.yaml").read_text()
    assert rotate(envs, "prod", "document-signing", "--reason", "staff-change",
                  "--as-of", "2026-12-01").exit_code == 0
    after = (envs / "prod.yaml").read_text()
    for line in ("# Production PKI estate of Acme Corp.",
                 "    # The kmsuser password lives in SSM Parameter Store (SecureString), never "
                 "here.",
                 '    copy_to_account_id: "987654321098"   # backup vault account, outside the '
                 "prod org unit",
                 '  account_id: "210987654321"', "  replica_regions: [us-west-2]",
                 "  # --- production signing keys: asymmetric, managed as generations"):
        assert line in before and line in after
    assert "        created_on: 2026-12-01  # rotated: staff-change\n" in after
    assert len(after.splitlines()) == len(before.splitlines()) + 3


def test_compromise_ends_the_overlap_today_and_disables_the_old_generation(envs: Path) -> None:
    result = rotate(envs, "dev", "webhook-hmac", "--reason", "compromise",
                    "--as-of", "2026-12-01")
    assert result.exit_code == 0, result.output
    key = load_environment(envs / "dev.yaml").key("webhook-hmac")
    old = next(g for g in key.generations if g.generation == 7)
    assert (old.verify_until.isoformat(), old.enabled) == ("2026-12-01", False)


def test_overlap_comes_from_the_tier(envs: Path) -> None:
    assert rotate(envs, "staging", "staging-code-signing", "--reason", "policy-change",
                  "--as-of", "2026-12-01").exit_code == 0
    key = load_environment(envs / "staging.yaml").key("staging-code-signing")
    assert key.generations[1].verify_until.isoformat() == "2026-12-08"  # non-production: 7 d


def test_fails_key_that_rotates_automatically(envs: Path) -> None:
    before = (envs / "prod.yaml").read_text()
    result = rotate(envs, "prod", "release-artifacts", "--reason", "calendar")
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert result.exception.code == "KP402"
    assert result.exception.message == (
        "key 'release-artifacts' rotates automatically every 180 days; keyplane rotate is for "
        "keys managed as generations (asymmetric, hmac, imported, custom key store)")
    assert (envs / "prod.yaml").read_text() == before


def test_fails_unknown_key(envs: Path) -> None:
    result = rotate(envs, "prod", "nope", "--reason", "calendar")
    assert result.exception.code == "KP401"
    assert result.exception.message.startswith(
        f"key 'nope' is not declared in {envs / 'prod.yaml'}; declared: pki-root-ca, ")


def test_fails_unknown_environment(envs: Path) -> None:
    result = rotate(envs, "nope", "code-signing", "--reason", "calendar")
    assert result.exception.code == "KP003"


def test_fails_unknown_reason(envs: Path) -> None:
    result = rotate(envs, "prod", "code-signing", "--reason", "boredom")
    assert result.exit_code == 2
    assert "Invalid value for '--reason'" in result.output


def test_fails_when_the_result_would_be_invalid_and_leaves_the_file_alone(envs: Path) -> None:
    # verify_until before created_on makes the rotated file invalid: nothing is written
    before = (envs / "prod.yaml").read_text()
    result = rotate(envs, "prod", "code-signing", "--reason", "compromise",
                    "--as-of", "2020-01-01")
    assert result.exception.code == "KP100"
    assert any("verify_until 2020-01-01 is before created_on" in p.message
               for p in result.exception.problems())
    assert (envs / "prod.yaml").read_text() == before
    assert sorted(p.name for p in envs.iterdir()) == ["dev.yaml", "prod.yaml", "staging.yaml"]


def test_exit_code_through_the_entry_point(envs: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()",
                           "rotate", "prod", "release-artifacts", "--reason",
                           "calendar", "-d", str(envs)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("keyplane: error KP402: key 'release-artifacts' rotates")
