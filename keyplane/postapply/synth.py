"""A tolerant reader of the synthesized stacks (`cdktf.out/stacks/<env>-<cloud>/cdk.tf.json`).

The post-apply jobs take their expected state from what `keyplane synth` wrote,
when it is there. Terraform JSON allows a few shapes (objects or lists of objects)
and values unknown until apply (`${...}`); the reader accepts them all, resolves
the references it can (role ARNs from role names and the environment's account,
the caller's account and partition), and leaves the rest as `UNRESOLVED`, which
the comparisons treat as unknown, never as a difference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyplane.documents import loads
from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud
from keyplane.model.stacks import DEFAULT_OUT_DIR, stack_file
from keyplane.policy.policydoc import UNRESOLVED
from keyplane.postapply.errors import SYNTH_INVALID, SYNTH_MISSING, HookSetupError

_INTERP = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class SynthResource:
    """One resource block: its type, name, attributes and construct path."""

    type: str
    name: str
    attrs: Mapping[str, Any]
    construct_path: str | None

    @property
    def address(self) -> str:
        """The Terraform address, `aws_kms_key.code_signing`."""
        return f"{self.type}.{self.name}"


def _merge_blocks(blocks: Any) -> dict[str, Any]:
    if isinstance(blocks, list):
        merged: dict[str, Any] = {}
        for item in blocks:
            if isinstance(item, Mapping):
                for k, v in item.items():
                    if isinstance(v, Mapping):
                        merged.setdefault(k, {}).update(v)
        return merged
    return dict(blocks) if isinstance(blocks, Mapping) else {}


class SynthStack:
    """The resources of one synthesized stack, with a resolver for `${...}` references."""

    def __init__(self, doc: Mapping[str, Any], *, source: str, account_id: str | None = None,
                 region: str | None = None, partition: str = "aws") -> None:
        self.source = source
        self.account_id = account_id
        self.region = region
        self.partition = partition
        self._resources: list[SynthResource] = []
        for rtype, by_name in _merge_blocks(doc.get("resource")).items():
            for name, attrs in _merge_blocks(by_name).items():
                if not isinstance(attrs, Mapping):
                    continue
                meta = attrs.get("//")
                path = None
                if isinstance(meta, Mapping) and isinstance(meta.get("metadata"), Mapping):
                    raw = meta["metadata"].get("path")
                    path = raw if isinstance(raw, str) else None
                self._resources.append(SynthResource(rtype, name, attrs, path))
        self._default_tags = self._provider_tags(doc.get("provider"))

    @staticmethod
    def _provider_tags(providers: Any) -> dict[str, str]:
        tags: dict[str, str] = {}
        if not isinstance(providers, Mapping):
            return tags
        aws = providers.get("aws")
        for cfg in aws if isinstance(aws, list) else [aws]:
            if not isinstance(cfg, Mapping) or cfg.get("alias"):
                continue
            blocks = cfg.get("default_tags")
            for block in blocks if isinstance(blocks, list) else [blocks]:
                if isinstance(block, Mapping) and isinstance(block.get("tags"), Mapping):
                    tags.update({str(k): str(v) for k, v in block["tags"].items()})
        return tags

    def resources(self, rtype: str) -> Iterator[SynthResource]:
        """Every resource of type `rtype`."""
        return (r for r in self._resources if r.type == rtype)

    def get(self, rtype: str, name: str) -> SynthResource | None:
        """The resource `rtype.name`, if the stack has it."""
        return next((r for r in self._resources if r.type == rtype and r.name == name), None)

    def tags(self, res: SynthResource) -> dict[str, str]:
        """A resource's tags merged over the provider's default tags."""
        own = res.attrs.get("tags")
        merged = dict(self._default_tags)
        if isinstance(own, Mapping):
            merged.update({str(k): str(v) for k, v in own.items()})
        return merged

    def _resolve_expr(self, expr: str) -> str | None:
        parts = expr.strip().split(".")
        if parts[:2] == ["data", "aws_caller_identity"] and parts[-1] == "account_id":
            return self.account_id
        if parts[:2] == ["data", "aws_partition"] and parts[-1] == "partition":
            return self.partition
        if parts[:2] == ["data", "aws_region"] and parts[-1] in ("name", "region", "id"):
            return self.region
        if len(parts) == 3 and parts[0] == "aws_iam_role" and parts[2] in ("arn", "name"):
            role = self.get("aws_iam_role", parts[1])
            name = role.attrs.get("name") if role else None
            if not isinstance(name, str) or "${" in name:
                return None
            if parts[2] == "name":
                return name
            if self.account_id is None:
                return None
            path = role.attrs.get("path", "/") if role else "/"
            path = path if isinstance(path, str) and "${" not in path else "/"
            return f"arn:{self.partition}:iam::{self.account_id}:role{path}{name}"
        return None

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

    def reference_target(self, value: Any) -> tuple[str, str] | None:
        """`${aws_kms_key.x.key_id}` -> (`aws_kms_key`, `x`); None for anything else."""
        if not isinstance(value, str):
            return None
        m = _INTERP.fullmatch(value.strip())
        if not m:
            return None
        parts = m.group(1).strip().split(".")
        return (parts[0], parts[1]) if len(parts) >= 2 and parts[0] != "data" else None

    def policy(self, raw: Any) -> dict[str, Any] | None:
        """A policy attribute (JSON string or object), parsed and resolved; None if unreadable."""
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


def _read_stack(path: Path) -> Mapping[str, Any]:
    try:
        doc = loads(path.read_text(encoding="utf-8"))  # too deep: a ValueError too
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HookSetupError(f"synthesized stack {path} is not readable json: {exc}",
                             code=SYNTH_INVALID) from None
    if not isinstance(doc, Mapping):
        raise HookSetupError(f"synthesized stack {path} must be a json object, got "
                             f"{type(doc).__name__}", code=SYNTH_INVALID)
    return doc


def _merge_docs(docs: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The stacks of one environment's clouds as one document (their addresses are disjoint)."""
    merged: dict[str, Any] = {"resource": {}, "data": {}, "provider": {}}
    for doc in docs:
        for section in merged:
            for rtype, blocks in _merge_blocks(doc.get(section)).items():
                if section == "provider":
                    merged[section][rtype] = blocks
                else:
                    merged[section].setdefault(rtype, {}).update(_merge_blocks(blocks))
    return merged


