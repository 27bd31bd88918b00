"""`keyplane estate`: accounts and projects holding keys with no environment file, and
environment files pointing at accounts or projects that are closed, deleted or gone.

AWS: a real AWS Organization in moto's server behind the sandbox's front (Organizations
ListRoots, ListOrganizationalUnitsForParent, ListAccountsForParent; member accounts opened by
sts:AssumeRole into OrganizationAccountAccessRole, which the front refuses as AWS does when
the role is missing). GCP: the real google-cloud-resource-manager clients over gRPC into the
Resource Manager fake, and google-cloud-kms into the Cloud KMS fake. Every test builds its
own organization (a new management account) and its own GCP organization, so tests never see
each other's accounts or projects.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists

from keyplane.sandbox.aws_front import FaultRule
from keyplane.sandbox.gcp_fake import GcpFaultRule
from keyplane.sandbox.gcp_resourcemanager_fake import ResourceManagerEndpoint
from keyplane.sandbox.server import Sandbox
from tests.sandbox.helpers import aws, gcp, run_cli, start_sandbox

pytestmark = pytest.mark.integration

_n = itertools.count(1)


@dataclass
class Clouds:
    """The sandbox (AWS front + moto, Cloud KMS fake) and the Resource Manager fake."""

    sb: Sandbox
    rm: ResourceManagerEndpoint


@pytest.fixture(scope="module")
def clouds() -> Iterator[Clouds]:
    sb = start_sandbox()
    rm = ResourceManagerEndpoint()
    rm.start()
    yield Clouds(sb, rm)
    rm.stop()
    sb.stop()


@pytest.fixture(autouse=True)
def no_faults(clouds: Clouds) -> Iterator[None]:
    yield
    clouds.sb.front.rules.clear()
    clouds.sb.kms_fake.rules.clear()
    clouds.rm.fake.rules.clear()


# ---- an AWS Organization ---------------------------------------------------------------------

@dataclass
class Org:
    """A moto organization: its id, management account, units and accounts by name."""

    id: str
    management: str
    units: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)


def aws_key(sb: Sandbox, account: str, region: str = "us-east-1", *, aws_managed: bool = False
            ) -> str:
    key = aws(sb, account, "kms", region).create_key(Description="estate test")["KeyMetadata"]
    if aws_managed:
        # moto's API cannot create an AWS managed key (AWS services create them); mark one as
        # AWS makes it, in moto's own state, so the KeyManager filter is tested on a real answer
        from moto.kms.models import kms_backends

        kms_backends[account][region].keys[key["KeyId"]].key_manager = "AWS"
    return str(key["KeyId"])


def organization(sb: Sandbox) -> Org:
    """Root > Workloads > Payments > Prod (three levels of units), and Root > Sandbox, with:
    prod (Prod, keys), shadow (Prod, a key in us-west-2), drill (Sandbox, keys), empty
    (Payments), awsmanaged (Sandbox, only an AWS managed key), legacy (Workloads, closed),
    retired (Workloads, closed, keys)."""
    management = f"5{next(_n):011d}"
    o = aws(sb, management, "organizations")
    org = Org(o.create_organization(FeatureSet="ALL")["Organization"]["Id"], management)
    root = o.list_roots()["Roots"][0]["Id"]

    def unit(parent: str, name: str) -> str:
        uid = str(o.create_organizational_unit(ParentId=parent, Name=name)
                  ["OrganizationalUnit"]["Id"])
        org.units[name] = uid
        return uid

    prod_ou = unit(unit(unit(root, "Workloads"), "Payments"), "Prod")
    sandbox_ou = unit(root, "Sandbox")
    for name, parent in (("prod", prod_ou), ("shadow", prod_ou), ("drill", sandbox_ou),
                         ("empty", org.units["Payments"]), ("awsmanaged", sandbox_ou),
                         ("legacy", org.units["Workloads"]), ("retired", org.units["Workloads"])):
        acct = str(o.create_account(AccountName=name, Email=f"{name}@example.com")
                   ["CreateAccountStatus"]["AccountId"])
        o.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=parent)
        org.accounts[name] = acct
    aws_key(sb, org.accounts["prod"])
    aws_key(sb, org.accounts["shadow"], "us-west-2")
    aws_key(sb, org.accounts["drill"])
    aws_key(sb, org.accounts["awsmanaged"], aws_managed=True)
    aws_key(sb, org.accounts["retired"])
    for name in ("legacy", "retired"):
        o.close_account(AccountId=org.accounts[name])
    return org


# ---- a GCP organization ----------------------------------------------------------------------

@dataclass
class GcpOrg:
    """The Resource Manager fake's organization: its name, folders and project ids."""

    name: str
    folders: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)


