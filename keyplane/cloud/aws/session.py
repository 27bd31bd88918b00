"""Building boto3 clients for keyplane: explicit retries, timeouts, endpoint and credentials.

No module-level session or client: the command builds an `AwsClients` for its run
and passes it in. Clients are created up front (boto3 clients are thread-safe,
sessions are not) with a connection pool as large as the run's concurrency.

When the run names a role (`AssumeRole`), the credentials the standard chain finds (a
profile, environment variables, or a CI's OIDC web identity, which botocore itself turns
into a role session from AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE) are only the source:
every client acts as the role, through sts:AssumeRole with botocore's refreshable
credentials, renewed 15 minutes before they expire, so a run longer than a session's
lifetime never meets expired credentials.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    Credentials,
    DeferredRefreshableCredentials,
)

from keyplane.postapply.errors import HookSetupError

RETRY_MODES = ("standard", "adaptive")
# sts:AssumeRole DurationSeconds: 900 up to the role's maximum (at most 43200); a role
# assumed with role-chained credentials (e.g. from a CI's OIDC role) gets at most 3600
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
SESSION_DURATION_MIN, SESSION_DURATION_MAX = 900, 43200
DEFAULT_SESSION_DURATION = 3600
_SESSION_NAME = re.compile(r"^[A-Za-z0-9_+=,.@-]{2,64}$")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, kw_only=True)
class AssumeRole:
    """The role every client of a run acts as.

    role_arn: the IAM role to assume (in the account the run reads or drills).
    session_name: RoleSessionName, what CloudTrail shows (default: `keyplane`).
    external_id: the ExternalId the role's trust policy requires (default: none).
    duration_in_seconds: lifetime of each set of role credentials (default 3600, the most
      role chaining allows); botocore renews them before they expire.
    """

    role_arn: str
    session_name: str = "keyplane"
    external_id: str | None = None
    duration_in_seconds: int = DEFAULT_SESSION_DURATION

    def __post_init__(self) -> None:
        if not SESSION_DURATION_MIN <= self.duration_in_seconds <= SESSION_DURATION_MAX:
            raise HookSetupError(f"role session duration must be between {SESSION_DURATION_MIN} "
                                 f"and {SESSION_DURATION_MAX} seconds, got "
                                 f"{self.duration_in_seconds}")
        if not _SESSION_NAME.match(self.session_name):
            raise HookSetupError(f"role session name must be 2-64 letters, digits or _+=,.@-, "
                                 f"got {self.session_name!r}")

    def request(self) -> dict[str, Any]:
        """The sts:AssumeRole arguments besides the role ARN."""
        args: dict[str, Any] = {"RoleSessionName": self.session_name,
                                "DurationSeconds": self.duration_in_seconds}
        if self.external_id is not None:
            args["ExternalId"] = self.external_id
        return args


class _Assumed(CredentialProvider):  # type: ignore[misc]
    """A credential provider that hands out the role's refreshable credentials."""

    METHOD = "keyplane-assume-role"
    CANONICAL_NAME = "keyplane-assume-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        """The role's credentials (fetched on first use, then renewed as they near expiry)."""
        return self._credentials


@dataclass(frozen=True, kw_only=True)
class AwsConfig:
    """How to reach AWS.

    region: the environment's home Region (default: the inventory's).
    profile: a named profile (default: the standard credential chain).
    endpoint_url: a private endpoint or the local sandbox (default: AWS's public endpoints).
    retry_mode: `standard` (default) or `adaptive` (client-side rate limiting).
    max_attempts: total attempts per call, the first included (default 5).
    connect_timeout / read_timeout: seconds (default 5 / 20).
    max_pool_connections: HTTP connections per client (default 10; set to the concurrency).
    access_key_id / secret_access_key / session_token: explicit credentials (the sandbox's).
    assume_role: a role every client acts as, assumed with the credentials above or the
      chain's (default: none, the credentials' own identity).
    """

    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    retry_mode: str = "standard"
    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_pool_connections: int = 10
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    assume_role: AssumeRole | None = None

    def __post_init__(self) -> None:
        if self.retry_mode not in RETRY_MODES:
            raise HookSetupError(f"retry_mode must be one of {', '.join(RETRY_MODES)}, "
                                 f"got {self.retry_mode}")
        if not 1 <= self.max_attempts <= 20:
            raise HookSetupError(f"max_attempts must be between 1 and 20, got {self.max_attempts}")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise HookSetupError("access_key_id and secret_access_key go together, got only one")

    def botocore_config(self) -> Config:
        """The botocore Config every client of the run shares."""
        return Config(retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
                      connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
                      max_pool_connections=self.max_pool_connections)


