"""`keyplane certs ENV`: the certificates of ENV's keys, matched to key generations and judged.

The composition root of the certificate inventory: it loads the environment, reads every
certificate declared as a file first (a path outside the repository, a missing file or
one that is no certificate is bad input, exit 2, before any cloud call), builds the AWS
and Cloud KMS adapters the environment needs, finds the ACM and ACM Private CA
certificates, reads each generation's public key, and judges every certificate
(`keyplane.certs.rules`). Exit 0 clean, 1 findings, 2 bad input, 3 incomplete (something
could not be read: ACM denied, a public key unknown, a source not read yet).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import click

from keyplane.commands.post_apply import cloud_options
from keyplane.model.loader import load_targets
from keyplane.output import deliver, set_format

FORMATS = ("text", "json", "markdown", "sarif")


def _at(value: dt.datetime | None) -> dt.datetime:
    """`--at` as an aware UTC time (a date alone is its midnight, UTC); default: now."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _with_at(fn: Any) -> Any:
    """`--at DATE`."""
    return click.option("--at", "at_value",
                        type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
                        help="Judge as of this date (UTC; default: now), e.g. to see which "
                             "certificates a planned rotation leaves behind.")(fn)


def certs_command(env: str, environments_dir: Path, fmt: str, output: Path | None,
                  regions: tuple[str, ...], profile: str | None, endpoint_url: str | None,
                  gcp_endpoint: str | None, gcp_project: str | None, use_sandbox: bool,
                  sandbox_state_file: Path | None, max_attempts: int, retry_mode: str,
                  quiet: bool, audit_log: Path, audit_cloudwatch_log_group: str | None,
                  audit_cloud_logging_log: str | None, at_value: dt.datetime | None) -> None:
    """Find ENV's certificates, match each to a key generation, and judge them.

    Certificates come from what each key declares under `certificates`: ACM (by ARN or
    tags), ACM Private CA (its own certificate and the issued certificates named by ARN),
    and PEM/DER files in the repository. Each is matched to a generation by the SHA-256 of
    its SubjectPublicKeyInfo. Findings: a certificate whose key is not in the inventory, one
    still backed by a generation past its overlap window, one valid beyond its generation's
    maximum age or verify_until, one near expiry with no generation ready to renew onto,
    and a ca certificate whose key is not in an HSM. Exit 0 clean, 1 findings, 2 bad input,
    3 incomplete.
    """
    set_format("json" if fmt == "json" else "text")
    at = _at(at_value)
    started_at = dt.datetime.now(dt.UTC)
    from keyplane.certs.sources import collect_files
    from keyplane.commands.audit_wiring import build_audit_log
    from keyplane.commands.cloud_wiring import CloudOptions, build_aws_clients, require_credentials
    from keyplane.commands.post_apply import _emit_report, sandbox_endpoints
    from keyplane.model.certificates import has_public_key
    from keyplane.model.specs import Cloud

    environment = load_targets([env], environments_dir).environments[0]
    files = collect_files(environment)  # the repository's part: bad input stops here (exit 2)

    def declares(cloud: Cloud) -> bool:
        return any(k.cloud is cloud and has_public_key(k) for k in environment.keys)

    needs_aws = environment.aws is not None and (declares(Cloud.AWS) or any(
        k.certificates and (k.certificates.acm or k.certificates.acm_pca)
        for k in environment.keys))
    needs_gcp = environment.gcp is not None and (declares(Cloud.GCP) or _declares_cas(environment))
    if use_sandbox:
        sb_aws, sb_gcp = sandbox_endpoints(sandbox_state_file)
        endpoint_url = endpoint_url or sb_aws
        gcp_endpoint = gcp_endpoint or sb_gcp
    opts = CloudOptions(regions=regions, profile=profile, endpoint_url=endpoint_url,
                        gcp_endpoint=gcp_endpoint, gcp_project=gcp_project,
                        retry_mode=retry_mode, max_attempts=max_attempts,
                        skip_aws=not needs_aws, skip_gcp=not needs_gcp)
    require_credentials(environment, opts)
    aws: Any = None
    if needs_aws and environment.aws is not None:
        aws = build_aws_clients(account_id=environment.aws.account_id,
                                region=environment.aws.region, opts=opts,
                                environment=environment)
        _check_account(aws, environment)
    home = environment.aws.region if environment.aws is not None else None
    audit = build_audit_log(command="certs", audit_log=audit_log,
                            audit_cloudwatch_log_group=audit_cloudwatch_log_group,
                            audit_cloud_logging_log=audit_cloud_logging_log,
                            logs_client=(lambda: aws.client("logs", home))
                            if aws is not None else None, gcp_endpoint=gcp_endpoint)
    audit.ensure_writable()
    audit.emit(action="certs", outcome="started", environment=environment.name,
               details={"at": at.isoformat(), "files": len(files)})
    if not quiet:
        clouds = " and ".join(c for c, on in (("aws", aws is not None), ("gcp", needs_gcp)) if on)
        click.echo(f"keyplane: certs {environment.name}: {len(files)} certificate file(s); "
                   f"reading {clouds or 'no cloud'}", err=True)
    clock = time.monotonic()
    report = judge_certificates(environment, files, aws=aws, opts=opts if needs_gcp else None,
                                regions=regions, at=at, started_at=started_at)
    _emit_report(audit, report, int((time.monotonic() - clock) * 1000))
    deliver(render(report, fmt), output)
    sys.exit(report.outcome.exit_code)


