"""Where the synthesized stacks live: one Terraform stack per environment and cloud.

`prod` with keys on both clouds becomes two stacks, `prod-aws` and `prod-gcp`, each with
its own state: a CI job that plans or applies the AWS stack needs no GCP credentials and
no google provider, and a failed apply on one cloud cannot touch the other's state.

An environment that declares a drill account (`aws.backup.drill_account_id`) gets one
more stack, `prod-aws-drill`: what restore drills need in that account (the vault copies
land in, its key, the restore role), applied with the drill account's credentials and
kept in a state of its own.

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


DRILL_STACK_SUFFIX = "drill"
# The CloudHSM cluster of an environment with ca keys in a custom key store: applied first,
# then initialized (the cluster ceremony), then the store is created and connected by
# `keyplane keystore connect` (the kmsuser password never enters Terraform), and only then
# is `<env>-aws` applied; its ca keys find the store by name.
HSM_STACK_SUFFIX = "hsm"
AUX_STACK_SUFFIXES = (DRILL_STACK_SUFFIX, HSM_STACK_SUFFIX)


def aux_stack_name(env: str, suffix: str) -> str:
    """`prod-aws-drill`, `prod-aws-hsm`: an AWS stack of `env` beside `prod-aws`."""
    return f"{stack_name(env, Cloud.AWS)}-{suffix}"


def aux_stack_file(env: str, suffix: str, out_dir: Path = DEFAULT_OUT_DIR) -> Path:
    """`<out_dir>/stacks/<env>-aws-<suffix>/cdk.tf.json`."""
    return out_dir / "stacks" / aux_stack_name(env, suffix) / STACK_FILE


def aux_local_state_path(env: str, suffix: str) -> str:
    """The state file of an auxiliary stack when the environment declares no backend."""
    return f"terraform.{aux_stack_name(env, suffix)}.tfstate"


def aux_s3_state_key(key: str, suffix: str) -> str:
    """The S3 state key of an auxiliary stack: `keyplane/prod.tfstate` ->
    `keyplane/prod-aws-<suffix>.tfstate`."""
    tail = f"{Cloud.AWS.value}-{suffix}"
    path = PurePosixPath(key)
    if path.suffix:
        return str(path.with_name(f"{path.stem}-{tail}{path.suffix}"))
    return f"{key}-{tail}"


def aux_gcs_state_prefix(prefix: str, suffix: str) -> str:
    """The GCS state prefix of an auxiliary stack: `<prefix>/aws-<suffix>`."""
    return f"{prefix.rstrip('/')}/{Cloud.AWS.value}-{suffix}"


def drill_stack_name(env: str) -> str:
    """`prod-aws-drill`: the stack of `env`'s drill account (AWS only)."""
    return aux_stack_name(env, DRILL_STACK_SUFFIX)


def drill_stack_file(env: str, out_dir: Path = DEFAULT_OUT_DIR) -> Path:
    """`<out_dir>/stacks/<env>-aws-drill/cdk.tf.json`."""
    return aux_stack_file(env, DRILL_STACK_SUFFIX, out_dir)


def drill_local_state_path(env: str) -> str:
    """The state file of the drill stack when the environment declares no backend."""
    return aux_local_state_path(env, DRILL_STACK_SUFFIX)


def drill_s3_state_key(key: str) -> str:
    """The S3 state key of the drill stack: `keyplane/prod.tfstate` ->
    `keyplane/prod-aws-drill.tfstate`."""
    return aux_s3_state_key(key, DRILL_STACK_SUFFIX)


def drill_gcs_state_prefix(prefix: str) -> str:
    """The GCS state prefix of the drill stack: `<prefix>/aws-drill`."""
    return aux_gcs_state_prefix(prefix, DRILL_STACK_SUFFIX)


def hsm_stack_name(env: str) -> str:
    """`prod-aws-hsm`: the stack of `env`'s CloudHSM cluster and its HSMs."""
    return aux_stack_name(env, HSM_STACK_SUFFIX)


def hsm_stack_file(env: str, out_dir: Path = DEFAULT_OUT_DIR) -> Path:
    """`<out_dir>/stacks/<env>-aws-hsm/cdk.tf.json`."""
    return aux_stack_file(env, HSM_STACK_SUFFIX, out_dir)


def split_stack_name(name: str) -> tuple[str, Cloud | None]:
    """(`prod`, Cloud.AWS) for `prod-aws` and for its auxiliary stacks `prod-aws-drill` and
    `prod-aws-hsm`; (name, None) for a name without a cloud suffix."""
    for suffix in AUX_STACK_SUFFIXES:
        aux = f"-{Cloud.AWS.value}-{suffix}"
        if name.endswith(aux) and len(name) > len(aux):
            return name[: -len(aux)], Cloud.AWS
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
