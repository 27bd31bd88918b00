"""The synthesized stacks of an environment, read through the gate's reader.

`keyplane synth` writes one stack per cloud (`cdktf.out/stacks/<env>-<cloud>/cdk.tf.json`);
post-apply, the sandbox and the drills take their expected state from them. Each stack is
read by `keyplane.policy.inputs.synth` into the one Resource model (with its tier context);
this module adds what comparing with a deployed state needs: the references it can resolve
before apply (role, SNS topic, OIDC provider and managed policy ARNs from their names and the
environment's account, log group names, the caller's account, partition and Region). A
reference only apply can resolve stays `UNRESOLVED`, which the comparisons read as "any
value", never as a difference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyplane.documents import loads
from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud, Origin
from keyplane.model.stacks import DEFAULT_OUT_DIR, hsm_stack_file, stack_file
from keyplane.policy.errors import CheckInputError
from keyplane.policy.inputs.context import tag_map
from keyplane.policy.inputs.synth import provider_defaults, read_synth, resource_regions
from keyplane.policy.model import Resource
from keyplane.policy.policydoc import UNRESOLVED
from keyplane.postapply.errors import SYNTH_INVALID, SYNTH_MISSING, HookSetupError

_INTERP = re.compile(r"\$\{([^}]*)\}")
# Resource types whose ARN the stack's own attributes (and the account) tell before apply.
_ARN_OF = ("aws_sns_topic", "aws_iam_openid_connect_provider", "aws_iam_policy")


@dataclass(frozen=True)
class Stacks:
    """The resources of an environment's synthesized stacks, read as one."""

    source: str  # the stack files, comma-separated
    items: tuple[Resource, ...]
    account_id: str | None = None
    region: str | None = None
    partition: str = "aws"
    # address -> the region of the provider configuration the resource uses
    regions: Mapping[str, str] | None = None
    # source file -> provider -> default tags/labels
    defaults: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None

    def resources(self, rtype: str) -> Iterator[Resource]:
        """Every resource of type `rtype`, in the stacks' order."""
        return (r for r in self.items if r.type == rtype)

    def get(self, rtype: str, name: str) -> Resource | None:
        """The resource `rtype.name`, if a stack has it."""
        return next((r for r in self.items if r.type == rtype and r.name == name), None)

    def region_of(self, res: Resource) -> str | None:
        """The region of the provider configuration `res` uses (None: not stated)."""
        return (self.regions or {}).get(res.address)

    def tags(self, res: Resource) -> dict[str, str]:
        """A resource's tags (labels) merged over its provider's default tags (labels)."""
        defaults = (self.defaults or {}).get(res.source, {}).get(res.provider)
        return tag_map(res.values, res.provider, defaults)

    def _resolve_expr(self, expr: str) -> str | None:
        parts = expr.strip().split(".")
        if parts[:2] == ["data", "aws_caller_identity"] and parts[-1] == "account_id":
            return self.account_id
        if parts[:2] == ["data", "aws_partition"] and parts[-1] == "partition":
            return self.partition
        if parts[:2] == ["data", "aws_region"] and parts[-1] in ("name", "region", "id"):
            return self.region
        if len(parts) == 3 and parts[0] in _ARN_OF and parts[2] == "arn":
            return self._arn_of(parts[0], parts[1])
        if len(parts) == 3 and parts[0] == "aws_cloudwatch_log_group" and parts[2] == "name":
            group = self.get(parts[0], parts[1])
            name = group.raw("name") if group else None
            return name if isinstance(name, str) and "${" not in name else None
        if len(parts) == 3 and parts[0] == "aws_iam_role" and parts[2] in ("arn", "name"):
            role = self.get("aws_iam_role", parts[1])
            name = role.raw("name") if role else None
            if not isinstance(name, str) or "${" in name:
                return None
            if parts[2] == "name":
                return name
            if self.account_id is None:
                return None
            path = role.raw("path") if role else None
            path = path if isinstance(path, str) and "${" not in path else "/"
            return f"arn:{self.partition}:iam::{self.account_id}:role{path}{name}"
        return None

    def _arn_of(self, rtype: str, name: str) -> str | None:
        """The ARN apply gives an SNS topic, an OIDC provider or a customer managed policy the
        stack names outright; None when it depends on anything only apply knows."""
        res = self.get(rtype, name)
        if res is None or self.account_id is None:
            return None
        acct, part = self.account_id, self.partition
        if rtype == "aws_sns_topic":
            topic = res.raw("name")
            region = self.region_of(res) or self.region
            if not isinstance(topic, str) or "${" in topic or region is None:
                return None
            return f"arn:{part}:sns:{region}:{acct}:{topic}"
        if rtype == "aws_iam_openid_connect_provider":
            url = res.raw("url")
            if not isinstance(url, str) or "${" in url:
                return None
            return f"arn:{part}:iam::{acct}:oidc-provider/{url.split('://', 1)[-1].rstrip('/')}"
        policy = res.raw("name")
        path = res.raw("path")
        path = path if isinstance(path, str) and "${" not in path else "/"
        if not isinstance(policy, str) or "${" in policy:
            return None
        return f"arn:{part}:iam::{acct}:policy{path}{policy}"

    def resolve(self, value: Any) -> Any:
        """`value` with every resolvable `${...}` replaced; the rest becomes `UNRESOLVED`."""
        if isinstance(value, str):
            if "${" not in value:
                return value

            def sub(m: re.Match[str]) -> str:
                got = self._resolve_expr(m.group(1))
                return got if got is not None else UNRESOLVED
            return _INTERP.sub(sub, value)
        if isinstance(value, Mapping):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def policy(self, raw: Any) -> dict[str, Any] | None:
        """A policy attribute (JSON text or object), parsed and resolved; None if unreadable."""
        if isinstance(raw, Mapping):
            return dict(self.resolve(raw))
        if not isinstance(raw, str):
            return None
        if _INTERP.fullmatch(raw.strip()):
            return None  # the whole document comes from another resource (a data source)
        try:
            doc = loads(raw)
        except ValueError:
            try:  # references inside string values survive JSON parsing; only bare ones break it
                doc = loads(_INTERP.sub(lambda m: UNRESOLVED, raw))
            except ValueError:
                return None
        return self.resolve(doc) if isinstance(doc, dict) else None