def crypto_key(sb: Sandbox, project: str, location: str = "us-east1", *,
               material: bool = True, ring: str = "ring") -> None:
    kms = gcp(sb)
    parent = f"projects/{project}/locations/{location}"
    name = f"{parent}/keyRings/{ring}"
    with contextlib.suppress(AlreadyExists):  # a second key in the same ring
        kms.create_key_ring(request={"parent": parent, "key_ring_id": ring})
    kms.create_crypto_key(request={
        "parent": name, "crypto_key_id": f"k{next(_n)}",
        "crypto_key": {"purpose": "ENCRYPT_DECRYPT"},
        "skip_initial_version_creation": not material})


def gcp_organization(clouds: Clouds) -> GcpOrg:
    """organizations/N > Platform > Payments > Prod (three levels of folders), with projects:
    prod (Prod, a key), shadow (Prod, a key), empty (Payments, a key ring without keys),
    nomaterial (Platform, a key without any version), legacy (Payments, DELETE_REQUESTED),
    eu (Platform, a key in europe-west1 only), elsewhere (in another organization)."""
    fake = clouds.rm.fake
    n = next(_n)
    g = GcpOrg(fake.add_organization())
    g.folders["Platform"] = fake.add_folder(g.name, "Platform")
    g.folders["Payments"] = fake.add_folder(g.folders["Platform"], "Payments")
    g.folders["Prod"] = fake.add_folder(g.folders["Payments"], "Prod")
    places = {"prod": "Prod", "shadow": "Prod", "empty": "Payments", "nomaterial": "Platform",
              "legacy": "Payments", "eu": "Platform"}
    for name, folder in places.items():
        g.projects[name] = f"{name}-{n:04d}"
        fake.add_project(g.folders[folder], g.projects[name])
    g.projects["elsewhere"] = f"elsewhere-{n:04d}"
    g.folders["another organization"] = fake.add_organization()
    fake.add_project(g.folders["another organization"], g.projects["elsewhere"])
    g.projects["gone"] = f"gone-{n:04d}"  # named by an environment, never created
    crypto_key(clouds.sb, g.projects["prod"])
    crypto_key(clouds.sb, g.projects["shadow"])
    gcp(clouds.sb).create_key_ring(request={
        "parent": f"projects/{g.projects['empty']}/locations/us-east1", "key_ring_id": "ring"})
    crypto_key(clouds.sb, g.projects["nomaterial"], material=False)
    crypto_key(clouds.sb, g.projects["eu"], "europe-west1")
    fake.delete_project(g.projects["legacy"])
    return g


# ---- environment files -----------------------------------------------------------------------

def env_file(d: Path, name: str, *, account: str | None = None, org: str | None = None,
             drill: str | None = None, project: str | None = None) -> Path:
    """A minimal valid environment file naming `account` (in `org`) and/or `project`."""
    admin = f"arn:aws:iam::{account or '111111111111'}:role"
    lines = [f"name: {name}", "kind: non-production"]
    if account:
        lines += ["aws:", f'  account_id: "{account}"', "  region: us-east-1",
                  "  replica_regions: [us-west-2]"]
        if org:
            lines.append(f"  organization_id: {org}")
        if drill:
            lines.append(f'  backup: {{drill_account_id: "{drill}"}}')
    if project:
        lines += ["gcp:", f"  project_id: {project}", "  location: us-east1"]
    lines += ["principals:", f"  key_admins: {{aws: [{admin}/admins]}}",
              f"  backup_operators: {{aws: [{admin}/backup]}}",
              f"  auditors: {{aws: [{admin}/audit]}}",
              f"  break_glass: {{aws: [{admin}/break-glass]}}"]
    path = d / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def envs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "environments"
    d.mkdir()
    return d


