"""Real Terraform into the local sandbox: an AWS stack applied with the hashicorp/aws provider.

`prepare` copies a synthesized AWS stack (`cdk.tf.json`) into a work directory and writes
`keyplane_sandbox_override.tf.json` beside it. Terraform merges override files into the
configuration (provider blocks by name and alias, the backend block replaced), so the stack
itself stays byte-for-byte what `keyplane synth` wrote while every AWS call goes to the
sandbox, as the environment's account, and the state stays in the work directory.

The provider comes from a filesystem mirror when there is one (`terraform init
-plugin-dir`): the sandbox never reaches the Terraform registry or AWS. Each terraform run
keeps its output in a log file in the work directory; a failure is a coded `HookSetupError`
with terraform's last error lines, never a traceback.

It is a playground and a fidelity test (apply, then a plan that must be empty), not a deploy.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyplane.postapply.errors import SANDBOX_FAILED, HookSetupError
from keyplane.sandbox.credentials import SANDBOX_SECRET, is_loopback, sandbox_access_key

TERRAFORM_ENV_VAR = "KEYPLANE_TERRAFORM"
PLUGIN_DIR_ENV_VAR = "KEYPLANE_TF_PLUGIN_DIR"
DEFAULT_PLUGIN_DIR = Path("/opt/tf-plugins")
AWS_PROVIDER_ADDRESS = ("registry.terraform.io", "hashicorp", "aws")
OVERRIDE_FILE = "keyplane_sandbox_override.tf.json"
STACK_FILE = "cdk.tf.json"
STATE_FILE = "terraform.tfstate"
INSTALL_HINT = ("install terraform >= 1.10 (https://developer.hashicorp.com/terraform/install) "
                f"and put it on PATH, or set ${TERRAFORM_ENV_VAR} to its path")
MAX_RETRIES = 5  # the provider's default (25, with backoff) hides a sandbox error for minutes
ERROR_LINES = 25  # how much of terraform's error output an error message carries

# Which sandbox endpoint a resource or data source type talks to: the longest matching type
# prefix wins; None means no API call (computed locally by the provider). The names are the
# keys of the provider's `endpoints` block. A type matching nothing is refused, so a stack
# can never send a request (with any credentials) past the sandbox.
SERVICE_OF_TYPE: dict[str, str | None] = {
    "aws_backup_": "backup",
    "aws_caller_identity": "sts",
    "aws_cloudhsm_v2_": "cloudhsmv2",
    "aws_cloudtrail": "cloudtrail",
    "aws_cloudwatch_composite_alarm": "cloudwatch",
    "aws_cloudwatch_dashboard": "cloudwatch",
    "aws_cloudwatch_event_": "events",
    "aws_cloudwatch_log_": "logs",
    "aws_cloudwatch_metric_alarm": "cloudwatch",
    "aws_dynamodb_": "dynamodb",
    "aws_iam_": "iam",
    "aws_iam_policy_document": None,
    "aws_kms_": "kms",
    "aws_lambda_": "lambda",
    "aws_partition": None,
    "aws_region": None,
    "aws_s3_": "s3",
    "aws_secretsmanager_": "secretsmanager",
    "aws_sns_": "sns",
    "aws_sqs_": "sqs",
    "aws_ssm_": "ssm",
}
# The provider asks these before any resource: STS for the account (allowed_account_ids,
# ARNs it builds), IAM as its fallback.
ALWAYS_SERVICES = ("iam", "sts")

# Attributes keyplane's stacks may carry that older hashicorp/aws releases do not accept,
# with the first release that does: (block kind, type or "*", attribute) -> version. The
# stacks are synthesized with the 6.x bindings; a sandbox whose mirror holds 5.x refuses
# such a stack with a coded error instead of a `terraform validate` failure.
PROVIDER_SKEW: dict[tuple[str, str, str], str] = {
    # hashicorp/terraform-provider-aws#44011 (6.11.0): imported asymmetric and HMAC keys;
    # before it, key_usage was computed only and key_spec did not exist
    ("resource", "aws_kms_external_key", "key_spec"): "6.11.0",
    ("resource", "aws_kms_external_key", "key_usage"): "6.11.0",
    # 6.0.0 made `region` an argument of (nearly) every resource
    ("resource", "*", "region"): "6.0.0",
}
# Resources that took a `region` argument before 6.0.0 (their own meaning, not the skew).
_REGION_BEFORE_6 = frozenset({"aws_cloudformation_stack_set_instance",
                              "aws_config_aggregate_authorization", "aws_opsworks_stack",
                              "aws_servicequotas_template"})

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+].*)?$")
_CONSTRAINT = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*(\S+)\s*$")


def _fail(message: str) -> HookSetupError:
    return HookSetupError(message, code=SANDBOX_FAILED)


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(5, 100, 0) for `5.100.0` (or `v5.100.0`); None for anything else."""
    m = _VERSION.match(text.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)