def matches(expected: str, actual: str) -> bool:
    """Whether `actual` is the value the stack states (`UNRESOLVED` inside it matches any text)."""
    if UNRESOLVED not in expected:
        return expected == actual
    return re.fullmatch(".*?".join(re.escape(p) for p in expected.split(UNRESOLVED)),
                        actual, flags=re.DOTALL) is not None


def reference_target(value: Any) -> tuple[str, str] | None:
    """`${aws_kms_key.x.key_id}` -> (`aws_kms_key`, `x`); None for anything else."""
    if not isinstance(value, str):
        return None
    m = _INTERP.fullmatch(value.strip())
    if not m:
        return None
    parts = m.group(1).strip().split(".")
    return (parts[0], parts[1]) if len(parts) >= 2 and parts[0] != "data" else None


def _read_doc(path: Path) -> Mapping[str, Any]:
    try:
        doc = loads(path.read_text(encoding="utf-8"))  # too deep: a ValueError too
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HookSetupError(f"synthesized stack {path} is not readable json: {exc}",
                             code=SYNTH_INVALID) from None
    if not isinstance(doc, Mapping):
        raise HookSetupError(f"synthesized stack {path} must be a json object, got "
                             f"{type(doc).__name__}", code=SYNTH_INVALID)
    return doc


def partition(region: str | None) -> str:
    """The AWS partition of `region`: aws, aws-us-gov or aws-cn."""
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    if region and region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def read_stacks(paths: list[Path], *, account_id: str | None, region: str | None) -> Stacks:
    """The stacks at `paths` read as one (their addresses are disjoint); KP608 if one is bad."""
    items: list[Resource] = []
    regions: dict[str, str] = {}
    defaults: dict[str, Mapping[str, Mapping[str, str]]] = {}
    for path in paths:
        doc = _read_doc(path)
        try:
            items += read_synth(doc, source=str(path), stack=path.parent.name)
        except CheckInputError as exc:
            raise HookSetupError(f"synthesized stack {path} is not a stack: {exc.message}",
                                 code=SYNTH_INVALID) from None
        regions.update(resource_regions(doc))
        defaults[str(path)] = provider_defaults(doc)
    return Stacks(source=", ".join(str(p) for p in paths), items=tuple(items),
                  account_id=account_id, region=region, partition=partition(region),
                  regions=regions, defaults=defaults)


def load_stack(path: Path, *, account_id: str | None, region: str | None) -> Stacks | None:
    """The one synthesized stack at `path`, or None when it has not been synthesized."""
    if not path.is_file():
        return None
    return read_stacks([path], account_id=account_id, region=region)


def load_environment_stacks(env: Environment, out_dir: Path = DEFAULT_OUT_DIR) -> Stacks:
    """Every cloud's stack of `env` (`<env>-aws`, `<env>-gcp`, and `<env>-aws-hsm` where ca
    keys live in a CloudHSM key store), read as one.

    The synthesized stacks are the expected state of post-apply, the sandbox and the drills;
    nothing re-derives them. A missing stack is a setup error (exit 2) that says how to make
    it, never a run against a guess.
    """
    paths = [stack_file(env.name, cloud, out_dir) for cloud in Cloud if env.keys_on(cloud)]
    if any(k.origin is Origin.CLOUDHSM for k in env.keys_on(Cloud.AWS)):
        paths.append(hsm_stack_file(env.name, out_dir))
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise HookSetupError(
            f"no synthesized stack at {', '.join(str(p) for p in missing)}; run `keyplane synth "
            f"{env.name}` first (or give --synth-dir where it wrote cdktf.out)",
            code=SYNTH_MISSING)
    return read_stacks(paths, account_id=env.aws.account_id if env.aws else None,
                       region=env.aws.region if env.aws else None)
