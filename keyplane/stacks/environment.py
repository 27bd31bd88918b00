"""One Terraform stack per environment and cloud: its state backend and that cloud's part.

`prod` with keys on both clouds synthesizes to `prod-aws` and `prod-gcp` (names from
`keyplane.model.stacks`), each with its own state, so planning or applying one cloud needs
neither the other's credentials nor its provider. A stack imports only the provider
bindings of its cloud (each costs seconds of start-up).

The construct ids inside a stack (`aws/...`, `gcp/...`) are unchanged by the split:
Terraform addresses are derived from them and renaming one replaces a key.
"""

from __future__ import annotations

from cdktn import GcsBackend, LocalBackend, S3Backend, TerraformStack
from constructs import Construct

from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud, Origin
from keyplane.model.stacks import (
    AWS_PROVIDER_CONSTRAINT,
    AWS_PROVIDER_CONSTRAINT_IMPORTED_ASYMMETRIC,
    GOOGLE_PROVIDER_CONSTRAINT,
    TERRAFORM_REQUIRED_VERSION,
    gcs_state_prefix,
    local_state_path,
    s3_state_key,
    stack_name,
)

_PROVIDER = {Cloud.AWS: ("aws", AWS_PROVIDER_CONSTRAINT),
             Cloud.GCP: ("google", GOOGLE_PROVIDER_CONSTRAINT)}


class EnvironmentStack(TerraformStack):
    """The stack of one environment on one cloud; its id is `<env>-<cloud>`."""

    def __init__(self, scope: Construct, *, env: Environment, cloud: Cloud,
                 local_state: str | None = None) -> None:
        """`local_state` (default: terraform.<env>-<cloud>.tfstate, relative to the stack's
        working directory) is where state goes when the environment declares no backend."""
        super().__init__(scope, stack_name(env.name, cloud))
        self.env = env
        self.cloud = cloud
        backend = env.state_backend
        if backend is not None and backend.s3 is not None:
            s3 = backend.s3
            S3Backend(self, bucket=s3.bucket, key=s3_state_key(s3.key, cloud), region=s3.region,
                      encrypt=True, use_lockfile=s3.use_lockfile or None,
                      dynamodb_table=s3.dynamodb_table)
        elif backend is not None and backend.gcs is not None:
            GcsBackend(self, bucket=backend.gcs.bucket,
                       prefix=gcs_state_prefix(backend.gcs.prefix, cloud))
        else:
            LocalBackend(self, path=local_state or local_state_path(env.name, cloud))
        if cloud is Cloud.AWS:
            from keyplane.constructs.aws.environment import AwsEnvironment

            self.aws = AwsEnvironment(self, "aws", env=env)
        else:
            from keyplane.constructs.gcp import GcpEnvironment

            self.gcp = GcpEnvironment(self, "gcp", env=env)
        # The bindings pin the exact provider release they were generated from; the stack
        # states the range keyplane is written for (and tested against), and the Terraform
        # floor its backend needs.
        provider, constraint = _PROVIDER[cloud]
        if cloud is Cloud.AWS and any(k.origin is Origin.EXTERNAL and k.spec != "SYMMETRIC_DEFAULT"
                                      for k in env.keys_on(Cloud.AWS)):
            constraint = AWS_PROVIDER_CONSTRAINT_IMPORTED_ASYMMETRIC
        self.add_override(f"terraform.required_providers.{provider}.version", constraint)
        self.add_override("terraform.required_version", TERRAFORM_REQUIRED_VERSION)