def version_allowed(version: str, constraint: str | None) -> bool:
    """Whether `version` meets a Terraform version constraint (`>= 5.100.0, < 7.0.0`, `~> 6.0`).

    An unparsable constraint counts as not met, so the mirror's version is pinned instead.
    """
    have = parse_version(version)
    if have is None:
        return False
    if not constraint or not constraint.strip():
        return True
    for part in constraint.split(","):
        m = _CONSTRAINT.match(part)
        want = parse_version(m.group(2)) if m else None
        if m is None or want is None:
            return False
        op = m.group(1) or "="
        if op == "~>":
            # ~> 6.1 allows 6.x >= 6.1; ~> 6.1.2 allows 6.1.x >= 6.1.2
            parts = m.group(2).lstrip("v").split(".")
            upper = (want[0] + 1, 0, 0) if len(parts) <= 2 else (want[0], want[1] + 1, 0)
            ok = want <= have < upper
        else:
            ok = {"=": have == want, "!=": have != want, ">": have > want, ">=": have >= want,
                  "<": have < want, "<=": have <= want}[op]
        if not ok:
            return False
    return True


# --- finding terraform and the provider ---------------------------------------------------------

def find_terraform() -> Path:
    """The terraform binary: $KEYPLANE_TERRAFORM, else `terraform` on PATH."""
    given = os.environ.get(TERRAFORM_ENV_VAR)
    if given:
        path = Path(given)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise _fail(f"${TERRAFORM_ENV_VAR} is {given}, which is not an executable file; "
                    f"{INSTALL_HINT}")
    found = shutil.which("terraform")
    if found is None:
        raise _fail(f"terraform is not on PATH; {INSTALL_HINT}")
    return Path(found)


def _provider_root(plugin_dir: Path) -> Path:
    return plugin_dir.joinpath(*AWS_PROVIDER_ADDRESS)


def _mirror_versions(plugin_dir: Path) -> list[tuple[tuple[int, int, int], str]]:
    """The aws provider versions in a mirror, unpacked (`aws/5.100.0/`) or packed
    (`aws/terraform-provider-aws_5.100.0_linux_amd64.zip`)."""
    root = _provider_root(plugin_dir)
    found: dict[str, tuple[int, int, int]] = {}
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    for entry in entries:
        name = entry.name
        if entry.is_file() and name.startswith("terraform-provider-aws_") and name.endswith(".zip"):
            name = name.split("_")[1]
        elif not entry.is_dir():
            continue
        parsed = parse_version(name)
        if parsed is not None:
            found[name] = parsed
    return sorted(((v, n) for n, v in found.items()), reverse=True)


def find_plugin_dir() -> Path | None:
    """$KEYPLANE_TF_PLUGIN_DIR, else /opt/tf-plugins when it holds hashicorp/aws, else None."""
    given = os.environ.get(PLUGIN_DIR_ENV_VAR)
    if given:
        path = Path(given)
        if not _mirror_versions(path):
            raise _fail(f"${PLUGIN_DIR_ENV_VAR} is {given}, which holds no "
                        f"{'/'.join(AWS_PROVIDER_ADDRESS)} provider")
        return path
    if _mirror_versions(DEFAULT_PLUGIN_DIR):
        return DEFAULT_PLUGIN_DIR
    return None