_LOADER_LOCK = threading.Lock()
_LOADER: list[Any] = []  # the process's one botocore Loader, once a session made it


def _botocore_session() -> botocore.session.Session:
    """A botocore session whose Loader (botocore's cache of the JSON service models and
    endpoints it parses) is shared with every session of the process: a run over many
    accounts builds one session per account, and each would otherwise parse the same models
    again (about 0.4 s of CPU per account). The models are read-only data."""
    core = botocore.session.Session()
    with _LOADER_LOCK:
        if _LOADER:
            core.register_component("data_loader", _LOADER[0])
        else:
            _LOADER.append(core.get_component("data_loader"))
    return core


class _NoCache(dict[str, Any]):
    """The assume-role fetcher's cache, disabled: the refreshable credentials hold the role's
    credentials and ask for new ones only when they near expiry (by the run's clock)."""

    def __setitem__(self, key: str, value: Any) -> None:
        """Keep nothing."""


class AwsClients:
    """The boto3 session of one run and the clients it made, per service and Region.

    clock: what "now" is for the role credentials' expiry (default: the system's UTC time;
    tests pass one to see a long run renew them).
    """

    def __init__(self, config: AwsConfig, *,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.config = config
        self._clock = clock
        self._botocore_config = config.botocore_config()
        try:
            source = boto3.Session(
                botocore_session=_botocore_session(),
                profile_name=config.profile, region_name=config.region,
                aws_access_key_id=config.access_key_id,
                aws_secret_access_key=config.secret_access_key,
                aws_session_token=config.session_token)
        except Exception as exc:  # ProfileNotFound and friends
            raise HookSetupError(f"cannot set up aws credentials: {exc}") from None
        self._session = source if config.assume_role is None else \
            self._assumed_session(source, config.assume_role)
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()  # a boto3 session is not thread-safe; its clients are

    def _assumed_session(self, source: boto3.Session, role: AssumeRole) -> boto3.Session:
        """A session whose credentials are `role`'s, assumed with `source`'s and renewed by
        botocore (DeferredRefreshableCredentials: nothing is called until the first request)."""
        source_credentials = source.get_credentials()
        if source_credentials is None:
            raise HookSetupError(f"no aws credentials to assume {role.role_arn} with (set "
                                 "AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID/"
                                 "AWS_SECRET_ACCESS_KEY, or run in CI with an OIDC role)")
        sts_lock = threading.Lock()

        def sts_client(service: str, **credentials: Any) -> Any:
            # the STS client of each renewal: the run's endpoint, Region and retries
            with sts_lock:
                return source.client(service, region_name=self.config.region,
                                     endpoint_url=self.config.endpoint_url,
                                     config=self._botocore_config, **credentials)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=sts_client, source_credentials=source_credentials,
            role_arn=role.role_arn, extra_args=role.request(), cache=_NoCache())
        credentials = DeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method=_Assumed.METHOD,
            time_fetcher=self._clock or _utc_now)
        core = _botocore_session()
        core.register_component("credential_provider", CredentialResolver([_Assumed(credentials)]))
        return boto3.Session(botocore_session=core, region_name=self.config.region)

    def assume(self, role: AssumeRole) -> AwsClients:
        """Clients of this run's configuration acting as `role` (e.g. a member account's
        role, assumed from the management account's credentials)."""
        return AwsClients(replace(self.config, assume_role=role), clock=self._clock)

    def resolve_credentials(self) -> None:
        """Assume the run's role now (nothing to do without one), so a refused sts:AssumeRole
        is raised as itself, before any read, not inside the first read's error."""
        if self.config.assume_role is not None:
            credentials = self._session.get_credentials()
            if credentials is not None:
                credentials.get_frozen_credentials()

    def client(self, service: str, region: str | None = None) -> Any:
        """The client for `service` in `region` (created once, then reused)."""
        region = region or self.config.region
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service, region_name=region, endpoint_url=self.config.endpoint_url,
                    config=self._botocore_config)
            return self._clients[key]
