"""`keyplane validate` end to end: exit codes, output formats, no traceback, no heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keyplane.cli import cli, main
from tests.conftest import BASE_ENV, EXAMPLE_ENVIRONMENTS, REPO, write_env


def run(*args: str) -> tuple[int, str, str]:
    """Run the real entry point in a subprocess (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-c", "from keyplane.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_validate_prints_the_inventory_of_the_example_estate() -> None:
    code, out, err = run("validate", "--environments-dir", str(EXAMPLE_ENVIRONMENTS))
    assert code == 0, err
    assert "prod (production)" in out and "staging (non-production)" in out
    assert "pki-root-ca" in out and "CloudHSM key store" in out
    assert "ceremony g1, max age 3650d" in out
    assert "automatic every 180d" in out
    assert "valid: 3 environment(s), 16 key(s)" in out


def test_validate_fits_80_columns_wrapping_never_cutting(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyplane.model import load_estate

    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(cli, ["validate", "-d", str(EXAMPLE_ENVIRONMENTS)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.output and "..." not in result.output
    estate = load_estate(sorted(EXAMPLE_ENVIRONMENTS.glob("*.yaml")))
    for env in estate.environments:
        for key in env.keys:  # one block per key: every value whole
            assert f"  {key.name}  {key.tier.value}  {key.cloud.value}" in lines
            assert f"{key.usage.value} / {key.spec}" in result.output


def test_validate_json_lists_keys_with_rotation_and_next_due() -> None:
    result = CliRunner().invoke(cli, ["validate", "prod", "-d", str(EXAMPLE_ENVIRONMENTS),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (prod,) = data["environments"]
    signing = next(k for k in prod["keys"] if k["name"] == "code-signing")
    assert signing["rotation_mode"] == "generations"
    assert signing["next_rotation_due"] == "2027-11-16"
    assert [g["state"] for g in signing["generations"]] == ["current", "verify-only"]
    data_key = next(k for k in prod["keys"] if k["name"] == "release-artifacts")
    assert (data_key["rotation_mode"], data_key["rotation_period_in_days"]) == ("automatic", 180)


def test_validate_writes_output_file(tmp_path: Path) -> None:
    out = tmp_path / "inventory.json"
    result = CliRunner().invoke(cli, ["validate", "-d", str(EXAMPLE_ENVIRONMENTS),
                                      "--format", "json", "--output", str(out)])
    assert result.exit_code == 0
    assert len(json.loads(out.read_text())["environments"]) == 3


def test_fails_with_exit_2_and_located_errors_without_traceback(env_dir: Path) -> None:
    text = BASE_ENV.replace("    tier: production\n    cloud: aws\n    usage: encrypt",
                            "    tier: critical\n    cloud: aws\n    usage: encrypt")
    path = write_env(env_dir, text)
    before = path.read_bytes()
    code, out, err = run("validate", "-d", str(env_dir))
    assert code == 2
    assert "Traceback" not in out + err
    assert f"{path}:31:5: KP104 tier must be one of ca, production, non-production, ephemeral, " \
           "got 'critical' (keys[data].tier)" in err
    assert "keyplane: 1 problem(s) in" in err
    assert path.read_bytes() == before


def test_fails_with_json_error_object(env_dir: Path) -> None:
    write_env(env_dir, BASE_ENV.replace("kind: production\n", "kind: prod\n"))
    code, out, _ = run("validate", "-d", str(env_dir), "--format", "json")
    assert code == 2
    data = json.loads(out)
    assert data["error"] == "KP100"
    assert data["problems"][0]["code"] == "KP104"
    assert data["problems"][0]["line"] == 2


def test_fails_on_unknown_environment_name() -> None:
    code, _, err = run("validate", "qa", "-d", str(EXAMPLE_ENVIRONMENTS))
    assert code == 2
    assert "keyplane: error KP003: unknown environment 'qa'; declared in" in err
    assert "dev, prod, staging" in err


def test_fails_on_secret_never_echoed_by_the_cli(env_dir: Path) -> None:
    secret = "AKIAZ7QX3N5B2KDL4MPE"
    write_env(env_dir, BASE_ENV.replace("  region: us-east-1\n",
                                        f"  region: us-east-1\n  key_id: {secret}\n"))
    code, out, err = run("validate", "-d", str(env_dir), "--format", "json")
    assert code == 2
    assert secret not in out + err
    assert json.loads(out)["problems"][0]["code"] == "KP112"


def test_validate_never_imports_cdk_or_cloud_sdks() -> None:
    probe = (
        "import sys\n"
        "from keyplane.cli import cli\n"
        f"cli.main(args=['validate', '-d', {str(EXAMPLE_ENVIRONMENTS)!r}], standalone_mode=False)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'cdktn', 'cdktn_provider_aws', "
        "'cdktn_provider_google', 'constructs', 'jsii', 'boto3', 'botocore', 'google'})\n"
        "print('HEAVY=' + ','.join(heavy))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="


def test_main_turns_unexpected_errors_into_one_line(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import keyplane.commands.validate as validate_module

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(validate_module, "load_targets", boom)
    monkeypatch.delenv("KEYPLANE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["validate", "-d", str(EXAMPLE_ENVIRONMENTS)])
    assert info.value.code == 70
    err = capsys.readouterr().err
    assert err.startswith("keyplane: internal error: RuntimeError: disk on fire")
    assert "Traceback" not in err
