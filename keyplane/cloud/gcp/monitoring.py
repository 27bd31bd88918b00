"""Building the Cloud Logging metrics and Cloud Monitoring alert-policy clients.

Like the Cloud KMS client (`keyplane.cloud.gcp.client`): a private or local endpoint is
reached through a plaintext channel injected into the gRPC transport, since
`client_options.api_endpoint` would force TLS, which a local fake does not speak. The
modules are imported here, on first use, so a run that reads no alert policy does not pay
for importing google-cloud-logging.
"""

from __future__ import annotations

from typing import Any

import grpc

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.postapply.errors import HookSetupError


def build_metrics_client(config: GcpConfig) -> Any:
    """A Cloud Logging MetricsServiceV2Client for `config` (a local channel when an endpoint
    is given)."""
    from google.cloud.logging_v2.services.metrics_service_v2 import MetricsServiceV2Client
    from google.cloud.logging_v2.services.metrics_service_v2.transports.grpc import (
        MetricsServiceV2GrpcTransport,
    )

    if config.endpoint:
        channel = grpc.insecure_channel(config.endpoint)
        return MetricsServiceV2Client(transport=MetricsServiceV2GrpcTransport(channel=channel))
    try:
        return MetricsServiceV2Client()
    except Exception as exc:  # DefaultCredentialsError and friends
        raise HookSetupError(f"cannot set up gcp credentials: {exc}") from None


def build_alert_policy_client(config: GcpConfig) -> Any:
    """A Cloud Monitoring AlertPolicyServiceClient for `config` (a local channel when an
    endpoint is given)."""
    from google.cloud import monitoring_v3
    from google.cloud.monitoring_v3.services.alert_policy_service.transports.grpc import (
        AlertPolicyServiceGrpcTransport,
    )

    if config.endpoint:
        channel = grpc.insecure_channel(config.endpoint)
        return monitoring_v3.AlertPolicyServiceClient(
            transport=AlertPolicyServiceGrpcTransport(channel=channel))
    try:
        return monitoring_v3.AlertPolicyServiceClient()
    except Exception as exc:  # DefaultCredentialsError and friends
        raise HookSetupError(f"cannot set up gcp credentials: {exc}") from None