def estate(capsys: pytest.CaptureFixture[str], clouds: Clouds, envs: Path, *args: str
           ) -> tuple[int, dict[str, Any], str]:
    """`keyplane estate --format json` against the test's clouds: (exit, report, stderr)."""
    code, out, err = run_cli(capsys, "estate", "-d", str(envs), "--format", "json", "--quiet",
                             "--endpoint-url", clouds.sb.aws.url,
                             "--gcp-endpoint", clouds.sb.gcp.target,
                             "--gcp-resource-manager-endpoint", clouds.rm.target, *args)
    return code, json.loads(out) if out.startswith("{") else {}, err


def found(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["resource"]) for f in report["findings"]}


def line(path: Path, needle: str) -> int:
    return next(i + 1 for i, text in enumerate(path.read_text().splitlines()) if needle in text)


# ---- AWS ---------------------------------------------------------------------------------------

def test_aws_finds_unmanaged_closed_and_missing_accounts(
        clouds: Clouds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = organization(clouds.sb)
    a = org.accounts
    d = envs_dir(tmp_path)
    prod = env_file(d, "prod", account=a["prod"], org=org.id, drill=a["drill"])
    legacy = env_file(d, "legacy", account=a["legacy"], org=org.id)
    gone = env_file(d, "gone", account="300000000001", org=org.id)
    env_file(d, "elsewhere", account="300000000002", org="o-0therorg000")
    env_file(d, "standalone", account="300000000003")
    code, report, err = estate(capsys, clouds, d, "--aws", "--organization-id", org.id,
                               "--management-account-id", org.management)
    assert (code, report["outcome"]) == (1, "findings"), err
    assert found(report) == {("estate.aws_account_unmanaged", a["shadow"]),
                             ("estate.aws_account_closed", a["legacy"]),
                             ("estate.aws_account_not_in_organization", "300000000001")}
    by_rule = {f["rule_id"]: f for f in report["findings"]}
    shadow = by_rule["estate.aws_account_unmanaged"]
    assert shadow["reason"] == (
        f"account {a['shadow']} (shadow, Root/Workloads/Payments/Prod) holds 1 customer "
        "managed KMS key(s) (us-west-2: 1) and no environment file declares it")
    assert (shadow["severity"], shadow["cloud"], shadow["outcome"]) == ("high", "aws", "FAIL")
    closed = by_rule["estate.aws_account_closed"]
    assert (closed["environment"], closed["actual"], closed["source"]) == (
        "legacy", "SUSPENDED", f"{legacy}:{line(legacy, 'account_id')}")
    assert by_rule["estate.aws_account_not_in_organization"]["source"] == \
        f"{gone}:{line(gone, 'account_id')}"
    assert report["unknowns"] == []
    assert sorted(report["notes"]) == [
        f"environment elsewhere: declares organization o-0therorg000, not {org.id} (the one "
        "read); not compared",
        f"environment standalone: aws account 300000000003 is not in organization {org.id} "
        "and the file declares no aws.organization_id; not compared"]
    rows = {r["name"]: r for r in report["accounts"]}
    assert {n: (r["customer_keys"], r["path"], r["declared_by"]) for n, r in rows.items()} == {
        "master": (0, "Root", []),
        "prod": (None, "Root/Workloads/Payments/Prod", ["prod"]),
        "shadow": (1, "Root/Workloads/Payments/Prod", []),
        "drill": (None, "Root/Sandbox", ["prod (drill account)"]),
        "empty": (0, "Root/Workloads/Payments", []),
        "awsmanaged": (0, "Root/Sandbox", []),  # its only key is AWS managed
        "legacy": (None, "Root/Workloads", ["legacy"]),
        "retired": (None, "Root/Workloads", []),  # closed: not opened, not judged
    }
    summary = report["summary"]["aws"]
    assert (summary["units"], summary["accounts"], summary["states"],
            summary["accounts_scanned"], summary["regions"]) == (
        5, 8, {"ACTIVE": 6, "SUSPENDED": 2}, 4, ["us-east-1", "us-west-2"])
    # prod's own account and its drill account are declared: neither is judged
    assert not [f for f in report["findings"]
                if f["environment"] == "prod" or str(prod) in f.get("source", "")]


def test_aws_a_member_role_that_cannot_be_assumed_is_unknown_never_clean(
        clouds: Clouds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = organization(clouds.sb)
    aws(clouds.sb, org.accounts["empty"], "iam").delete_role(
        RoleName="OrganizationAccountAccessRole")
    d = envs_dir(tmp_path)
    env_file(d, "prod", account=org.accounts["prod"], org=org.id, drill=org.accounts["drill"])
    code, report, _ = estate(capsys, clouds, d, "--aws", "--management-account-id",
                             org.management)
    assert (code, report["outcome"]) == (3, "incomplete")
    role = f"arn:aws:iam::{org.accounts['empty']}:role/OrganizationAccountAccessRole"
    assert report["unknowns"] == [{
        "resource": f"aws account {org.accounts['empty']}",
        "reason": f"keys not read: AssumeRole denied (AccessDenied): User: arn:aws:iam::"
                  f"{org.management}:root is not authorized to perform: sts:AssumeRole on "
                  f"resource: {role}"}]
    assert found(report) == {("estate.aws_account_unmanaged", org.accounts["shadow"])}
    assert {r["name"]: r["customer_keys"] for r in report["accounts"]}["empty"] is None


def test_aws_an_unlisted_unit_makes_a_missing_account_unknown_not_gone(
        clouds: Clouds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = organization(clouds.sb)
    clouds.sb.front.rules.append(FaultRule(
        error="AccessDeniedException", service="organizations",
        operation="ListAccountsForParent", match=org.units["Prod"]))
    d = envs_dir(tmp_path)
    env_file(d, "prod", account=org.accounts["prod"], org=org.id, drill=org.accounts["drill"])
    code, report, _ = estate(capsys, clouds, d, "--aws", "--management-account-id",
                             org.management)
    assert (code, report["outcome"]) == (3, "incomplete")
    assert found(report) == set()  # prod's account is in the unit that could not be listed
    assert [u["resource"] for u in report["unknowns"]] == [
        f"aws account {org.accounts['prod']}",
        f"aws accounts of {org.units['Prod']} (Root/Workloads/Payments/Prod)"]
    assert report["unknowns"][1]["reason"].startswith(
        "ListAccountsForParent denied (AccessDeniedException)")


def test_aws_a_clean_organization_exits_0(clouds: Clouds, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    management = f"5{next(_n):011d}"
    o = aws(clouds.sb, management, "organizations")
    org_id = o.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    member = o.create_account(AccountName="app", Email="app@example.com")[
        "CreateAccountStatus"]["AccountId"]
    aws_key(clouds.sb, member)
    d = envs_dir(tmp_path)
    env_file(d, "app", account=member, org=org_id)
    code, report, err = estate(capsys, clouds, d, "--aws", "--management-account-id",
                               management)
    assert (code, report["outcome"], report["findings"], report["unknowns"]) == (
        0, "clean", [], []), err
    code, out, _ = run_cli(capsys, "estate", "-d", str(d), "--aws", "--quiet",
                           "--endpoint-url", clouds.sb.aws.url,
                           "--management-account-id", management)
    assert code == 0 and out.startswith("estate: CLEAN (0 finding(s), 0 unknown)\n")
    assert f"aws organization {org_id} (management account {management}" in out


def test_fails_when_the_credentials_reach_another_organization(
        clouds: Clouds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = organization(clouds.sb)
    d = envs_dir(tmp_path)
    env_file(d, "prod", account=org.accounts["prod"], org="o-0therorg000")
    code, error, _ = estate(capsys, clouds, d, "--aws", "--management-account-id",
                            org.management)
    assert (code, error["error"], error["message"]) == (2, "KP931", (
        f"aws credentials reach organization {org.id}; the environment files (or "
        "--organization-id) name o-0therorg000; nothing was compared"))


def test_fails_when_the_credentials_act_in_another_account(
        clouds: Clouds, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    org = organization(clouds.sb)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", f"KPSBX{org.accounts['prod']}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    code, error, _ = estate(capsys, clouds, envs_dir(tmp_path), "--aws", "--region",
                            "us-east-1", "--management-account-id", org.management)
    assert (code, error["error"], error["message"]) == (2, "KP931", (
        f"aws credentials act in account {org.accounts['prod']}, not --management-account-id "
        f"{org.management}; nothing was read"))


def test_fails_when_the_account_is_in_no_organization(
        clouds: Clouds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, error, _ = estate(capsys, clouds, envs_dir(tmp_path), "--aws", "--region",
                            "us-east-1", "--management-account-id", f"6{next(_n):011d}")
    assert (code, error["error"]) == (2, "KP932")
    assert error["message"].startswith("the credentials' aws account is not a member of an "
                                       "organization")


# ---- GCP ---------------------------------------------------------------------------------------

def test_gcp_finds_unmanaged_deleted_and_missing_projects(
        clouds: Clouds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = gcp_organization(clouds)
    p = g.projects
    d = envs_dir(tmp_path)
    env_file(d, "prod", project=p["prod"])
    legacy = env_file(d, "legacy", project=p["legacy"])
    gone = env_file(d, "gone", project=p["gone"])
    env_file(d, "elsewhere", project=p["elsewhere"])
    code, report, err = estate(capsys, clouds, d, "--gcp-organization", g.name)
    assert (code, report["outcome"], report["unknowns"]) == (1, "findings", []), err
    assert found(report) == {("estate.gcp_project_unmanaged", f"projects/{p['shadow']}"),
                             ("estate.gcp_project_deleted", f"projects/{p['legacy']}"),
                             ("estate.gcp_project_not_found", f"projects/{p['gone']}")}
    by_rule = {f["rule_id"]: f for f in report["findings"]}
    assert by_rule["estate.gcp_project_unmanaged"]["reason"] == (
        f"project {p['shadow']} ({g.name}/Platform/Payments/Prod) holds 1 Cloud KMS key(s) "
        "with key material (us-east1: 1) and no environment file declares it")
    assert by_rule["estate.gcp_project_deleted"]["source"] == \
        f"{legacy}:{line(legacy, 'project_id')}"
    assert (by_rule["estate.gcp_project_not_found"]["environment"],
            by_rule["estate.gcp_project_not_found"]["source"]) == (
        "gone", f"{gone}:{line(gone, 'project_id')}")
    assert report["notes"] == [f"environment elsewhere: project {p['elsewhere']} is outside "
                               f"{g.name} (parent {g.folders['another organization']}); "
                               "not compared"]
    rows = {r["project_id"]: (r["crypto_keys"], r["state"], r["declared_by"])
            for r in report["projects"]}
    assert rows == {p["prod"]: (None, "ACTIVE", ["prod"]),
                    p["shadow"]: (1, "ACTIVE", []),
                    p["empty"]: (0, "ACTIVE", []),  # a key ring without keys
                    p["nomaterial"]: (0, "ACTIVE", []),  # a key without any version
                    p["legacy"]: (None, "DELETE_REQUESTED", ["legacy"]),
                    p["eu"]: (0, "ACTIVE", [])}  # its key is in a location not read
    summary = report["summary"]["gcp"]
    assert (summary["folders"], summary["projects"], summary["locations"]) == (
        3, 6, ["us-east1"])


def test_gcp_locations_to_read_can_be_named(clouds: Clouds, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    g = gcp_organization(clouds)
    d = envs_dir(tmp_path)
    env_file(d, "prod", project=g.projects["prod"])
    code, report, _ = estate(capsys, clouds, d, "--gcp-folder", g.folders["Platform"],
                             "--gcp-location", "us-east1", "--gcp-location", "europe-west1")
    assert code == 1
    assert {r for r in found(report) if r[0] == "estate.gcp_project_unmanaged"} == {
        ("estate.gcp_project_unmanaged", f"projects/{g.projects['shadow']}"),
        ("estate.gcp_project_unmanaged", f"projects/{g.projects['eu']}")}
    assert report["summary"]["gcp"]["scope"] == g.folders["Platform"]


def test_gcp_a_project_whose_keys_cannot_be_read_is_unknown(
        clouds: Clouds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = gcp_organization(clouds)
    clouds.sb.kms_fake.rules.append(GcpFaultRule(code="PERMISSION_DENIED",
                                                 method="ListKeyRings",
                                                 match=f"projects/{g.projects['shadow']}/"))
    d = envs_dir(tmp_path)
    env_file(d, "prod", project=g.projects["prod"])
    code, report, _ = estate(capsys, clouds, d, "--gcp-folder", g.folders["Prod"])
    assert (code, report["outcome"], found(report)) == (3, "incomplete", set())
    assert report["unknowns"] == [{
        "resource": f"gcp project {g.projects['shadow']}",
        "reason": "keys in us-east1 not read: ListKeyRings denied (PERMISSION_DENIED): "
                  "injected by the keyplane sandbox"}]


def test_both_clouds_in_one_run_report_both(clouds: Clouds, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    org = organization(clouds.sb)
    g = gcp_organization(clouds)
    d = envs_dir(tmp_path)
    env_file(d, "prod", account=org.accounts["prod"], org=org.id, drill=org.accounts["drill"],
             project=g.projects["prod"])
    env_file(d, "legacy", account=org.accounts["legacy"], org=org.id,
             project=g.projects["legacy"])
    code, report, _ = estate(capsys, clouds, d, "--aws", "--management-account-id",
                             org.management, "--gcp-organization", g.name)
    assert code == 1
    assert {(f["cloud"], f["rule_id"]) for f in report["findings"]} == {
        ("aws", "estate.aws_account_unmanaged"), ("aws", "estate.aws_account_closed"),
        ("gcp", "estate.gcp_project_unmanaged"), ("gcp", "estate.gcp_project_deleted")}
    assert set(report["summary"]) == {"aws", "gcp"}


# ---- bad input (exit 2, coded) -----------------------------------------------------------------

@pytest.mark.parametrize(("args", "code", "message"), [
    ((), "KP930", "nothing to read: give --aws (an AWS Organization) and/or --gcp-folder or "
                  "--gcp-organization"),
    (("--gcp-folder", "platform"), "KP933",
     "--gcp-folder must be a numeric id or folders/<id>, got 'platform'"),
    (("--gcp-folder", "1", "--gcp-organization", "2"), "KP930",
     "--gcp-folder and --gcp-organization each name the scope; give one, got --gcp-folder 1 "
     "and --gcp-organization 2"),
    (("--aws", "--member-role", "role with spaces"), "KP930",
     "--member-role must be an iam role name (1-64 letters, digits or _+=,.@-, optionally "
     "after a path), got 'role with spaces'"),
    (("--aws", "--organization-id", "org-1"), "KP930",
     "--organization-id must match ^o-[a-z0-9]{10,32}$, got 'org-1'"),
    (("--aws",), "KP930", "against a local endpoint without credentials, give "
                          "--management-account-id (the sandbox answers as that account)"),
    (("--gcp-folder", "1"), "KP930", "no cloud kms location to read keys in: no environment "
                                     "file has a gcp section; give --gcp-location (repeatable)"),
])
def test_fails_on_bad_input_with_a_coded_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch,
                                               args: tuple[str, ...], code: str,
                                               message: str) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    d = envs_dir(tmp_path)
    env_file(d, "prod", account="300000000009", org="o-0therorg000")
    exit_code, out, err = run_cli(capsys, "estate", "-d", str(d), "--endpoint-url",
                                  "http://127.0.0.1:9", "--gcp-endpoint", "127.0.0.1:9", *args)
    assert (exit_code, out, err.strip()) == (2, "", f"keyplane: error {code}: {message}")


def test_fails_on_an_invalid_environment_file(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    d = envs_dir(tmp_path)
    path = env_file(d, "prod", account="300000000009")
    path.write_text(path.read_text().replace("kind: non-production", "kind: sometimes"))
    code, _, err = run_cli(capsys, "estate", "-d", str(d), "--aws")
    assert code == 2 and f"{path}:2:1: KP104 kind must be one of" in err


def test_gcp_an_unlisted_folder_makes_a_missing_project_unknown_not_gone(
        clouds: Clouds, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = gcp_organization(clouds)
    clouds.rm.fake.rules.append(GcpFaultRule(code="PERMISSION_DENIED", method="ListProjects",
                                             match=g.folders["Prod"]))
    d = envs_dir(tmp_path)
    env_file(d, "prod", project=g.projects["prod"])  # in Prod, which cannot be listed
    code, report, _ = estate(capsys, clouds, d, "--gcp-organization", g.name)
    assert (code, report["outcome"], report["notes"]) == (3, "incomplete", [])
    assert found(report) == set()  # shadow (also in Prod) is not seen either: never "clean"
    assert [u["resource"] for u in report["unknowns"]] == [
        f"gcp project {g.projects['prod']}", f"gcp projects of {g.folders['Prod']} "
                                             f"({g.name}/Platform/Payments/Prod)"]


# ---- the judgement alone (pure) ----------------------------------------------------------------

def test_reconcile_of_nothing_finds_nothing() -> None:
    from keyplane.estate.gcp_projects import FolderTree
    from keyplane.estate.organizations import OrganizationTree
    from keyplane.estate.ports import Organization
    from keyplane.estate.reconcile import reconcile_aws, reconcile_gcp

    org = Organization(id="o-abcdefghij", management_account_id="111111111111")
    aws_part = reconcile_aws(OrganizationTree(org, "111111111111"), {}, [], ["us-east-1"])
    gcp_part = reconcile_gcp(FolderTree("organizations/1"), {}, {}, [], ["us-east1"])
    report = aws_part.merge(gcp_part)
    assert (report.outcome.value, report.findings, report.unknowns, report.notes) == (
        "clean", [], [], [])


def test_reconcile_an_account_in_another_organization_than_declared() -> None:
    from keyplane.estate.organizations import AccountEntry, OrganizationTree
    from keyplane.estate.ports import OrgAccount, Organization
    from keyplane.estate.reconcile import Declared, reconcile_aws

    org = Organization(id="o-abcdefghij", management_account_id="111111111111")
    tree = OrganizationTree(org, "111111111111",
                            accounts=[AccountEntry(OrgAccount("222222222222", "app", "ACTIVE"),
                                                   "Root")], units=1)
    decl = [Declared(environment="app", aws_account="222222222222",
                     organization_id="o-zzzzzzzzzz", aws_source="environments/app.yaml:4")]
    [finding] = reconcile_aws(tree, {}, decl, ["us-east-1"]).findings
    assert (finding.rule_id, finding.resource, finding.expected, finding.actual,
            finding.source) == ("estate.aws_account_not_in_organization", "222222222222",
                                "o-zzzzzzzzzz", "o-abcdefghij", "environments/app.yaml:4")
    assert finding.reason == ("environment app declares account 222222222222 in organization "
                              "o-zzzzzzzzzz, but it is a member of o-abcdefghij")
