"""`keyplane estate`: the accounts and projects that hold keys with no environment file, and the
environment files that point at accounts or projects that are gone.

The composition root of the estate scan: it loads every environment file, builds the AWS
Organizations and member-account adapters (the management or a delegated administrator
account's credentials; each member account through sts:AssumeRole into `--member-role`) and
the Resource Manager and Cloud KMS adapters, walks the organization and the folder tree
(`keyplane.estate.organizations`, `keyplane.estate.gcp_projects`), and judges the result
(`keyplane.estate.reconcile`). Read-only. Exit 0 clean, 1 findings, 2 bad input or setup,
3 incomplete (something could not be read: never reported as clean).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import click

from keyplane.commands.audit_wiring import audit_options, build_audit_log
from keyplane.estate.estate_errors import (
    EstateCommandError,
    EstateCredentialsError,
    GcpScopeError,
    NotInOrganizationError,
    OrganizationMismatchError,
)
from keyplane.model.loader import DEFAULT_DIR
from keyplane.output import deliver, set_format

DEFAULT_MEMBER_ROLE = "OrganizationAccountAccessRole"
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_ROLE_NAME = re.compile(r"^([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}$")
_GCP_ID = re.compile(r"^[0-9]{1,32}$")


def _scope(folder: str | None, organization: str | None) -> str | None:
    """`folders/<id>` or `organizations/<id>` from the options (None when neither is given)."""
    if folder and organization:
        raise EstateCommandError(f"--gcp-folder and --gcp-organization each name the scope; "
                                 f"give one, got --gcp-folder {folder} and --gcp-organization "
                                 f"{organization}")
    for value, kind, option in ((folder, "folders", "--gcp-folder"),
                                (organization, "organizations", "--gcp-organization")):
        if value:
            ident = value.removeprefix(f"{kind}/")
            if not _GCP_ID.match(ident):
                raise GcpScopeError(f"{option} must be a numeric id or {kind}/<id>, got "
                                    f"{value!r}")
            return f"{kind}/{ident}"
    return None


def _locator() -> Any:
    """(file, path) -> `file:line` of that path in an environment file."""
    from keyplane.model.source import SourceDoc, parse_yaml

    docs: dict[str, SourceDoc | None] = {}

    def locate(file: str | None, path: tuple[str, ...]) -> str | None:
        if not file:
            return None
        if file not in docs:
            docs[file] = parse_yaml(Path(file))[0]
        doc = docs[file]
        line = doc.where(path)[0] if doc is not None else None
        return f"{file}:{line}" if line is not None else file
    return locate


def _load(environments_dir: Path) -> list[Any]:
    from keyplane.model.loader import environment_files, load_estate

    if not environments_dir.is_dir():
        raise EstateCommandError(f"no environments directory {environments_dir} (give -d DIR)")
    files = environment_files(environments_dir)
    return list(load_estate(files).environments) if files else []


def _aws_setup(*, environments: list[Any], organization_id: str | None,
               management_account_id: str | None, member_role: str,
               regions: tuple[str, ...], profile: str | None, endpoint_url: str | None,
               retry_mode: str, max_attempts: int, concurrency: int) -> dict[str, Any]:
    """Everything the AWS scan needs, checked before any call: clients, Regions, the org."""
    import os

    from keyplane.commands.cloud_wiring import CloudOptions, build_aws_clients
    from keyplane.estate.reconcile import aws_regions, organization_ids
    from keyplane.sandbox.credentials import is_loopback

    if organization_id is not None and not _ORG_ID.match(organization_id):
        raise EstateCommandError(f"--organization-id must match {_ORG_ID.pattern}, got "
                                 f"{organization_id!r}")
    if management_account_id is not None and not _ACCOUNT_ID.match(management_account_id):
        raise EstateCommandError(f"--management-account-id must be 12 digits, got "
                                 f"{management_account_id!r}")
    if not _ROLE_NAME.match(member_role):
        raise EstateCommandError(f"--member-role must be an iam role name (1-64 letters, digits "
                                 f"or _+=,.@-, optionally after a path), got {member_role!r}")
    declared_orgs = organization_ids(environments)
    expected = organization_id
    if expected is None and len(declared_orgs) > 1:
        raise EstateCommandError(f"the environment files declare {len(declared_orgs)} "
                                 f"organizations ({', '.join(declared_orgs)}); name the one "
                                 "these credentials read with --organization-id")
    if expected is None and declared_orgs:
        expected = declared_orgs[0]
    scan_regions = regions or aws_regions(environments)
    if not scan_regions:
        raise EstateCommandError("no aws region to read keys in: no environment file has an "
                                 "aws section; give --region (repeatable)")
    local = is_loopback(endpoint_url)
    if local and not profile and not os.environ.get("AWS_ACCESS_KEY_ID") \
            and management_account_id is None:
        raise EstateCommandError("against a local endpoint without credentials, give "
                                 "--management-account-id (the sandbox answers as that account)")
    if not local and not profile:
        from keyplane.cloud.credentials import aws_chain_has_credentials

        if not aws_chain_has_credentials():
            raise EstateCredentialsError(
                "no credentials for aws (set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, or run in CI with an OIDC role of the management or a "
                "delegated administrator account)")
    clients = build_aws_clients(
        account_id=management_account_id or "", region=scan_regions[0],
        opts=CloudOptions(profile=profile, endpoint_url=endpoint_url, retry_mode=retry_mode,
                          max_attempts=max_attempts, concurrency=concurrency))
    return {"clients": clients, "regions": scan_regions, "expected": expected,
            "management_account_id": management_account_id, "member_role": member_role}


def _aws_scan(setup: dict[str, Any], decl: list[Any], concurrency: int) -> Any:
    """Walk the organization, scan the undeclared accounts' keys, judge."""
    from keyplane.cloud.aws.organizations import (
        AwsOrganizationReader,
        member_opener,
        partition_of,
    )
    from keyplane.cloudcall import CloudCallError, CredentialsExpired
    from keyplane.estate.organizations import Unread, read_organization, scan_accounts, why
    from keyplane.estate.reconcile import EstateReport, accounts_to_scan, reconcile_aws

    reader = AwsOrganizationReader(setup["clients"])
    try:
        caller = reader.caller_account()
        org = reader.describe_organization()
    except CredentialsExpired as exc:
        raise EstateCredentialsError(f"aws credentials are expired ({exc.code}); nothing was "
                                     "read") from None
    except CloudCallError as exc:
        if exc.code == "AWSOrganizationsNotInUseException":
            raise NotInOrganizationError("the credentials' aws account is not a member of an "
                                         "organization; run with the management account's or "
                                         "a delegated administrator's credentials") from None
        return EstateReport(unknowns=[Unread("aws organization", why(exc))])
    mgmt = setup["management_account_id"]
    if mgmt is not None and caller != mgmt:
        raise OrganizationMismatchError(f"aws credentials act in account {caller}, not "
                                        f"--management-account-id {mgmt}; nothing was read")
    if setup["expected"] is not None and org.id != setup["expected"]:
        raise OrganizationMismatchError(
            f"aws credentials reach organization {org.id}; the environment files (or "
            f"--organization-id) name {setup['expected']}; nothing was compared")
    tree = read_organization(reader, organization=org, caller_account=caller,
                             concurrency=concurrency)
    opener = member_opener(setup["clients"], role_name=setup["member_role"],
                           partition=partition_of(org.arn), caller_account=caller)
    scans = scan_accounts(opener, accounts_to_scan(tree, decl), setup["regions"],
                          concurrency=concurrency)
    return reconcile_aws(tree, scans, decl, setup["regions"])


