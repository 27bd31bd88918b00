"""Building the readers a post-apply run uses, from the command line's options.

The CLI calls this (the composition root); the hooks receive the readers and never
see an SDK. Against a loopback endpoint without explicit credentials, the sandbox's
per-account credentials are used, so the sandbox answers as the environment's account.

An environment that names `aws.role_arn` is read (and drilled) as that role: the credentials
found are the source of an sts:AssumeRole (with `aws.external_id` and the session name
`aws.session_name`, default `keyplane-<env>`), renewed before they expire. A CI job whose
OIDC web identity already is that role (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE) uses it
as botocore's chain gives it, without assuming the role again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from keyplane.postapply.errors import HookSetupError
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.ports import AwsRegionReader, GcpProjectReader
from keyplane.sandbox.credentials import (
    SANDBOX_SECRET,
    is_loopback,
    sandbox_access_key,
)


@dataclass(frozen=True, kw_only=True)
class CloudOptions:
    """The cloud options every post-apply command shares."""

    regions: tuple[str, ...] = ()  # default: the home Region and the replica Regions
    profile: str | None = None
    endpoint_url: str | None = None
    gcp_endpoint: str | None = None
    gcp_project: str | None = None
    retry_mode: str = "standard"
    max_attempts: int = 5
    concurrency: int = 8
    gcp_retry_timeout: float = 30.0
    skip_aws: bool = False
    skip_gcp: bool = False


def aws_readers(state: ExpectedState, opts: CloudOptions) -> dict[str, AwsRegionReader]:
    """One reader per Region to scan (empty when the environment has no AWS section)."""
    clients = aws_clients(state, opts)
    if clients is None:
        return {}
    from keyplane.cloud.aws.reader import AwsReader

    regions = opts.regions or state.aws_regions
    return {r: AwsReader(clients, r) for r in regions}


def aws_clients(state: ExpectedState, opts: CloudOptions) -> Any:
    """The AwsClients of a run (None without an AWS section): one credential setup for all."""
    env = state.env
    if env.aws is None or opts.skip_aws:
        return None
    regions = opts.regions or state.aws_regions
    return build_aws_clients(account_id=env.aws.account_id, region=regions[0], opts=opts,
                             environment=env)


def environment_role(environment: Any, account_id: str, opts: CloudOptions) -> Any:
    """The AssumeRole of `environment`'s `aws.role_arn` when clients for its own account are
    built (None for another account, e.g. the drill account, or when no role is named, or
    when the CI's OIDC web identity already is that role)."""
    aws = getattr(environment, "aws", None)
    if aws is None or aws.role_arn is None or account_id != aws.account_id:
        return None
    if os.environ.get("AWS_ROLE_ARN") == aws.role_arn and os.environ.get(
            "AWS_WEB_IDENTITY_TOKEN_FILE") and not opts.profile \
            and not os.environ.get("AWS_ACCESS_KEY_ID"):
        return None  # botocore's chain already acts as this role (AssumeRoleWithWebIdentity)
    from keyplane.cloud.aws.session import AssumeRole

    return AssumeRole(role_arn=aws.role_arn, external_id=aws.external_id,
                      session_name=environment.aws_session_name())


def build_aws_clients(*, account_id: str, region: str, opts: CloudOptions,
                      environment: Any = None) -> Any:
    """AwsClients for one account; against a loopback endpoint without explicit credentials,
    the sandbox's credentials for `account_id`. With `environment`, clients for its account
    act as its `aws.role_arn`, assumed here: a refused AssumeRole is a setup error (exit 2)
    naming the role, before anything is read."""
    from keyplane.cloud.aws.session import AwsClients, AwsConfig

    creds: dict[str, str] = {}
    if is_loopback(opts.endpoint_url) and not opts.profile \
            and not os.environ.get("AWS_ACCESS_KEY_ID"):
        creds = {"access_key_id": sandbox_access_key(account_id),
                 "secret_access_key": SANDBOX_SECRET}
    role = environment_role(environment, account_id, opts)
    config = AwsConfig(region=region, profile=opts.profile, endpoint_url=opts.endpoint_url,
                       retry_mode=opts.retry_mode, max_attempts=opts.max_attempts,
                       max_pool_connections=max(10, opts.concurrency), assume_role=role,
                       **creds)
    clients = AwsClients(config)
    if role is not None:
        from keyplane.cloud.aws.reader import translate

        try:
            clients.resolve_credentials()
        except Exception as exc:
            err = translate(exc, "AssumeRole", region)
            if isinstance(err, HookSetupError):
                raise err from None
            raise HookSetupError(f"cannot assume aws.role_arn {role.role_arn} of environment "
                                 f"{environment.name}: {err}; nothing was read") from None
    return clients


def gcp_reader(state: ExpectedState, opts: CloudOptions) -> GcpProjectReader | None:
    """The Cloud KMS reader (None when the environment has no GCP section)."""
    env = state.env
    if env.gcp is None or opts.skip_gcp:
        return None
    from keyplane.cloud.gcp.client import GcpConfig, build_client
    from keyplane.cloud.gcp.reader import GcpReader

    project = opts.gcp_project or _adc_project(opts) or env.gcp.project_id
    config = GcpConfig(project=project, endpoint=opts.gcp_endpoint,
                       retry_timeout=opts.gcp_retry_timeout)
    return GcpReader(build_client(config), config)


_FIX = {"aws": "aws (set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
               "or run in CI with an OIDC role)",
        "gcp": "gcp (run `gcloud auth application-default login` or set "
               "GOOGLE_APPLICATION_CREDENTIALS, or run in CI with workload identity federation)"}


def require_credentials(env: Any, opts: CloudOptions) -> None:
    """Fail before any read when a cloud the run needs has no credentials at all, naming
    every such cloud and the fix (the sandbox and --cloud included); a local endpoint needs
    none. Looks only at where credentials would come from: nothing is called."""
    missing = []
    if env.aws is not None and not opts.skip_aws and not is_loopback(opts.endpoint_url) \
            and not opts.profile:
        from keyplane.cloud.credentials import aws_chain_has_credentials

        if not aws_chain_has_credentials():
            missing.append("aws")
    if env.gcp is not None and not opts.skip_gcp and not opts.gcp_endpoint:
        from keyplane.cloud.credentials import gcp_default_credentials

        if not gcp_default_credentials()[0]:
            missing.append("gcp")
    if missing:
        clouds = " and ".join(_FIX[c] for c in missing)
        hint = "; against the local sandbox add --sandbox"
        if env.aws is not None and env.gcp is not None:  # both clouds in this run
            other = {"aws": "gcp", "gcp": "aws"}
            hint += ("; to read one cloud only add --cloud " +
                     (other[missing[0]] if len(missing) == 1 else "aws|gcp"))
        raise HookSetupError(f"no credentials for {clouds}{hint}")


def _adc_project(opts: CloudOptions) -> str | None:
    """The project of Application Default Credentials (not consulted for a local endpoint)."""
    if opts.gcp_endpoint:
        return None
    from keyplane.cloud.credentials import gcp_default_credentials

    usable, project, why = gcp_default_credentials()
    if not usable:
        raise HookSetupError(f"cannot set up gcp credentials: {why}")
    return project
