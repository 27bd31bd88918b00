"""`cdk.tf.json` (Terraform JSON configuration written by `keyplane synth`) -> Resources."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from keyplane.policy.errors import INPUT_MALFORMED, CheckInputError
from keyplane.policy.inputs.context import context_from, tag_map
from keyplane.policy.model import Resource

# Meta-arguments of a resource block: not attribute values.
_META = frozenset({"//", "lifecycle", "depends_on", "provider", "count", "for_each",
                   "provisioner", "connection"})
_INTERP = re.compile(r"\$\{([^}]*)\}")
_REF = re.compile(r"(?<![\w.\-])((?:data\.)?[a-z][a-z0-9]*_[a-z0-9_]+\.[A-Za-z_][\w-]*)")


def references(value: Any, out: set[str]) -> None:
    """Collect `type.name` (and `data.type.name`) targets of every `${...}` inside `value`."""
    if isinstance(value, str):
        if "${" in value:
            for expr in _INTERP.findall(value):
                out.update(_REF.findall(expr))
    elif isinstance(value, Mapping):
        for v in value.values():
            references(v, out)
    elif isinstance(value, list):
        for v in value:
            references(v, out)


def _provider_defaults(doc: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Default tags/labels of the unaliased provider blocks, by provider name."""
    out: dict[str, dict[str, str]] = {}
    providers = doc.get("provider")
    if not isinstance(providers, Mapping):
        return out
    for name, configs in providers.items():
        blocks = configs if isinstance(configs, list) else [configs]
        for cfg in blocks:
            if not isinstance(cfg, Mapping) or cfg.get("alias"):
                continue
            if name == "aws":
                dt_blocks = cfg.get("default_tags")
                for block in dt_blocks if isinstance(dt_blocks, list) else [dt_blocks]:
                    if isinstance(block, Mapping) and isinstance(block.get("tags"), Mapping):
                        out.setdefault(name, {}).update(block["tags"])
            elif name in ("google", "google-beta") and isinstance(cfg.get("default_labels"),
                                                                   Mapping):
                out.setdefault("google", {}).update(cfg["default_labels"])
    return out


def provider_defaults(doc: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Default tags (aws) and labels (google) of a stack's unaliased provider blocks, by provider."""
    return _provider_defaults(doc)


def provider_of(rtype: str) -> str:
    """`aws_kms_key` -> `aws`, `google_kms_crypto_key` -> `google`."""
    return rtype.split("_", 1)[0]


def resource_regions(doc: Mapping[str, Any]) -> dict[str, str]:
    """Address -> the region (location) of the provider configuration each resource uses.

    A resource names its configuration in the `provider` meta-argument (`aws.us_west_2`),
    else it uses the unaliased one; only configurations that state a literal region count.
    """
    configs: dict[str, str] = {}
    providers = doc.get("provider")
    if isinstance(providers, Mapping):
        for name, blocks in providers.items():
            for cfg in blocks if isinstance(blocks, list) else [blocks]:
                if not isinstance(cfg, Mapping):
                    continue
                region = cfg.get("region")
                if isinstance(region, str) and "${" not in region:
                    alias = cfg.get("alias")
                    configs[f"{name}.{alias}" if isinstance(alias, str) else str(name)] = region
    out: dict[str, str] = {}
    blocks = doc.get("resource")
    items = blocks if isinstance(blocks, list) else [blocks]
    for item in items:
        if not isinstance(item, Mapping):
            continue
        for rtype, by_name in item.items():
            if not isinstance(by_name, Mapping):
                continue
            for name, body in by_name.items():
                if not isinstance(body, Mapping):
                    continue
                ref = body.get("provider")
                region = configs.get(ref if isinstance(ref, str) else provider_of(str(rtype)))
                if region is not None:
                    out[f"{rtype}.{name}"] = region
    return out


def read_synth(doc: Any, *, source: str, stack: str | None) -> list[Resource]:
    """Every managed resource of one synthesized stack."""
    if not isinstance(doc, Mapping):
        raise CheckInputError(f"synth json must be an object, got {type(doc).__name__}",
                              code=INPUT_MALFORMED, file=source)
    blocks = doc.get("resource") or {}
    if isinstance(blocks, list):  # the JSON syntax also allows a list of objects
        merged: dict[str, Any] = {}
        for item in blocks:
            if isinstance(item, Mapping):
                for k, v in item.items():
                    merged.setdefault(k, {}).update(v)
        blocks = merged
    if not isinstance(blocks, Mapping):
        raise CheckInputError(f"'resource' must be an object, got {type(blocks).__name__}",
                              code=INPUT_MALFORMED, file=source, path="resource")
    defaults = _provider_defaults(doc)
    out: list[Resource] = []
    for rtype, by_name in blocks.items():
        if not isinstance(by_name, Mapping):
            raise CheckInputError(f"resource.{rtype} must be an object of named resources, "
                                  f"got {type(by_name).__name__}", code=INPUT_MALFORMED,
                                  file=source, path=f"resource.{rtype}")
        provider = provider_of(rtype)
        for name, body in by_name.items():
            if not isinstance(body, Mapping):
                raise CheckInputError(f"resource.{rtype}.{name} must be an object, got "
                                      f"{type(body).__name__}", code=INPUT_MALFORMED,
                                      file=source, path=f"resource.{rtype}.{name}")
            meta = body.get("//")
            path = None
            if isinstance(meta, Mapping) and isinstance(meta.get("metadata"), Mapping):
                found = meta["metadata"].get("path")
                path = found if isinstance(found, str) else None
            lifecycle = body.get("lifecycle")
            prevent = False
            if isinstance(lifecycle, Mapping):
                prevent = lifecycle.get("prevent_destroy") is True
            values = {k: v for k, v in body.items() if k not in _META}
            refs: dict[str, tuple[str, ...]] = {}
            for attr, value in values.items():
                found_refs: set[str] = set()
                references(value, found_refs)
                if found_refs:
                    refs[attr] = tuple(sorted(found_refs))
            tags = tag_map(values, provider, defaults.get(provider))
            out.append(Resource(
                address=f"{rtype}.{name}", type=rtype, name=name, provider=provider,
                values=values, source=source, input_kind="synth", construct_path=path,
                stack=stack, prevent_destroy=prevent, refs=refs,
                context=context_from(tags, provider)))
    return out
