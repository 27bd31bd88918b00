"""Building boto3 clients for keyplane: explicit retries, timeouts, endpoint and credentials.

No module-level session or client: the command builds an `AwsClients` for its run
and passes it in. Clients are created up front (boto3 clients are thread-safe,
sessions are not) with a connection pool as large as the run's concurrency.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from keyplane.postapply.errors import HookSetupError

RETRY_MODES = ("standard", "adaptive")


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


class AwsClients:
    """The boto3 session of one run and the clients it made, per service and Region."""

    def __init__(self, config: AwsConfig) -> None:
        self.config = config
        try:
            self._session = boto3.Session(
                profile_name=config.profile, region_name=config.region,
                aws_access_key_id=config.access_key_id,
                aws_secret_access_key=config.secret_access_key,
                aws_session_token=config.session_token)
        except Exception as exc:  # ProfileNotFound and friends
            raise HookSetupError(f"cannot set up aws credentials: {exc}") from None
        self._botocore_config = config.botocore_config()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()  # a boto3 session is not thread-safe; its clients are

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
