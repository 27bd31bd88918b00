"""`terraform show -json PLANFILE` -> Resources.

Follows Terraform's documented JSON output format
(https://developer.hashicorp.com/terraform/internals/json-format): `format_version`,
`planned_values`, `resource_changes[].change` (`actions`, `before`, `after`,
`after_unknown`, `before_sensitive`, `after_sensitive`), `prior_state` and
`configuration`. Unknown properties of a known major version are ignored.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from keyplane.errors import Problem
from keyplane.model.limits import TERRAFORM_PLAN_FORMAT_KNOWN_MINOR as KNOWN_PLAN_MINOR
from keyplane.model.limits import TERRAFORM_PLAN_FORMAT_MAJOR
from keyplane.policy.errors import (
    INPUT_MALFORMED,
    INPUT_UNSUPPORTED_FORMAT,
    PLAN_MINOR_VERSION,
    CheckInputError,
)
from keyplane.policy.inputs.context import context_from, tag_map
from keyplane.policy.inputs.defaults import provider_default
from keyplane.policy.model import SENSITIVE, AttrPath, Resource, fold_actions, walk_paths

_NOT_RESOURCES = frozenset({"var", "local", "each", "count", "path", "terraform", "self",
                            "module"})


def is_plan(doc: Any) -> bool:
    """Whether `doc` looks like `terraform show -json` output of a plan."""
    return isinstance(doc, Mapping) and "format_version" in doc and (
        "planned_values" in doc or "resource_changes" in doc)


def check_version(doc: Mapping[str, Any], source: str) -> list[Problem]:
    """Accept 1.x (warning about an unknown minor) and 0.1/0.2 that carry what the reader needs.

    Any other `format_version` is refused. A 0.x plan is read only when every change marks
    its unknown and sensitive values (`after_unknown`, `before_sensitive`,
    `after_sensitive`): without them an unknown would read as absent and a secret could
    reach a finding, so such a plan is refused rather than read open.
    """
    from keyplane.model.limits import TERRAFORM_PLAN_FORMAT_LEGACY_MAJOR as LEGACY_MAJOR
    from keyplane.model.limits import TERRAFORM_PLAN_FORMAT_LEGACY_MINORS as LEGACY_MINORS

    raw = doc.get("format_version")
    parts = str(raw).split(".") if isinstance(raw, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise CheckInputError(f"format_version must be '<major>.<minor>', got {raw!r}",
                              code=INPUT_MALFORMED, file=source, path="format_version")
    major, minor = int(parts[0]), int(parts[1])
    if major == TERRAFORM_PLAN_FORMAT_MAJOR:
        if minor > KNOWN_PLAN_MINOR:
            return [Problem(PLAN_MINOR_VERSION,
                            f"plan format_version {raw} is newer than {major}.{KNOWN_PLAN_MINOR}; "
                            "unknown properties are ignored", file=source, path="format_version")]
        return []
    if major != LEGACY_MAJOR or minor not in LEGACY_MINORS:
        legacy = " and ".join(f"{LEGACY_MAJOR}.{m}" for m in LEGACY_MINORS)
        raise CheckInputError(
            f"plan format_version {raw} is not supported; supported: "
            f"{TERRAFORM_PLAN_FORMAT_MAJOR}.x (terraform >= 1.1), {legacy} (terraform 0.12 to 1.0)",
            code=INPUT_UNSUPPORTED_FORMAT, file=source, path="format_version")
    changes = doc.get("resource_changes")
    planned = doc.get("planned_values")
    if not changes and isinstance(planned, Mapping) and \
            any(True for _ in _module_resources(planned.get("root_module"))):
        # 0.x planned_values may carry no sensitive_values: only resource_changes is safe.
        raise CheckInputError(f"plan format_version {raw} lists resources in planned_values "
                              "but has no resource_changes; a 0.x plan is read from "
                              "resource_changes only", code=INPUT_MALFORMED, file=source,
                              path="resource_changes")
    for i, rc in enumerate(changes if isinstance(changes, list) else []):
        change = rc.get("change") if isinstance(rc, Mapping) else None
        if not isinstance(change, Mapping) or rc.get("mode", "managed") != "managed":
            continue  # read_plan reports a malformed change; data sources are not read
        needed = {**({"after_unknown": "unknown", "after_sensitive": "sensitive"}
                     if change.get("after") is not None else {}),
                  **({"before_sensitive": "sensitive"} if change.get("before") is not None
                     else {})}
        for key, what in needed.items():
            if key not in change:
                raise CheckInputError(
                    f"plan format_version {raw} has no {key}, so which values are {what} "
                    "cannot be told; plan with terraform >= 1.1", code=INPUT_MALFORMED,
                    file=source, path=f"resource_changes[{i}].change.{key}")
    return []


def _expr_refs(expr: Any, out: set[str], prefix: str) -> None:
    """Resource addresses named by `references` anywhere inside one expression tree."""
    if isinstance(expr, Mapping):
        refs = expr.get("references")
        if isinstance(refs, list):
            for ref in refs:
                if not isinstance(ref, str):
                    continue
                parts = ref.split(".")
                if parts[0] in _NOT_RESOURCES:
                    continue
                if parts[0] == "data" and len(parts) >= 3:
                    out.add(prefix + ".".join(parts[:3]))
                elif len(parts) >= 2:
                    out.add(prefix + ".".join(parts[:2]).split("[")[0])
        for k, v in expr.items():
            if k != "references":
                _expr_refs(v, out, prefix)
    elif isinstance(expr, list):
        for v in expr:
            _expr_refs(v, out, prefix)


def _config_resources(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(module prefix, config address, resource) of every resource in `configuration`, child
    modules included (`module.<name>.` prefixes)."""
    config = doc.get("configuration")
    pending = [(config.get("root_module"), "")] if isinstance(config, Mapping) else []
    while pending:
        module, prefix = pending.pop()
        if not isinstance(module, Mapping):
            continue
        for res in module.get("resources") or []:
            if isinstance(res, Mapping) and isinstance(res.get("address"), str):
                yield prefix, prefix + res["address"], res
        calls = module.get("module_calls")
        if isinstance(calls, Mapping):
            pending += [(call.get("module"), f"{prefix}module.{name}.")
                        for name, call in calls.items() if isinstance(call, Mapping)]


