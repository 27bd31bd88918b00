"""Building the Cloud KMS client: explicit Retry and timeouts, optional local endpoint.

A private or local endpoint is reached through a channel injected into the gRPC
transport. `client_options.api_endpoint` would force TLS, which a local fake
does not speak. No module-level client: the command builds one and passes it in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud import kms_v1
from google.cloud.kms_v1.services.key_management_service.transports.grpc import (
    KeyManagementServiceGrpcTransport,
)

from keyplane.postapply.errors import HookSetupError

RETRYABLE = (gexc.ResourceExhausted, gexc.ServiceUnavailable, gexc.DeadlineExceeded,
             gexc.InternalServerError)


@dataclass(frozen=True, kw_only=True)
class GcpConfig:
    """How to reach Cloud KMS.

    project: the project the credentials act in (default: the environment's, checked).
    endpoint: `host:port` of a plaintext local endpoint (the sandbox; default: Google's).
    retry_initial / retry_maximum / retry_multiplier: backoff seconds (default 0.5 / 8 / 2).
    retry_timeout: total seconds a call may spend retrying (default 30).
    call_timeout: seconds per attempt (default 20).
    """

    project: str
    endpoint: str | None = None
    retry_initial: float = 0.5
    retry_maximum: float = 8.0
    retry_multiplier: float = 2.0
    retry_timeout: float = 30.0
    call_timeout: float = 20.0

    def __post_init__(self) -> None:
        if self.retry_timeout <= 0 or self.call_timeout <= 0:
            raise HookSetupError(f"gcp timeouts must be positive, got retry_timeout="
                                 f"{self.retry_timeout} call_timeout={self.call_timeout}")

    def retry(self) -> Retry:
        """The Retry every call of the run uses: transient errors only, bounded in time."""
        return Retry(predicate=if_exception_type(*RETRYABLE), initial=self.retry_initial,
                     maximum=self.retry_maximum, multiplier=self.retry_multiplier,
                     timeout=self.retry_timeout)


def build_client(config: GcpConfig) -> Any:
    """A KeyManagementServiceClient for `config` (a local channel when an endpoint is given)."""
    if config.endpoint:
        channel = grpc.insecure_channel(config.endpoint)
        transport = KeyManagementServiceGrpcTransport(channel=channel)
        return kms_v1.KeyManagementServiceClient(transport=transport)
    try:
        return kms_v1.KeyManagementServiceClient()
    except Exception as exc:  # DefaultCredentialsError and friends
        raise HookSetupError(f"cannot set up gcp credentials: {exc}") from None