def provider_version(plugin_dir: Path | None) -> str | None:
    """The hashicorp/aws version in the mirror (the newest, if several), e.g. `5.100.0`."""
    if plugin_dir is None:
        return None
    versions = _mirror_versions(plugin_dir)
    return versions[0][1] if versions else None


# --- the workspace ----------------------------------------------------------------------------

@dataclass
class Workspace:
    """A work directory holding a copy of one stack, the sandbox override and the state.

    source: the stack as synthesized; stack_file: its copy terraform reads. logs: every
    terraform run's log file, oldest first.
    """

    directory: Path
    stack_file: Path
    source: Path
    override_file: Path
    state_path: Path
    aws_endpoint: str
    account_id: str
    regions: dict[str, str]  # provider alias ("" for the default) -> Region
    terraform: Path
    plugin_dir: Path | None
    provider_version: str | None
    services: tuple[str, ...]
    logs: list[Path] = field(default_factory=list)
    # values seeded into the sandbox for the stack's data sources: scrubbed from logs and errors
    secrets: set[str] = field(default_factory=set, repr=False)

    def scrub(self, text: str) -> str:
        """`text` with every seeded value replaced by `(redacted)`."""
        for value in sorted(self.secrets, key=len, reverse=True):
            if value:
                text = text.replace(value, "(redacted)")
        return text

    def env(self) -> dict[str, str]:
        """The environment terraform runs with: sandbox-only, non-interactive, quiet."""
        return terraform_env(self.directory)


def terraform_env(directory: Path) -> dict[str, str]:
    """The process environment for terraform in `directory`.

    Dropped: every AWS_* variable (no profile, token or credential of the caller's can mix
    with the sandbox's), TF_LOG* (debug logs would print request bodies, seeded secrets
    included) and TF_CLI_ARGS* / TF_DATA_DIR / TF_WORKSPACE / TF_PLUGIN_CACHE_DIR (the run
    must be the one written here).
    """
    drop = ("AWS_", "TF_LOG", "TF_CLI_ARGS", "TF_DATA_DIR", "TF_WORKSPACE", "TF_PLUGIN_CACHE_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    cli_config = directory / ".terraformrc"
    if not cli_config.exists():
        cli_config.write_text("", encoding="utf-8")
    empty = directory / ".aws-empty"
    if not empty.exists():
        empty.write_text("", encoding="utf-8")
    env.update(TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1",
               TF_CLI_CONFIG_FILE=str(cli_config), AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty))
    return env


def read_stack(path: Path) -> dict[str, Any]:
    """A synthesized stack's JSON; a coded error when it is missing or not a JSON object."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(f"no synthesized stack at {path}; run `keyplane synth` first") from None
    except (OSError, ValueError) as exc:
        raise _fail(f"stack {path} is unreadable: {exc}") from None
    if not isinstance(doc, dict):
        raise _fail(f"stack {path} is not a terraform json object")
    return doc


def _blocks(value: Any) -> list[Mapping[str, Any]]:
    """Terraform JSON allows a block as an object or a list of objects."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _typed(doc: Mapping[str, Any], kind: str) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
    """(type, name, body) of every resource (`kind="resource"`) or data source (`"data"`)."""
    for section in _blocks(doc.get(kind)):
        for rtype, named in section.items():
            for group in _blocks(named):
                for name, body in group.items():
                    for b in _blocks(body):
                        yield rtype, name, b


