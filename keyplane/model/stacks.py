"""Where the synthesized stacks live: one Terraform stack per environment and cloud.

`prod` with keys on both clouds becomes two stacks, `prod-aws` and `prod-gcp`, each with
its own state: a CI job that plans or applies the AWS stack needs no GCP credentials and
no google provider, and a failed apply on one cloud cannot touch the other's state.

Pure naming, no CDK import: the gate, post-apply, the sandbox and the drills find the
stacks through these functions without starting Node.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from keyplane.model.specs import Cloud

DEFAULT_OUT_DIR = Path("cdktf.out")
STACK_FILE = "cdk.tf.json"
# Terraform releases keyplane's stacks are written for: S3 native state locking
# (`use_lockfile`) needs 1.10; the same floor is carried as `terraform.required_version`.
TERRAFORM_REQUIRED_VERSION = ">= 1.10.0"
# The hashicorp/aws releases keyplane's stacks use no attribute outside of: the prebuilt
# bindings are generated from 6.x; every attribute keyplane sets also exists in 5.100,
# except those listed in keyplane.sandbox.terraform's skew table (README: Provider versions).
AWS_PROVIDER_CONSTRAINT = ">= 5.100.0, < 7.0.0"
# Imported asymmetric and HMAC keys (`aws_kms_external_key.key_spec`) arrived in 6.11.0
# (hashicorp/terraform-provider-aws#44011): a stack holding one declares this range instead.
AWS_PROVIDER_CONSTRAINT_IMPORTED_ASYMMETRIC = ">= 6.11.0, < 7.0.0"
GOOGLE_PROVIDER_CONSTRAINT = ">= 8.7.0, < 9.0.0"  # the bindings' release: nothing older is tested


def stack_name(env: str, cloud: Cloud) -> str:
    """`prod-aws`: the stack (and its directory under `stacks/`) of `env` on `cloud`."""
    return f"{env}-{cloud.value}"


def split_stack_name(name: str) -> tuple[str, Cloud | None]:
    """(`prod`, Cloud.AWS) for `prod-aws`; (name, None) for a name without a cloud suffix."""
    for cloud in Cloud:
        suffix = f"-{cloud.value}"
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], cloud
    return name, None


def stack_file(env: str, cloud: Cloud, out_dir: Path = DEFAULT_OUT_DIR) -> Path:
    """`<out_dir>/stacks/<env>-<cloud>/cdk.tf.json`."""
    return out_dir / "stacks" / stack_name(env, cloud) / STACK_FILE


def local_state_path(env: str, cloud: Cloud) -> str:
    """The state file of a stack whose environment declares no backend (project root)."""
    return f"terraform.{stack_name(env, cloud)}.tfstate"


def s3_state_key(key: str, cloud: Cloud) -> str:
    """The S3 state key of one cloud's stack, from the environment's declared key.

    `keyplane/prod.tfstate` -> `keyplane/prod-aws.tfstate`: each stack has its own state
    object beside the one the environment names.
    """
    path = PurePosixPath(key)
    if path.suffix:
        return str(path.with_name(f"{path.stem}-{cloud.value}{path.suffix}"))
    return f"{key}-{cloud.value}"


def gcs_state_prefix(prefix: str, cloud: Cloud) -> str:
    """The GCS state prefix of one cloud's stack: `<prefix>/<cloud>`."""
    return f"{prefix.rstrip('/')}/{cloud.value}"