def _gcp_setup(*, environments: list[Any], scope: str, locations: tuple[str, ...],
               gcp_endpoint: str | None, resource_manager_endpoint: str | None
               ) -> dict[str, Any]:
    """Everything the GCP scan needs, checked before any call."""
    from keyplane.cloud.gcp.client import GcpConfig, build_client
    from keyplane.cloud.gcp.resourcemanager import GcpResourceReader, build_clients
    from keyplane.estate.reconcile import gcp_locations

    scan_locations = locations or gcp_locations(environments)
    if not scan_locations:
        raise EstateCommandError("no cloud kms location to read keys in: no environment file "
                                 "has a gcp section; give --gcp-location (repeatable)")
    rm_endpoint = resource_manager_endpoint or gcp_endpoint
    if not (rm_endpoint and gcp_endpoint):
        from keyplane.cloud.credentials import gcp_default_credentials

        usable, _, reason = gcp_default_credentials()
        if not usable:
            raise EstateCredentialsError(
                "no credentials for gcp (run `gcloud auth application-default login` or set "
                "GOOGLE_APPLICATION_CREDENTIALS, or run in CI with workload identity "
                f"federation): {reason}")
    folders, projects = build_clients(rm_endpoint)
    reader = GcpResourceReader(folders, projects, GcpConfig(project=scope, endpoint=rm_endpoint))
    kms = build_client(GcpConfig(project=scope, endpoint=gcp_endpoint))
    return {"reader": reader, "kms": kms, "locations": scan_locations, "scope": scope,
            "endpoint": gcp_endpoint}


