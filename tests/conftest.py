"""Shared test helpers: the example estate and small environment files written on the fly."""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Every directory the suite makes outside pytest's tmp_path lives here and is removed when
# the session ends (synthesized estates, CDK test apps, the committed example estate).
TEST_TMP = Path(tempfile.mkdtemp(prefix="keyplane-tests-"))
# also when this module is imported outside pytest (a test's subprocess imports helpers)
atexit.register(shutil.rmtree, TEST_TMP, True)


def scratch_dir(prefix: str) -> Path:
    """A fresh directory under TEST_TMP."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=TEST_TMP))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Leave nothing behind in the system's temp directory."""
    shutil.rmtree(TEST_TMP, ignore_errors=True)


def _committed_example_estate() -> Path:
    """The example estate as committed, copied once per test process.

    The walkthrough edits environments/ (`keyplane rotate`); tests read the committed files,
    so an edit in progress never turns the suite red. Outside a git checkout (an sdist),
    the files themselves.
    """
    names = subprocess.run(["git", "ls-files", "environments"], cwd=REPO, capture_output=True,
                           text=True, check=False)
    files = [n for n in names.stdout.split() if n.endswith((".yaml", ".yml"))]
    if names.returncode != 0 or not files:
        return REPO / "environments"
    out = scratch_dir("example-estate-") / "environments"
    out.mkdir()
    for name in files:
        blob = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=REPO, capture_output=True,
                              check=False)
        if blob.returncode != 0:
            return REPO / "environments"
        (out / Path(name).name).write_bytes(blob.stdout)
    return out


EXAMPLE_ENVIRONMENTS = _committed_example_estate()

# A small valid production environment; tests edit it to produce one fault at a time.
BASE_ENV = textwrap.dedent("""\
    name: prod
    kind: production
    aws:
      account_id: "111122223333"
      region: us-east-1
      replica_regions: [us-west-2]
    gcp:
      project_id: acme-test-prod
      location: us-east1
    principals:
      key_admins:
        aws: [arn:aws:iam::111122223333:role/admins]
        gcp: [group:admins@example.com]
      backup_operators:
        aws: [arn:aws:iam::111122223333:role/backup]
      auditors:
        aws: [arn:aws:iam::111122223333:role/audit]
      break_glass:
        aws: [arn:aws:iam::111122223333:role/break-glass]
    workloads:
      - name: signer
        aws:
          oidc:
            provider: token.actions.githubusercontent.com
            audience: sts.amazonaws.com
            subject: repo:acme/app:environment:production
        gcp:
          member: serviceAccount:signer@acme-test-prod.iam.gserviceaccount.com
    keys:
      - name: data
        tier: production
        cloud: aws
        usage: encrypt
        users: [signer]
        owner: team-a@example.com
      - name: code-signing
        tier: production
        cloud: aws
        usage: sign
        spec: ECC_NIST_P384
        users: [signer]
        owner: team-a@example.com
        generation: 2
        generations:
          - generation: 2
            created_on: 2026-06-01
          - generation: 1
            created_on: 2025-06-01
            verify_until: 2026-07-01
      - name: attest
        tier: production
        cloud: gcp
        usage: sign
        spec: EC_SIGN_P384_SHA384
        users: [signer]
        owner: team-a@example.com
        generation: 1
        generations:
          - generation: 1
            created_on: 2026-01-01
    """)


@pytest.fixture
def env_dir(tmp_path: Path) -> Path:
    """An empty environments directory."""
    d = tmp_path / "environments"
    d.mkdir()
    return d


def write_env(directory: Path, text: str, name: str = "prod") -> Path:
    """Write an environment file and return its path."""
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _audit_log_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Audit events of commands run by tests go to the test's own directory."""
    path = tmp_path / "audit" / "events.jsonl"
    monkeypatch.setenv("KEYPLANE_AUDIT_LOG", str(path))
    return path


@dataclass(frozen=True)
class Synthesized:
    """The example estate synthesized once per test session through the real CLI."""

    out: Path
    exit_code: int
    stdout: str
    stderr: str


@functools.lru_cache(maxsize=1)
def synthesize_example_estate() -> Synthesized:
    """`keyplane synth` of environments/ into a temporary cdktf.out, once per test process."""
    out = scratch_dir("synth-") / "cdktf.out"
    proc = subprocess.run(
        [sys.executable, "-c", "from keyplane.cli import main; main()", "synth", "--out-dir", str(out),
         "--environments-dir", str(EXAMPLE_ENVIRONMENTS)],
        capture_output=True, text=True, cwd=REPO, timeout=900)
    return Synthesized(out, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def synthesized_estate() -> Synthesized:
    """The example estate synthesized through the real CLI (one Node start per run)."""
    return synthesize_example_estate()
