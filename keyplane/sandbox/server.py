"""Starting and stopping the whole sandbox: the AWS endpoint and the Cloud KMS fake."""

from __future__ import annotations

from collections.abc import Iterable

from keyplane.sandbox.aws_front import AwsEndpoint, AwsFront
from keyplane.sandbox.gcp_fake import CloudKmsFake, GcpEndpoint


class Sandbox:
    """Both local endpoints, bound to 127.0.0.1 on OS-assigned (or given) ports."""

    def __init__(self, *, latency_ms: float = 0.0, aws_port: int = 0, gcp_port: int = 0,
                 projects: Iterable[str] = ()) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        self.aws = AwsEndpoint(port=aws_port, latency_ms=latency_ms)
        self.gcp = GcpEndpoint(port=gcp_port, latency_ms=latency_ms)
        self.gcp.fake.projects.update(projects)

    def start(self) -> tuple[str, str]:
        """Start both; (aws endpoint URL, gcp `host:port`)."""
        aws_url = self.aws.start()
        try:
            gcp_target = self.gcp.start()
        except BaseException:
            self.aws.stop()
            raise
        return aws_url, gcp_target

    @property
    def front(self) -> AwsFront:
        """The AWS front (fault rules, latency, recorded calls)."""
        assert self.aws.front is not None, "start() first"
        return self.aws.front

    @property
    def kms_fake(self) -> CloudKmsFake:
        """The Cloud KMS fake (projects, fault rules, latency)."""
        return self.gcp.fake

    def set_latency(self, latency_ms: float) -> None:
        """Change the per-request latency of both endpoints."""
        self.front.latency_ms = latency_ms
        self.kms_fake.latency_ms = latency_ms

    def stop(self) -> None:
        """Stop both endpoints."""
        self.gcp.stop()
        self.aws.stop()