def _gcp_scan(setup: dict[str, Any], decl: list[Any], concurrency: int) -> Any:
    """Walk the folder tree, scan the undeclared projects' keys, look up the missing, judge."""
    from keyplane.cloud.gcp.client import GcpConfig
    from keyplane.cloud.gcp.reader import GcpReader
    from keyplane.estate.gcp_projects import look_up_projects, read_folder_tree, scan_projects
    from keyplane.estate.reconcile import projects_to_look_up, projects_to_scan, reconcile_gcp

    kms, endpoint = setup["kms"], setup["endpoint"]

    def opener(project_id: str) -> Any:
        return GcpReader(kms, GcpConfig(project=project_id, endpoint=endpoint))

    tree = read_folder_tree(setup["reader"], setup["scope"], concurrency=concurrency)
    scans = scan_projects(opener, projects_to_scan(tree, decl), setup["locations"],
                          concurrency=concurrency)
    lookups = look_up_projects(setup["reader"], projects_to_look_up(tree, decl),
                               concurrency=concurrency)
    return reconcile_gcp(tree, scans, lookups, decl, setup["locations"])


@click.command("estate")
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True, help="Where the inventory is.")
@click.option("--aws", "--org", "scan_aws", is_flag=True,
              help="Read the AWS Organization the credentials reach (the management or a "
                   "delegated administrator account).")
@click.option("--organization-id", help="The organization to read (default: the one the "
                                        "environment files declare; checked).")
@click.option("--management-account-id",
              help="The account the aws credentials act in (checked; against a local endpoint "
                   "without credentials, the sandbox answers as it).")
@click.option("--member-role", default=DEFAULT_MEMBER_ROLE, show_default=True,
              help="The role assumed in each member account to read its KMS keys.")
@click.option("--region", "regions", multiple=True,
              help="AWS Region to read keys in (repeatable; default: every Region the "
                   "environment files use).")
@click.option("--profile", help="AWS named profile (default: the credential chain).")
@click.option("--endpoint-url", help="AWS endpoint (a private endpoint or the sandbox).")
@click.option("--gcp-folder", help="Read the projects under this folder (id or folders/<id>).")
@click.option("--gcp-organization",
              help="Read the projects of this organization (id or organizations/<id>).")
@click.option("--gcp-location", "gcp_locations", multiple=True,
              help="Cloud KMS location to read key rings in (repeatable; default: every "
                   "location the environment files use).")
@click.option("--gcp-endpoint", help="host:port of the Google APIs (Cloud KMS, Logging, Monitoring, "
                                     "Resource Manager, CA Service), plaintext: the sandbox.")
@click.option("--gcp-resource-manager-endpoint",
              help="Resource Manager host:port (plaintext; default: --gcp-endpoint).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to this file (atomically) instead of stdout.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Accounts, projects or units read in parallel.")
@click.option("--max-attempts", type=click.IntRange(1, 20), default=5, show_default=True,
              help="Attempts per AWS call, retries included.")
