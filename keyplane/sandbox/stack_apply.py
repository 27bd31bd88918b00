"""`keyplane sandbox apply ENV`: the synthesized stacks, built in the local sandbox.

The AWS stack (`<env>-aws`) is applied with real Terraform and the real hashicorp/aws
provider (`keyplane.sandbox.terraform`): the same JSON a deploy applies, pointed at the
sandbox by an override file. Then a second `terraform plan -detailed-exitcode` must be
empty: that is the sandbox's fidelity test (a sandbox answering differently from what the
provider wrote shows up as a planned change), and a non-empty plan fails the apply.

The GCP stack is created through google-cloud-kms (the SDK writer) from the same stack:
there is no google provider on these machines, and the google provider speaks REST while
the sandbox's Cloud KMS fake speaks gRPC.

Afterwards, what restore drills need and no stack declares (the drill lock table, the
backup canary data, escrowed key material for imported keys) is seeded through boto3.

Each stack's work directory (copy, override, state, terraform logs) is kept under
`.keyplane/sandbox/<stack>/` beside the sandbox state file, so a second apply into the
same running sandbox changes nothing; a sandbox that was restarted starts from empty state.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud
from keyplane.model.stacks import stack_file
from keyplane.postapply.errors import SANDBOX_FAILED, HookSetupError

MARKER = "keyplane-sandbox.json"  # which running sandbox the work directory's state is in


@dataclass
class StackApplied:
    """What `sandbox apply` did for one environment."""

    aws_stack: Path | None = None
    work_dir: Path | None = None
    aws_resources: int = 0
    second_plan_empty: bool | None = None
    parameters: list[str] = field(default_factory=list)
    seeded: list[str] = field(default_factory=list)
    gcp: list[str] = field(default_factory=list)
    terraform_logs: list[Path] = field(default_factory=list)
    hsm_stack: Path | None = None
    hsm_resources: int = 0
    key_store: dict[str, Any] | None = None


def _fresh_workspace(work_dir: Path, sandbox_id: dict[str, object]) -> None:
    """Drop the state of a sandbox that is gone: its resources went with it."""
    marker = work_dir / MARKER
    try:
        old = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if old != sandbox_id and work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(sandbox_id) + "\n", encoding="utf-8")


def _state_resources(state: Path) -> int:
    try:
        doc = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return sum(1 for r in doc.get("resources", []) if r.get("mode") == "managed")


def _workspace(env: Environment, path: Path, *, work_root: Path, aws_endpoint: str,
               sandbox_id: dict[str, object], out: StackApplied,
               progress: Callable[[str], None]) -> Any:
    """The AWS stack at `path` prepared, its parameters seeded, terraform initialized."""
    from keyplane.sandbox import terraform as tf

    assert env.aws is not None
    doc = tf.read_stack(path)
    work = work_root / path.parent.name
    _fresh_workspace(work, sandbox_id)
    ws = tf.prepare(path, work, aws_endpoint=aws_endpoint, account_id=env.aws.account_id)
    skewed = tf.skew(doc, ws.provider_version)
    if skewed:
        raise HookSetupError(
            f"{path.parent.name} uses attributes hashicorp/aws {ws.provider_version} does not "
            f"know (version skew; README: Provider versions): {'; '.join(skewed)}; give a "
            "newer provider mirror with $KEYPLANE_TF_PLUGIN_DIR", code=SANDBOX_FAILED)
    progress(f"{path.parent.name}: seeding the ssm parameters the stack reads")
    out.parameters += tf.seed_parameters(doc, aws_endpoint=aws_endpoint,
                                         account_id=env.aws.account_id, region=env.aws.region,
                                         workspace=ws)  # scrubbed from terraform's output
    progress(f"{path.parent.name}: terraform init (hashicorp/aws "
             f"{ws.provider_version or 'from the registry'})")
    try:
        tf.init(ws)
    finally:
        out.terraform_logs += list(ws.logs)
    return ws


def _apply(ws: Any, out: StackApplied, progress: Callable[[str], None]) -> int:
    """Apply, then the second plan that must be empty; the resources in state."""
    from keyplane.sandbox import terraform as tf

    name = ws.source.parent.name
    try:
        progress(f"{name}: terraform apply")
        tf.apply(ws)
        progress(f"{name}: terraform plan -detailed-exitcode (must be empty)")
        changes = tf.plan(ws, detailed_exitcode=True)
    finally:
        out.terraform_logs += list(ws.logs)
    out.second_plan_empty = changes == 0 and out.second_plan_empty is not False
    if changes != 0:
        raise HookSetupError(
            f"the sandbox is not faithful to {name}: a second terraform plan after "
            f"the apply shows changes (log {ws.logs[-1]})", code=SANDBOX_FAILED)
    return _state_resources(ws.state_path)


def _sandbox_clients(env: Environment, aws_endpoint: str) -> Any:
    from keyplane.cloud.aws.session import AwsClients, AwsConfig
    from keyplane.sandbox.credentials import SANDBOX_SECRET, sandbox_access_key

    assert env.aws is not None
    return AwsClients(AwsConfig(region=env.aws.region, endpoint_url=aws_endpoint,
                                access_key_id=sandbox_access_key(env.aws.account_id),
                                secret_access_key=SANDBOX_SECRET, max_attempts=3))


def _key_store_first(env: Environment, *, synth_dir: Path, work_root: Path, aws_endpoint: str,
                     sandbox_id: dict[str, object], out: StackApplied,
                     progress: Callable[[str], None]) -> None:
    """What a deploy does before `<env>-aws` when ca keys live in a CloudHSM key store:
    apply `<env>-aws-hsm`, then `keyplane keystore connect` (the sandbox's cluster fake
    stands in for the ceremony; the kmsuser password is a random SSM value)."""
    from keyplane.cloud.aws.keystore import KeyStoreConnector, KeyStoreSpec
    from keyplane.desired.aws import plan_hsm_stack
    from keyplane.model.stacks import hsm_stack_file
    from keyplane.sandbox.aws_writer import seed_secure_parameters
    from keyplane.sandbox.terraform import dummy_value

    plan = plan_hsm_stack(env)
    if plan is None:
        return
    path = hsm_stack_file(env.name, synth_dir)
    if not path.is_file():
        raise HookSetupError(f"{path} does not exist: run `keyplane synth {env.name}` first",
                             code=SANDBOX_FAILED)
    ws = _workspace(env, path, work_root=work_root, aws_endpoint=aws_endpoint,
                    sandbox_id=sandbox_id, out=out, progress=progress)
    out.hsm_stack, out.hsm_resources = path, _apply(ws, out, progress)
    connect = plan.cloudhsm.connect
    clients = _sandbox_clients(env, aws_endpoint)
    progress("seeding the key store's ssm parameters (random values, never shown)")
    held = seed_secure_parameters(clients, plan.region, {
        connect.password_parameter: dummy_value(), connect.trust_anchor_parameter: dummy_value()})
    out.parameters += [f"{n} ({plan.region})" for n in held]
    progress(f"keyplane keystore connect {env.name}")
    outcome = KeyStoreConnector(
        clients.client, KeyStoreSpec(name=connect.name, cluster_tags=connect.cluster_tags,
                                     password_parameter=connect.password_parameter,
                                     trust_anchor_parameter=connect.trust_anchor_parameter),
        sleep=lambda _: None).connect(poll_seconds=0.0, timeout_seconds=60.0)
    out.key_store = outcome.as_dict()


def plan_stack(env: Environment, path: Path, *, work_root: Path, aws_endpoint: str,
               sandbox_id: dict[str, object],
               progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """`terraform plan` + `terraform show -json` of one AWS stack file as it stands, with no
    apply before it (for `<env>-aws-hsm`, which depends on nothing)."""
    from keyplane.sandbox import terraform as tf

    out = StackApplied()
    ws = _workspace(env, path, work_root=work_root, aws_endpoint=aws_endpoint,
                    sandbox_id=sandbox_id, out=out, progress=progress)
    progress(f"{path.parent.name}: terraform plan")
    planfile = ws.directory / "plan.tfplan"
    tf.plan(ws, out=planfile)
    doc: dict[str, Any] = tf.show_json(ws, planfile)
    return doc


def plan_aws_stack(env: Environment, *, synth_dir: Path, work_root: Path, aws_endpoint: str,
                   sandbox_id: dict[str, object],
                   progress: Callable[[str], None] = lambda _: None
                   ) -> tuple[dict[str, Any], StackApplied]:
    """`terraform plan` + `terraform show -json` of `<env>-aws` against the sandbox: the plan
    JSON a pull request's gate reads (all creates before the first apply). An environment
    with a CloudHSM key store gets its `<env>-aws-hsm` applied and the store connected
    first, as a deploy does."""
    from keyplane.sandbox import terraform as tf

    out = StackApplied()
    _key_store_first(env, synth_dir=synth_dir, work_root=work_root, aws_endpoint=aws_endpoint,
                     sandbox_id=sandbox_id, out=out, progress=progress)
    path = stack_file(env.name, Cloud.AWS, synth_dir)
    ws = _workspace(env, path, work_root=work_root, aws_endpoint=aws_endpoint,
                    sandbox_id=sandbox_id, out=out, progress=progress)
    out.aws_stack, out.work_dir = path, ws.directory
    try:
        progress("terraform plan")
        planfile = ws.directory / "plan.tfplan"
        tf.plan(ws, out=planfile)
        doc = tf.show_json(ws, planfile)
    finally:
        out.terraform_logs += list(ws.logs)
    return doc, out


def apply_aws_stack(env: Environment, *, synth_dir: Path, work_root: Path, aws_endpoint: str,
                    sandbox_id: dict[str, object], out: StackApplied,
                    progress: Callable[[str], None] = lambda _: None) -> None:
    """Terraform init, apply and the second, empty plan of `<env>-aws` into the sandbox
    (after `<env>-aws-hsm` and the key store, where the environment has one)."""
    _key_store_first(env, synth_dir=synth_dir, work_root=work_root, aws_endpoint=aws_endpoint,
                     sandbox_id=sandbox_id, out=out, progress=progress)
    path = stack_file(env.name, Cloud.AWS, synth_dir)
    ws = _workspace(env, path, work_root=work_root, aws_endpoint=aws_endpoint,
                    sandbox_id=sandbox_id, out=out, progress=progress)
    out.aws_stack, out.work_dir = path, ws.directory
    out.aws_resources = _apply(ws, out, progress)


def apply_environment(env: Environment, *, synth_dir: Path, work_root: Path,
                      aws_endpoint: str | None, gcp_endpoint: str | None,
                      sandbox_id: dict[str, object],
                      progress: Callable[[str], None] = lambda _: None) -> StackApplied:
    """Build every stack of `env` in the sandbox; what was done."""
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.stack import load_environment_stacks

    stack = load_environment_stacks(env, synth_dir)  # KP609 when a cloud was not synthesized
    out = StackApplied()
    if env.aws is not None and env.keys_on(Cloud.AWS) and aws_endpoint:
        apply_aws_stack(env, synth_dir=synth_dir, work_root=work_root,
                        aws_endpoint=aws_endpoint, sandbox_id=sandbox_id, out=out,
                        progress=progress)
        from keyplane.sandbox.aws_drill_seed import seed_drills

        progress("seeding what restore drills need")
        out.seeded = seed_drills(_sandbox_clients(env, aws_endpoint), env)
    if env.gcp is not None and env.keys_on(Cloud.GCP) and gcp_endpoint:
        from keyplane.cloud.gcp.client import GcpConfig, build_client
        from keyplane.sandbox.gcp_writer import GcpSandboxWriter

        progress("creating the gcp stack's keys through google-cloud-kms")
        config = GcpConfig(project=env.gcp.project_id, endpoint=gcp_endpoint)
        out.gcp = GcpSandboxWriter(build_client(config), config).apply(
            expected_state(env, stack))
    return out