def _partition(region: str | None) -> str:
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    if region and region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def load_stack(path: Path, *, account_id: str | None, region: str | None) -> SynthStack | None:
    """The one synthesized stack at `path`, or None when it has not been synthesized."""
    if not path.is_file():
        return None
    return SynthStack(_read_stack(path), source=str(path), account_id=account_id,
                      region=region, partition=_partition(region))


def load_environment_stacks(env: Environment, out_dir: Path = DEFAULT_OUT_DIR) -> SynthStack:
    """Every cloud's stack of `env` (`<env>-aws`, `<env>-gcp`), read as one.

    The synthesized stacks are the expected state of post-apply, the sandbox and the drills;
    nothing re-derives them. A missing stack is a setup error (exit 2) that says how to make
    it, never a run against a guess.
    """
    paths = [stack_file(env.name, cloud, out_dir) for cloud in Cloud if env.keys_on(cloud)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise HookSetupError(
            f"no synthesized stack at {', '.join(str(p) for p in missing)}; run `keyplane synth "
            f"{env.name}` first (or give --synth-dir where it wrote cdktf.out)",
            code=SYNTH_MISSING)
    docs = [_read_stack(p) for p in paths]
    region = env.aws.region if env.aws else None
    return SynthStack(_merge_docs(docs), source=", ".join(str(p) for p in paths),
                      account_id=env.aws.account_id if env.aws else None, region=region,
                      partition=_partition(region))