def config_refs(doc: Mapping[str, Any]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Config address -> attribute -> referenced resource addresses, from `configuration`."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for prefix, address, res in _config_resources(doc):
        exprs = res.get("expressions")
        attrs: dict[str, tuple[str, ...]] = {}
        if isinstance(exprs, Mapping):
            for attr, expr in exprs.items():
                found: set[str] = set()
                _expr_refs(expr, found, prefix)
                if found:
                    attrs[attr] = tuple(sorted(found))
        out[address] = attrs
    return out


def config_expressions(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Config address -> its `expressions` object, from `configuration` (modules included)."""
    return {address: res["expressions"] for _, address, res in _config_resources(doc)
            if isinstance(res.get("expressions"), Mapping)}


_ABSENT = object()


def _expression_at(exprs: Mapping[str, Any], path: AttrPath) -> Any:
    """The configuration expression for one attribute path; `_ABSENT` when not configured.

    Attributes map to `{"constant_value": ...}` / `{"references": [...]}`; nested blocks
    to lists of such mappings, in the order the plan's values list them.
    """
    node: Any = exprs
    for step in path:
        if isinstance(node, Mapping) and isinstance(step, str):
            if step not in node:
                return _ABSENT
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int):
            if step >= len(node):
                return _ABSENT
            node = node[step]
        else:
            return None  # a shape the path cannot follow: leave the value unknown
    return node


def _set_path(values: dict[str, Any], path: AttrPath, value: Any) -> bool:
    node: Any = values
    for i, step in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, dict) and isinstance(step, str):
            node = node.setdefault(step, [] if isinstance(nxt, int) else {})
        elif isinstance(node, list) and isinstance(step, int):
            while len(node) <= step:
                node.append([] if isinstance(nxt, int) else {})
            node = node[step]
        else:
            return False
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str):
        node[last] = value
        return True
    if isinstance(node, list) and isinstance(last, int):
        while len(node) <= last:
            node.append(None)
        node[last] = value
        return True
    return False


def fill_from_configuration(rtype: str, values: Mapping[str, Any],
                            unknown: frozenset[AttrPath], exprs: Mapping[str, Any] | None,
                            sensitive: frozenset[AttrPath] = frozenset()
                            ) -> tuple[dict[str, Any], frozenset[AttrPath]]:
    """Resolve what a plan calls "known after apply" but its configuration decides.

    - A configured expression whose text Terraform records (`constant_value`: JSON-syntax
      configuration such as cdk.tf.json keeps templates like `${aws_kms_key.k.arn}`) is
      read as written, the way the synth reader reads it: the gate sees the reference and
      the literal around it, exactly what Terraform will evaluate.
    - An argument absent from the configuration takes the provider's documented default
      (`keyplane.policy.inputs.defaults`).
    Everything else (a reference-only expression, a computed attribute) stays unknown, and
    so does anything under a sensitive path (its configured text is never copied).
    """
    if not unknown:
        return dict(values), unknown
    filled = copy.deepcopy(dict(values))
    still: set[AttrPath] = set()
    for path in unknown:
        if not path or any(path[:len(s)] == s for s in sensitive):
            still.add(path)
            continue
        expr = _expression_at(exprs or {}, path) if exprs is not None else None
        if expr is _ABSENT and len(path) == 1:
            known, default = provider_default(rtype, str(path[0]))
            if known and _set_path(filled, path, default):
                continue
        elif isinstance(expr, Mapping) and "constant_value" in expr and \
                _set_path(filled, path, copy.deepcopy(expr["constant_value"])):
            continue
        still.add(path)
    return filled, frozenset(still)


def _redact(values: Any, paths: list[AttrPath], secrets: set[str]) -> Any:
    """A copy of `values` with every sensitive path replaced by SENSITIVE."""
    values = copy.deepcopy(values)
    for path in paths:
        if not path:
            return {}
        node = values
        for step in path[:-1]:
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if node is None:
            continue
        last = path[-1]
        try:
            _collect_strings(node[last], secrets)
            node[last] = SENSITIVE
        except (KeyError, IndexError, TypeError):
            continue
    return values


def _collect_strings(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        if len(value) >= 4:
            out.add(value)
    elif isinstance(value, Mapping):
        for v in value.values():
            _collect_strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _collect_strings(v, out)


def _module_resources(module: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(module, Mapping):
        return
    for res in module.get("resources") or []:
        if isinstance(res, Mapping):
            yield res
    for child in module.get("child_modules") or []:
        yield from _module_resources(child)


def _provider(name: Any, rtype: str) -> str:
    """`registry.terraform.io/hashicorp/aws` -> `aws`."""
    if isinstance(name, str) and name:
        return name.rsplit("/", 1)[-1]
    return rtype.split("_", 1)[0]


def read_plan(doc: Mapping[str, Any], *, source: str,
              secrets: set[str]) -> tuple[list[Resource], list[Problem]]:
    """Every managed resource of a plan, with its action, unknown and sensitive paths."""
    warnings = check_version(doc, source)
    refs = config_refs(doc)
    exprs = config_expressions(doc)
    changes = doc.get("resource_changes")
    out: list[Resource] = []
    if changes is not None and not isinstance(changes, list):
        raise CheckInputError(f"resource_changes must be a list, got {type(changes).__name__}",
                              code=INPUT_MALFORMED, file=source, path="resource_changes")
    if changes:
        for i, rc in enumerate(changes):
            where = f"resource_changes[{i}]"
            if not isinstance(rc, Mapping) or not isinstance(rc.get("change"), Mapping):
                raise CheckInputError("each resource change must be an object with a 'change' "
                                      "object", code=INPUT_MALFORMED, file=source, path=where)
            if rc.get("mode", "managed") != "managed":
                continue
            address, rtype = rc.get("address"), rc.get("type")
            if not isinstance(address, str) or not isinstance(rtype, str):
                raise CheckInputError("a resource change needs a string 'address' and 'type'",
                                      code=INPUT_MALFORMED, file=source, path=where)
            change = rc["change"]
            actions = change.get("actions")
            if isinstance(actions, list) and not all(isinstance(a, str) for a in actions):
                raise CheckInputError("change.actions must be a list of strings, got "
                                      f"{', '.join(sorted({type(a).__name__ for a in actions}))}"
                                      " items", code=INPUT_MALFORMED, file=source,
                                      path=f"{where}.change.actions")
            try:
                action = fold_actions(actions if isinstance(actions, list) else [])
            except ValueError as exc:
                raise CheckInputError(str(exc), code=INPUT_MALFORMED, file=source,
                                      path=f"{where}.change.actions") from None
            if action is None:
                raise CheckInputError("change.actions must be a non-empty list",
                                      code=INPUT_MALFORMED, file=source,
                                      path=f"{where}.change.actions")
            after = change.get("after")
            deleting = after is None
            values = change.get("before") if deleting else after
            if not isinstance(values, Mapping):
                values = {}
            sens_tree = change.get("before_sensitive" if deleting else "after_sensitive")
            sensitive = list(walk_paths(sens_tree))
            if sensitive:
                values = _redact(values, sensitive, secrets)
            unknown = frozenset() if deleting else frozenset(
                walk_paths(change.get("after_unknown")))
            # Configuration addresses carry no instance keys (count, for_each, modules).
            cfg_key = _config_address(str(rc["address"]))
            if unknown:
                values, unknown = fill_from_configuration(rtype, values, unknown,
                                                          exprs.get(cfg_key),
                                                          frozenset(sensitive))
            if rc.get("deposed"):
                address = f"{address} (deposed)"
            provider = _provider(rc.get("provider_name"), rtype)
            before = change.get("before")
            prior = context_from(tag_map(before, provider), provider) \
                if isinstance(before, Mapping) and not deleting else None
            out.append(Resource(
                address=address, type=rtype, name=str(rc.get("name", "")), provider=provider,
                values=values, source=source, input_kind="plan", unknown=unknown,
                sensitive=frozenset(sensitive), action=action,
                module=rc.get("module_address") if isinstance(rc.get("module_address"), str)
                else None,
                refs=refs.get(cfg_key, {}),
                context=context_from(tag_map(values, provider), provider),
                prior_context=prior))
        return out, warnings
    planned = doc.get("planned_values")
    if planned is not None and not isinstance(planned, Mapping):
        raise CheckInputError(f"planned_values must be an object, got {type(planned).__name__}",
                              code=INPUT_MALFORMED, file=source, path="planned_values")
    for res in _module_resources((planned or {}).get("root_module")):
        if res.get("mode", "managed") != "managed":
            continue
        address, rtype = res.get("address"), res.get("type")
        if not isinstance(address, str) or not isinstance(rtype, str):
            continue
        values = res.get("values") if isinstance(res.get("values"), Mapping) else {}
        sensitive = list(walk_paths(res.get("sensitive_values")))
        if sensitive:
            values = _redact(values, sensitive, secrets)
        provider = _provider(res.get("provider_name"), rtype)
        out.append(Resource(
            address=address, type=rtype, name=str(res.get("name", "")), provider=provider,
            values=values or {}, source=source, input_kind="plan",
            sensitive=frozenset(sensitive),
            refs=refs.get(_config_address(address), {}),
            context=context_from(tag_map(values or {}, provider), provider)))
    return out, warnings


def _config_address(address: str) -> str:
    """`module.a["x"].aws_kms_key.k[0]` -> `module.a.aws_kms_key.k` (the configuration address)."""
    if "[" not in address:
        return address
    out, depth = [], 0
    for ch in address:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)
