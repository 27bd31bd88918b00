"""The CloudHSM stack of an environment with ca keys in a custom key store: `<env>-aws-hsm`.

Applied first, with the environment's own credentials. A new cluster must then be
initialized and activated and its kmsuser created (the cluster ceremony, by people, with the
organization's issuing CA); `keyplane keystore connect ENV` creates and connects the custom
key store on it, reading the kmsuser password from SSM at run time; only then is `<env>-aws`
applied, whose ca keys find the store by name. Its state is its own
(`keyplane/prod-aws-hsm.tfstate`), so no plan of `<env>-aws` can replace the cluster.
"""

from __future__ import annotations

from cdktn import GcsBackend, LocalBackend, S3Backend, TerraformStack
from constructs import Construct

from keyplane.model.environment import Environment
from keyplane.model.stacks import (
    AWS_PROVIDER_CONSTRAINT,
    HSM_STACK_SUFFIX,
    TERRAFORM_REQUIRED_VERSION,
    aux_gcs_state_prefix,
    aux_local_state_path,
    aux_s3_state_key,
    hsm_stack_name,
)


class HsmStack(TerraformStack):
    """The CloudHSM cluster of one environment; its id is `<env>-aws-hsm`."""

    def __init__(self, scope: Construct, *, env: Environment,
                 local_state: str | None = None) -> None:
        """Raises when `env` has no aws key of origin cloudhsm (see `plan_hsm_stack`)."""
        from keyplane.constructs.aws.cloudhsm import CloudHsmCluster
        from keyplane.desired.aws import plan_hsm_stack

        plan = plan_hsm_stack(env)
        if plan is None:
            raise ValueError(f"environment {env.name} has no cloudhsm key store to synthesize")
        super().__init__(scope, hsm_stack_name(env.name))
        self.env = env
        backend = env.state_backend
        if backend is not None and backend.s3 is not None:
            s3 = backend.s3
            S3Backend(self, bucket=s3.bucket, key=aux_s3_state_key(s3.key, HSM_STACK_SUFFIX),
                      region=s3.region, encrypt=True, use_lockfile=s3.use_lockfile or None,
                      dynamodb_table=s3.dynamodb_table)
        elif backend is not None and backend.gcs is not None:
            GcsBackend(self, bucket=backend.gcs.bucket,
                       prefix=aux_gcs_state_prefix(backend.gcs.prefix, HSM_STACK_SUFFIX))
        else:
            LocalBackend(self, path=local_state or aux_local_state_path(env.name,
                                                                        HSM_STACK_SUFFIX))
        self.aws = CloudHsmCluster(self, "aws", plan=plan)
        self.add_override("terraform.required_providers.aws.version", AWS_PROVIDER_CONSTRAINT)
        self.add_override("terraform.required_version", TERRAFORM_REQUIRED_VERSION)
