"""The inventory's `owner` and `certificates`: required where the tier says, checked at load
with a code and file:line, shown by `keyplane validate`, carried by findings, and never in
the synthesized stacks (no tag, no label)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyplane.errors import InventoryError
from keyplane.findings import Finding, Severity, Status
from keyplane.model import load_estate
from keyplane.model.loader import load_environment
from keyplane.schema import validate
from tests.conftest import BASE_ENV, write_env
from tests.sandbox.helpers import run_cli

ACM = "arn:aws:acm:us-east-1:111122223333:certificate/0a1b2c3d-0000-4000-8000-000000000001"
PCA = ("arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/"
       "0a1b2c3d-0000-4000-8000-000000000002")
SIGNING = "    spec: ECC_NIST_P384\n"  # the first line only code-signing has


def problems(path: Path) -> list[tuple[str, str, int | None]]:
    """(code, message, line) of every problem of the file."""
    with pytest.raises(InventoryError) as err:
        load_environment(path)
    return [(p.code, p.message, p.line) for p in err.value.problems()]


def with_certificates(block: str) -> str:
    """BASE_ENV with `certificates:` (indented YAML) on code-signing."""
    return BASE_ENV.replace(SIGNING, SIGNING + "    certificates:\n" + block, 1)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_every_ca_and_production_key_needs_an_owner(env_dir: Path) -> None:
    text = BASE_ENV.replace("    owner: team-a@example.com\n", "", 1)  # the data key's
    got = problems(write_env(env_dir, text))
    assert got == [("KP105", "key 'data' is a production key, so it needs an 'owner' (the "
                             "team or address answerable for it, e.g. pki-team@example.com)",
                    line_of(text, "- name: data"))]
    # non-production keys may leave it out
    relaxed = text.replace("kind: production", "kind: non-production").replace(
        "tier: production", "tier: non-production").replace("  replica_regions: [us-west-2]\n",
                                                            "")
    assert load_environment(write_env(env_dir, relaxed)).key("data").owner is None


@pytest.mark.parametrize("owner", ["' team'", '"two\\nlines"', "''"])
def test_fails_on_an_owner_that_is_blank_or_spans_lines(env_dir: Path, owner: str) -> None:
    text = BASE_ENV.replace("owner: team-a@example.com", f"owner: {owner}", 1)
    ((code, message, _),) = problems(write_env(env_dir, text))
    assert code == "KP104"
    assert message.startswith("owner must match ")


def test_certificates_load_with_every_source(env_dir: Path) -> None:
    text = with_certificates(
        f"      acm:\n        arns: [{ACM}]\n        tags: {{app: web}}\n"
        f"        regions: [us-west-2]\n"
        f"      acm_pca:\n        - authority_arn: {PCA}\n"
        f"          issued: [{PCA}/certificate/{'ab' * 16}]\n"
        "      gcp_cas:\n        - ca_pool: projects/acme-test-prod/locations/us-east1/"
        "caPools/mesh\n"
        "      files: [certs/, ../environments/x.pem]\n")
    key = load_environment(write_env(env_dir, text)).key("code-signing")
    assert key.certificates is not None and bool(key.certificates)
    assert key.certificates.acm is not None and key.certificates.acm.tags == {"app": "web"}
    assert key.certificates.acm_pca[0].issued[0].endswith("/certificate/" + "ab" * 16)
    assert key.certificates.files == ("certs/", "../environments/x.pem")


@pytest.mark.parametrize(("block", "code", "message"), [
    ("      acm:\n        arns: [arn:aws:acm:us-east-1:111122223333:cert/1]\n",
     "KP104", "'arn:aws:acm:us-east-1:111122223333:cert/1' is not an acm certificate arn"),
    ("      acm:\n        arns: [" + ACM.replace("111122223333", "444455556666") + "]\n",
     "KP113", "is in account 444455556666, the environment's account is 111122223333"),
    ("      acm:\n        regions: [us-west-2]\n        arns: [" + ACM + "]\n",
     "KP113", "acm.regions applies to certificates found by tags"),
    ("      acm:\n        tags: {app: web}\n        regions: [mars-1]\n",
     "KP104", "region 'mars-1' is not an aws region name"),
    (f"      acm_pca:\n        - authority_arn: {PCA}\n          issued: [{ACM}]\n",
     "KP104", "must be " + PCA + "/certificate/<32 hex digits>"),
    ("      acm_pca:\n        - authority_arn: arn:aws:acm-pca:x\n",
     "KP104", "'arn:aws:acm-pca:x' is not an acm private ca arn"),
    ("      gcp_cas:\n        - ca_pool: projects/other-project/locations/l/caPools/p\n",
     "KP113", "is in project other-project, the environment's project is acme-test-prod"),
    ("      gcp_cas:\n        - ca_pool: pools/p\n", "KP104",
     "ca_pool 'pools/p' must be projects/<project>/locations/<location>/caPools/<pool>"),
    ("      files: [/etc/ssl/cert.pem]\n", "KP104",
     "certificate path '/etc/ssl/cert.pem' must be a path relative to the environment file"),
    ("      files: ['../../../../../../../../etc/ssl']\n", "KP104", "leaves the repository"),
    ("      files: []\n", "KP105", "certificates declares no source"),
])
def test_fails_on_a_certificate_source_keyplane_could_not_read(
        env_dir: Path, block: str, code: str, message: str) -> None:
    text = with_certificates(block)
    got = problems(write_env(env_dir, text))
    assert [c for c, _, _ in got] == [code], got
    assert message in got[0][1]
    assert got[0][2] is not None and got[0][2] > line_of(text, "certificates:") - 1


def test_fails_on_certificates_of_a_key_without_a_public_key(env_dir: Path) -> None:
    text = BASE_ENV.replace("    usage: encrypt\n", "    usage: encrypt\n"
                            "    certificates: {files: [a.pem]}\n", 1)
    assert problems(write_env(env_dir, text)) == [(
        "KP113", "key 'data' is SYMMETRIC_DEFAULT, which has no public key; certificates bind "
                 "the public key of an asymmetric key", line_of(text, "certificates:"))]


def test_validate_shows_owners_and_certificate_sources(capsys: pytest.CaptureFixture[str],
                                                       env_dir: Path) -> None:
    write_env(env_dir, with_certificates(f"      acm: {{arns: [{ACM}]}}\n"))
    code, out, err = run_cli(capsys, "validate", "-d", str(env_dir), "--format", "json")
    assert code == 0, err
    keys = {k["name"]: k for k in json.loads(out)["environments"][0]["keys"]}
    assert keys["code-signing"]["owner"] == "team-a@example.com"
    assert keys["code-signing"]["certificates"] == [f"acm {ACM}"]
    assert keys["data"]["certificates"] == []
    code, out, err = run_cli(capsys, "validate", "-d", str(env_dir))
    assert code == 0, err
    assert "team-a@example.com" in out


def test_owner_and_certificates_change_no_synthesized_resource(env_dir: Path) -> None:
    """The desired state (what the stacks render one to one) is the same with and without
    them: no tag, no label, nothing Terraform would change."""
    from keyplane.desired.aws import plan_environment as aws_plan
    from keyplane.desired.gcp import plan_environment as gcp_plan

    plain = load_estate([write_env(env_dir, BASE_ENV)]).get("prod")
    other = env_dir.parent / "other"
    other.mkdir()
    declared = load_estate([write_env(other, with_certificates(
        "      files: [a.pem]\n").replace("team-a@example.com", "someone-else"))]).get("prod")
    assert declared.key("code-signing").certificates is not None
    assert repr(aws_plan(plain)) == repr(aws_plan(declared))
    assert repr(gcp_plan(plain)) == repr(gcp_plan(declared))


def test_a_finding_carries_its_owner_in_schema_1() -> None:
    f = Finding(rule_id="certs.outlives_key", status=Status.FAIL, severity=Severity.HIGH,
                resource="certs/a.pem", reason="valid past its key", key="signer@g3",
                owner="team-a@example.com")
    data = f.to_dict()
    assert data["owner"] == "team-a@example.com"
    validate(data, "finding")
    assert Finding.from_dict(data).owner == "team-a@example.com"
    assert "owner" not in Finding(rule_id="r", status=Status.PASS, severity=Severity.LOW,
                                  resource="x", reason="ok").to_dict()
    with pytest.raises(Exception, match="is not of type"):
        validate({**data, "owner": 3}, "finding")
