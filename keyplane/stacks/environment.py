"""One Terraform stack per environment: its state backend, its AWS part and its GCP part.

A stack imports only the provider bindings it needs: an environment without GCP
keys never imports `cdktn_provider_google`, one without AWS keys never imports
`cdktn_provider_aws` (each costs seconds of start-up).
"""

from __future__ import annotations

from cdktn import GcsBackend, LocalBackend, S3Backend, TerraformStack
from constructs import Construct

from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud


def local_state_path(env_name: str) -> str:
    """The state file of an environment that declares no backend (in the project root)."""
    return f"terraform.{env_name}.tfstate"


class EnvironmentStack(TerraformStack):
    """The stack of one environment; its id is the environment's name."""

    def __init__(self, scope: Construct, *, env: Environment,
                 local_state: str | None = None) -> None:
        """`local_state` (default: terraform.<env>.tfstate, relative to the stack's working
        directory) is where state goes when the environment declares no backend."""
        super().__init__(scope, env.name)
        self.env = env
        backend = env.state_backend
        if backend is not None and backend.s3 is not None:
            s3 = backend.s3
            S3Backend(self, bucket=s3.bucket, key=s3.key, region=s3.region, encrypt=True,
                      use_lockfile=s3.use_lockfile or None, dynamodb_table=s3.dynamodb_table)
        elif backend is not None and backend.gcs is not None:
            GcsBackend(self, bucket=backend.gcs.bucket, prefix=backend.gcs.prefix)
        else:
            LocalBackend(self, path=local_state or local_state_path(env.name))
        if env.keys_on(Cloud.AWS):
            from keyplane.constructs.aws.environment import AwsEnvironment

            self.aws = AwsEnvironment(self, "aws", env=env)
        if env.keys_on(Cloud.GCP):
            from keyplane.constructs.gcp import GcpEnvironment

            self.gcp = GcpEnvironment(self, "gcp", env=env)