def aws_provider_blocks(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The stack's `provider "aws"` blocks (the default one and each alias)."""
    out: list[Mapping[str, Any]] = []
    for section in _blocks(doc.get("provider")):
        out += _blocks(section.get("aws"))
    return out


def services_of(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The provider endpoint names a stack's resources and data sources call, sorted."""
    found = set(ALWAYS_SERVICES)
    unknown = set()
    for kind in ("resource", "data"):
        for rtype, _, _ in _typed(doc, kind):
            match = max((p for p in SERVICE_OF_TYPE if rtype.startswith(p)), key=len, default=None)
            if match is None:
                unknown.add(rtype)
            elif SERVICE_OF_TYPE[match] is not None:
                found.add(str(SERVICE_OF_TYPE[match]))
    if unknown:
        raise _fail(f"the sandbox has no endpoint for {', '.join(sorted(unknown))}; "
                    "add the service to SERVICE_OF_TYPE in keyplane.sandbox.terraform")
    return tuple(sorted(found))


def skew(stack_doc: Mapping[str, Any], provider_version: str | None) -> list[str]:
    """The stack's attributes `provider_version` of hashicorp/aws does not accept, one line each
    (empty when the version is unknown: then terraform installs what the stack asks for)."""
    have = parse_version(provider_version) if provider_version else None
    if have is None:
        return []
    out = []
    for kind in ("resource", "data"):
        for rtype, name, body in _typed(stack_doc, kind):
            for (k, t, attr), first in PROVIDER_SKEW.items():
                if k != kind or t not in (rtype, "*") or attr not in body:
                    continue
                if t == "*" and attr == "region" and rtype in _REGION_BEFORE_6:
                    continue
                need = parse_version(first)
                if need is not None and have < need:
                    prefix = "data." if kind == "data" else ""
                    out.append(f"{prefix}{rtype}.{name}: {attr} needs hashicorp/aws >= {first}, "
                               f"the provider is {provider_version}")
    return sorted(out)


def _required_aws(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for tf in _blocks(doc.get("terraform")):
        for rp in _blocks(tf.get("required_providers")):
            aws = rp.get("aws")
            if isinstance(aws, Mapping):
                return aws
            if isinstance(aws, str):
                return {"version": aws}
    return None


def override_document(doc: Mapping[str, Any], *, aws_endpoint: str, account_id: str,
                      state_path: Path, provider_version: str | None) -> dict[str, Any]:
    """The override that points every aws provider block of `doc` at the sandbox."""
    blocks = aws_provider_blocks(doc) or [{}]
    services = services_of(doc)
    endpoint = aws_endpoint.rstrip("/")
    providers = []
    for block in blocks:
        p: dict[str, Any] = {
            "access_key": sandbox_access_key(account_id),
            "secret_key": SANDBOX_SECRET,
            "endpoints": [{s: endpoint for s in services}],
            "max_retries": MAX_RETRIES,
            "s3_use_path_style": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
        }
        if block.get("alias"):
            p["alias"] = block["alias"]
        providers.append(p)
    terraform: dict[str, Any] = {"backend": {"local": {"path": str(state_path)}}}
    required = _required_aws(doc)
    if provider_version and required is not None \
            and not version_allowed(provider_version, required.get("version")):
        # the mirror holds one version; a stack pinned to another could not init at all
        terraform["required_providers"] = {"aws": {
            "source": required.get("source", "hashicorp/aws"), "version": provider_version}}
    return {"//": "written by keyplane sandbox: the local sandbox, never a deploy",
            "provider": {"aws": providers}, "terraform": terraform}


def _regions(doc: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for block in aws_provider_blocks(doc):
        region = block.get("region")
        if isinstance(region, str):
            out[str(block.get("alias") or "")] = region
    return out


def prepare(stack_file: Path, work_dir: Path, *, aws_endpoint: str, account_id: str,
            state_path: Path | None = None) -> Workspace:
    """Copy `stack_file` into `work_dir` with the override that sends it to the sandbox.

    Everything is checked before anything is written: a local endpoint, a 12-digit account,
    an aws-only stack whose services the sandbox serves, terraform installed.
    """
    if not is_loopback(aws_endpoint):
        raise _fail(f"terraform into the sandbox needs a local endpoint (127.0.0.1, localhost, "
                    f"::1), got {aws_endpoint}")
    if not re.fullmatch(r"\d{12}", account_id):
        raise _fail(f"account_id must be 12 digits, got {account_id}")
    doc = read_stack(stack_file)
    others = sorted({name for section in _blocks(doc.get("provider")) for name in section}
                    - {"aws"})
    if others:
        raise _fail(f"stack {stack_file} configures provider(s) {', '.join(others)}; the sandbox "
                    "applies aws stacks only (`keyplane synth` writes <env>-aws)")
    services = services_of(doc)
    terraform = find_terraform()
    plugin_dir = find_plugin_dir()
    version = provider_version(plugin_dir)
    work_dir = work_dir.resolve()
    state = (state_path or work_dir / STATE_FILE).resolve()
    override_doc = override_document(doc, aws_endpoint=aws_endpoint, account_id=account_id,
                                     state_path=state, provider_version=version)
    work_dir.mkdir(parents=True, exist_ok=True)
    copy = work_dir / STACK_FILE
    if copy.resolve() != stack_file.resolve():
        shutil.copyfile(stack_file, copy)
    override = work_dir / OVERRIDE_FILE
    override.write_text(json.dumps(override_doc, indent=2) + "\n", encoding="utf-8")
    return Workspace(directory=work_dir, stack_file=copy, source=stack_file,
                     override_file=override, state_path=state, aws_endpoint=aws_endpoint,
                     account_id=account_id, regions=_regions(doc), terraform=terraform,
                     plugin_dir=plugin_dir, provider_version=version, services=services)


# --- seeding what data sources read --------------------------------------------------------------

def parameter_names(stack_doc: Mapping[str, Any]) -> dict[str, list[str]]:
    """The `data.aws_ssm_parameter` names of a stack, by provider alias ("" = the default)."""
    out: dict[str, list[str]] = {}
    for rtype, _, body in _typed(stack_doc, "data"):
        if rtype != "aws_ssm_parameter":
            continue
        name = body.get("name")
        if not isinstance(name, str) or "${" in name:
            raise _fail(f"data.aws_ssm_parameter name must be a literal to seed the sandbox, "
                        f"got {name!r}")
        provider = str(body.get("provider") or "")
        alias = provider.split(".", 1)[1] if "." in provider else ""
        out.setdefault(alias, [])
        if name not in out[alias]:
            out[alias].append(name)
    return out


def dummy_value() -> str:
    """A random stand-in for a secret the stack reads: 24 URL-safe characters, which fits the
    tightest use keyplane's stacks make (a custom key store's kmsuser password, 7-32)."""
    return secrets.token_urlsafe(18)


def seed_parameters(stack_doc: Mapping[str, Any], *, aws_endpoint: str, account_id: str,
                    region: str, workspace: Workspace | None = None) -> list[str]:
    """Create the stack's `data.aws_ssm_parameter` names in the sandbox (SecureString, a random
    value made here at run time, never printed) so the data sources resolve; `name (Region)`
    each.

    An existing parameter is kept: its value feeds resources (a custom key store's password),
    and a new value on every run would make the second plan non-empty. With `workspace`, the
    values are remembered there (never shown) so terraform's output is scrubbed of them.
    """
    names = parameter_names(stack_doc)
    if not names:
        return []
    from keyplane.cloud.aws.session import AwsClients, AwsConfig
    from keyplane.sandbox.aws_writer import seed_secure_parameters

    regions = _regions(stack_doc)
    clients = AwsClients(AwsConfig(region=region, endpoint_url=aws_endpoint,
                                   access_key_id=sandbox_access_key(account_id),
                                   secret_access_key=SANDBOX_SECRET, max_attempts=3))
    done = []
    for alias, wanted in sorted(names.items()):
        where = regions.get(alias) or region
        held = seed_secure_parameters(clients, where, {n: dummy_value() for n in wanted})
        if workspace is not None:
            workspace.secrets.update(held.values())
        done += [f"{n} ({where})" for n in held]
    return done


# --- running terraform ----------------------------------------------------------------------------

def _error_lines(output: str) -> str:
    """Terraform's error blocks (from the first `Error:`), else the output's last lines."""
    lines = [ln.rstrip() for ln in output.splitlines()]
    start = next((i for i, ln in enumerate(lines) if re.match(r"^[│ ]*Error: ", ln)), None)
    picked = lines[start:] if start is not None else lines
    picked = [ln for ln in picked if ln.strip("│╷╵ ")]
    return "\n".join(picked[-ERROR_LINES:]) or "(no output)"


def _run(ws: Workspace, name: str, args: list[str], *, ok: tuple[int, ...] = (0,),
         keep_stdout: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `terraform <args>` in the workspace; its output goes to a log file there."""
    # numbered on from earlier runs in the same work directory, so none is overwritten
    seq = len(list(ws.directory.glob("terraform-*.log"))) + 1
    log = ws.directory / f"terraform-{seq:02d}-{name}.log"
    ws.logs.append(log)
    cmd = [str(ws.terraform), *args]
    try:
        proc = subprocess.run(cmd, cwd=ws.directory, env=ws.env(), capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, check=False)
    except OSError as exc:
        raise _fail(f"cannot run {ws.terraform}: {exc}; {INSTALL_HINT}") from None
    with log.open("w", encoding="utf-8") as f:
        f.write(f"$ terraform {' '.join(args)}\n")
        if keep_stdout:
            f.write(ws.scrub(proc.stdout))
        f.write(ws.scrub(proc.stderr))
        f.write(f"\n(exit {proc.returncode})\n")
    if proc.returncode not in ok:
        # terraform masks sensitive values in plans but not in every validation error
        detail = ws.scrub(_error_lines(proc.stderr if proc.stderr.strip() else proc.stdout))
        raise _fail(f"terraform {name} of {ws.source} failed (exit {proc.returncode}); "
                    f"log {log}:\n{detail}")
    return proc


def init(ws: Workspace) -> None:
    """`terraform init`, the provider from the mirror when there is one."""
    # no -reconfigure: with it, a second init in the same work directory writes an empty
    # state over the previous apply's terraform.tfstate (found by applying twice)
    args = ["init", "-input=false", "-no-color"]
    if ws.plugin_dir is not None:
        args.append(f"-plugin-dir={ws.plugin_dir}")
    _run(ws, "init", args)


def validate(ws: Workspace) -> None:
    """`terraform validate` (after init)."""
    _run(ws, "validate", ["validate", "-no-color"])


def plan(ws: Workspace, *, out: Path | None = None, detailed_exitcode: bool = False) -> int:
    """`terraform plan`; its exit code: 0, or with `detailed_exitcode` 2 when there are changes."""
    args = ["plan", "-input=false", "-no-color", "-lock-timeout=60s"]
    if out is not None:
        args.append(f"-out={out}")
    if detailed_exitcode:
        args.append("-detailed-exitcode")
    return _run(ws, "plan", args, ok=(0, 2) if detailed_exitcode else (0,)).returncode


def show_json(ws: Workspace, planfile: Path) -> dict[str, Any]:
    """`terraform show -json PLANFILE`, parsed (kept out of the log: it holds sensitive values)."""
    proc = _run(ws, "show", ["show", "-json", "-no-color", str(planfile)], keep_stdout=False)
    try:
        doc = json.loads(proc.stdout)
    except ValueError as exc:
        raise _fail(f"terraform show -json of {planfile} is not json: {exc}") from None
    if not isinstance(doc, dict):
        raise _fail(f"terraform show -json of {planfile} is not a json object")
    return doc


def operate_account(aws_endpoint: str, account_id: str) -> None:
    """Ask the sandbox to follow AWS's CloudHSM lifecycle in `account_id` and to stand in for
    the operator's ceremony Terraform has no resource for (initialize and activate a cluster
    once an HSM is active); see `cloudhsm_fake`. The custom key store is not Terraform's:
    `keyplane keystore connect` creates and connects it."""
    url = f"{aws_endpoint.rstrip('/')}/_keyplane/cloudhsm"
    body = json.dumps({"add_operator_account": account_id}).encode()
    req = urllib.request.Request(url, data=body, method="PUT",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
    except (OSError, ValueError) as exc:
        raise _fail(f"{aws_endpoint} did not answer as a keyplane sandbox ({url}): {exc}") from None


def apply(ws: Workspace) -> None:
    """`terraform apply -auto-approve` into the sandbox (which stands in for the CloudHSM
    operator in the workspace's account, `operate_account`)."""
    operate_account(ws.aws_endpoint, ws.account_id)
    _run(ws, "apply", ["apply", "-input=false", "-no-color", "-auto-approve", "-lock-timeout=60s"])