def judge_certificates(environment: Any, files: list[Any], *, aws: Any, opts: Any,
                       regions: tuple[str, ...] = (), at: dt.datetime,
                       started_at: dt.datetime) -> Any:
    """Read ENV's cloud certificates and every generation's public key, and judge them with
    the certificate `files` already read; the CertsReport (post-apply can fold its findings
    and unknowns into its own report). `aws`: the run's AwsClients (None: AWS not read);
    `opts`: its CloudOptions when Cloud KMS is read (None: not)."""
    from keyplane.certs.keys import build_index
    from keyplane.certs.report import judge
    from keyplane.certs.sources import collect_cloud
    from keyplane.model.specs import Cloud

    ports: dict[Cloud, Any] = {Cloud.AWS: None, Cloud.GCP: None}
    store = cas = None
    if aws is not None and environment.aws is not None:
        from keyplane.cloud.aws.certs_source import AwsCertificateStore, AwsCertKeys

        ports[Cloud.AWS] = AwsCertKeys(aws, environment.aws.region)
        store = AwsCertificateStore(aws)
    if opts is not None and environment.gcp is not None:
        ports[Cloud.GCP] = _gcp_keys(environment, opts)
        cas = _gcp_cas(environment, opts)
    collected = collect_cloud(environment, store, regions=regions, cas=cas, at=at)
    index = build_index(environment, ports, history=lambda: _history(environment, aws))
    return judge(environment, [*files, *collected.certificates], collected, index, at=at,
                 started_at=started_at)


def render(report: Any, fmt: str) -> str:
    """The CertsReport in `fmt`: text, json, markdown or sarif (post-apply's SARIF)."""
    from keyplane.certs.report import render_markdown, render_text

    if fmt == "json":
        from keyplane.output import to_json

        return to_json(report.to_dict())
    if fmt == "markdown":
        return str(render_markdown(report))
    if fmt == "sarif":
        from keyplane.reporters.sarif import render_post_apply

        return render_post_apply(report)
    return str(render_text(report))


def _check_account(aws: Any, environment: Any) -> None:
    """The credentials must act in the environment's account before anything is read."""
    from keyplane.cloud.aws.drills import caller_arn
    from keyplane.cloudcall import CloudCallError
    from keyplane.postapply.errors import ACCOUNT_MISMATCH, HookSetupError

    try:
        account = caller_arn(aws).split(":")[4]
    except CloudCallError as exc:
        raise HookSetupError(f"cannot confirm the aws account ({exc.describe()}); nothing was "
                             "read", code=ACCOUNT_MISMATCH) from None
    if account != environment.aws.account_id:
        raise HookSetupError(f"aws credentials act in account {account}; environment "
                             f"{environment.name} declares {environment.aws.account_id}; "
                             "nothing was read", code=ACCOUNT_MISMATCH)


def _gcp_keys(environment: Any, opts: Any) -> Any:
    """The Cloud KMS adapter, with each declared key's crypto key from the desired state."""
    from keyplane.cloud.gcp.certs_keys import GcpCertKeys
    from keyplane.cloud.gcp.client import GcpConfig, build_client
    from keyplane.desired.gcp import plan_environment

    config = GcpConfig(project=opts.gcp_project or environment.gcp.project_id,
                       endpoint=opts.gcp_endpoint)
    plan = plan_environment(environment)
    crypto_keys = {k.name: k.resource_name(plan.project) for k in plan.keys}
    return GcpCertKeys(build_client(config), config, crypto_keys)


def _declares_cas(environment: Any) -> bool:
    """Whether any key declares a Google CA Service pool (`certificates.gcp_cas`)."""
    return any(k.certificates is not None and k.certificates.gcp_cas for k in environment.keys)


def _gcp_cas(environment: Any, opts: Any) -> Any:
    """The CA Service adapter when a key declares a pool (None: none does)."""
    if not _declares_cas(environment):
        return None
    from keyplane.cloud.gcp.cas_source import GcpCaPoolStore, build_cas_client
    from keyplane.cloud.gcp.client import GcpConfig

    config = GcpConfig(project=opts.gcp_project or environment.gcp.project_id,
                       endpoint=opts.gcp_endpoint)
    return GcpCaPoolStore(build_cas_client(config), config)


def _history(environment: Any, aws: Any) -> list[Any]:
    """The drill evidence (for public keys recorded by sign canaries)."""
    from keyplane.commands.drill import _evidence

    store, _, _ = _evidence(environment, aws)
    return list(store.history(environment.name))


certs = click.command("certs")(_with_at(cloud_options(certs_command, FORMATS)))