@click.option("--retry-mode", type=click.Choice(["standard", "adaptive"]), default="standard",
              show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@audit_options
def estate(environments_dir: Path, scan_aws: bool, organization_id: str | None,
           management_account_id: str | None, member_role: str, regions: tuple[str, ...],
           profile: str | None, endpoint_url: str | None, gcp_folder: str | None,
           gcp_organization: str | None, gcp_locations: tuple[str, ...],
           gcp_endpoint: str | None, gcp_resource_manager_endpoint: str | None, fmt: str,
           output: Path | None, concurrency: int, max_attempts: int, retry_mode: str,
           quiet: bool, audit_log: Path, audit_cloudwatch_log_group: str | None,
           audit_cloud_logging_log: str | None) -> None:
    """List the accounts and projects that hold keys but have no environment file, and the
    environment files whose account or project is closed, deleted or gone.

    Read-only. Exit 0 clean, 1 findings, 2 bad input or setup, 3 incomplete (something
    could not be read: never reported as clean).
    """
    set_format(fmt)
    from keyplane.estate.reconcile import EstateReport, declared
    from keyplane.estate.render import render

    scope = _scope(gcp_folder, gcp_organization)
    if not scan_aws and scope is None:
        raise EstateCommandError("nothing to read: give --aws (an AWS Organization) and/or "
                                 "--gcp-folder or --gcp-organization")
    environments = _load(environments_dir)
    decl = declared(environments, _locator())
    aws = _aws_setup(environments=environments, organization_id=organization_id,
                     management_account_id=management_account_id, member_role=member_role,
                     regions=regions, profile=profile, endpoint_url=endpoint_url,
                     retry_mode=retry_mode, max_attempts=max_attempts,
                     concurrency=concurrency) if scan_aws else None
    gcp = _gcp_setup(environments=environments, scope=scope, locations=gcp_locations,
                     gcp_endpoint=gcp_endpoint,
                     resource_manager_endpoint=gcp_resource_manager_endpoint) \
        if scope is not None else None
    audit = build_audit_log(command="estate", audit_log=audit_log,
                            audit_cloudwatch_log_group=audit_cloudwatch_log_group,
                            audit_cloud_logging_log=audit_cloud_logging_log,
                            logs_client=(lambda: aws["clients"].client("logs"))
                            if aws is not None else None, gcp_endpoint=gcp_endpoint)
    audit.ensure_writable()  # before anything is read: an unrecorded run does not happen
    audit.emit(action="estate", outcome="started",
               details={"aws": aws is not None, "gcp": scope})
    started = time.monotonic()
    report = EstateReport()
    if aws is not None:
        if not quiet:
            click.echo(f"keyplane: estate: reading the aws organization "
                       f"({', '.join(aws['regions'])})", err=True)
        report = report.merge(_aws_scan(aws, decl, concurrency))
    if gcp is not None:
        if not quiet:
            click.echo(f"keyplane: estate: reading gcp {scope} "
                       f"({', '.join(gcp['locations'])})", err=True)
        report = report.merge(_gcp_scan(gcp, decl, concurrency))
    report.sort()
    for f in report.findings:
        audit.emit(action=f.rule_id, outcome="finding", environment=f.environment,
                   resource=f.resource, reason=f.reason,
                   details={"severity": f.severity.value, "cloud": f.cloud.value
                            if f.cloud else None})
    for u in report.unknowns:
        audit.emit(action="estate", outcome="unknown", resource=u.resource, reason=u.reason)
    outcome = {"clean": "ok", "findings": "finding"}.get(report.outcome.value, "unknown")
    audit.emit(action="estate", outcome=outcome,
               reason=f"{report.outcome.value}: {len(report.open_findings)} finding(s), "
                      f"{len(report.unknowns)} unknown",
               duration_ms=int((time.monotonic() - started) * 1000))
    deliver(render(report, fmt), output)
    if not quiet:
        click.echo(f"keyplane: estate: {report.outcome.value} in "
                   f"{time.monotonic() - started:.1f} s", err=True)
    sys.exit(report.outcome.exit_code)
