"""`keyplane sandbox apply ENV`: create an environment's expected state in the local sandbox.

Through the SDKs (the sandbox writers in `keyplane.cloud`), against loopback
endpoints only. A playground, not a deploy: nothing here reaches a cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyplane.postapply.expected import ExpectedState
from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key


@dataclass
class Applied:
    """What the sandbox now holds for the environment."""

    aws: list[str] = field(default_factory=list)
    gcp: list[str] = field(default_factory=list)


def apply_state(state: ExpectedState, *, aws_endpoint: str | None, gcp_endpoint: str | None
                ) -> Applied:
    """Create `state` in the sandbox; what was created, one line each."""
    out = Applied()
    env = state.env
    if env.aws is not None and aws_endpoint:
        from keyplane.cloud.aws.session import AwsClients, AwsConfig
        from keyplane.sandbox.aws_writer import AwsSandboxWriter

        clients = AwsClients(AwsConfig(
            region=env.aws.region, endpoint_url=aws_endpoint,
            access_key_id=sandbox_access_key(env.aws.account_id),
            secret_access_key=SANDBOX_SECRET))
        done = AwsSandboxWriter(clients).apply(state)
        out.aws = [f"kms key {k}" for k in done.keys] + [f"replica {r}" for r in done.replicas] \
            + [f"alias {a}" for a in done.aliases] + done.other
        from keyplane.sandbox.aws_drill_seed import seed_drills

        out.aws += seed_drills(clients, env)  # restore drills: lock table, data, escrow
    if env.gcp is not None and gcp_endpoint:
        from keyplane.cloud.gcp.client import GcpConfig, build_client
        from keyplane.sandbox.gcp_writer import GcpSandboxWriter

        config = GcpConfig(project=env.gcp.project_id, endpoint=gcp_endpoint)
        out.gcp = GcpSandboxWriter(build_client(config), config).apply(state)
    return out
