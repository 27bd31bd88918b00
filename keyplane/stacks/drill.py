"""The drill account's stack of an environment: `<env>-aws-drill`.

Applied with the drill account's credentials (its provider is pinned to that account),
after the environment's own stack: the key policy names the environment's backup and
key-admin roles, which must exist. Its state is its own, beside the environment's
(`keyplane/prod-aws-drill.tfstate`).
"""

from __future__ import annotations

from cdktn import GcsBackend, LocalBackend, S3Backend, TerraformStack
from constructs import Construct

from keyplane.model.environment import Environment
from keyplane.model.stacks import (
    AWS_PROVIDER_CONSTRAINT,
    TERRAFORM_REQUIRED_VERSION,
    drill_gcs_state_prefix,
    drill_local_state_path,
    drill_s3_state_key,
    drill_stack_name,
)


class DrillAccountStack(TerraformStack):
    """The stack of one environment's drill account; its id is `<env>-aws-drill`."""

    def __init__(self, scope: Construct, *, env: Environment,
                 local_state: str | None = None) -> None:
        """Raises when `env` declares no drill account (see `plan_drill_account`)."""
        from keyplane.constructs.aws.drill import DrillAccount
        from keyplane.desired.aws import plan_drill_account

        plan = plan_drill_account(env)
        if plan is None:
            raise ValueError(f"environment {env.name} has no drill account to synthesize")
        super().__init__(scope, drill_stack_name(env.name))
        self.env = env
        backend = env.state_backend
        if backend is not None and backend.s3 is not None:
            s3 = backend.s3
            S3Backend(self, bucket=s3.bucket, key=drill_s3_state_key(s3.key), region=s3.region,
                      encrypt=True, use_lockfile=s3.use_lockfile or None,
                      dynamodb_table=s3.dynamodb_table)
        elif backend is not None and backend.gcs is not None:
            GcsBackend(self, bucket=backend.gcs.bucket,
                       prefix=drill_gcs_state_prefix(backend.gcs.prefix))
        else:
            LocalBackend(self, path=local_state or drill_local_state_path(env.name))
        self.aws = DrillAccount(self, "aws", plan=plan)
        self.add_override("terraform.required_providers.aws.version", AWS_PROVIDER_CONSTRAINT)
        self.add_override("terraform.required_version", TERRAFORM_REQUIRED_VERSION)
