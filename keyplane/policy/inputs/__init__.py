"""The input edge: each format is read once, here, into the one Resource model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from keyplane.errors import Problem
from keyplane.policy.errors import INPUT_MALFORMED, INPUT_UNREADABLE, INPUT_UNRECOGNIZED, CheckInputError
from keyplane.policy.inputs.jsonload import read_json
from keyplane.policy.inputs.plan import is_plan, read_plan
from keyplane.policy.inputs.synth import read_synth
from keyplane.policy.model import Resource


@dataclass
class Loaded:
    """Everything read from the inputs: resources, files, warnings, and values to redact."""

    resources: list[Resource] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    warnings: list[Problem] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)


def _stack_files(directory: Path) -> list[tuple[Path, str]]:
    """The stacks of a `cdktf.out` directory: from manifest.json, else stacks/*/cdk.tf.json."""
    manifest = directory / "manifest.json"
    if manifest.is_file():
        doc = read_json(manifest)
        stacks = doc.get("stacks") if isinstance(doc, Mapping) else None
        if not isinstance(stacks, Mapping):
            raise CheckInputError("manifest.json has no 'stacks' object", code=INPUT_MALFORMED,
                                  file=str(manifest), path="stacks")
        out = []
        for name, stack in stacks.items():
            rel = stack.get("synthesizedStackPath") if isinstance(stack, Mapping) else None
            if not isinstance(rel, str):
                raise CheckInputError(f"stack '{name}' has no synthesizedStackPath",
                                      code=INPUT_MALFORMED, file=str(manifest),
                                      path=f"stacks.{name}")
            out.append((directory / rel, str(name)))
        return out
    found = sorted(directory.glob("stacks/*/cdk.tf.json"))
    if not found and (directory / "cdk.tf.json").is_file():
        found = [directory / "cdk.tf.json"]
    if not found:
        raise CheckInputError("directory holds no manifest.json and no stacks/*/cdk.tf.json; "
                              "expected a cdktf.out directory", code=INPUT_UNRECOGNIZED,
                              file=str(directory))
    return [(p, p.parent.name) for p in found]


def load_file(path: Path, loaded: Loaded, stack: str | None = None) -> None:
    """Read one JSON file (synth or plan) into `loaded`."""
    doc = read_json(path)
    source = str(path)
    loaded.files.append(source)
    if is_plan(doc):
        resources, warnings = read_plan(doc, source=source, secrets=loaded.secrets)
        loaded.kinds.add("plan")
        loaded.resources.extend(resources)
        loaded.warnings.extend(warnings)
        return
    if isinstance(doc, Mapping) and "format_version" in doc and "values" in doc:
        raise CheckInputError("this is terraform state json, not a plan; give "
                              "`terraform show -json PLANFILE` output or synth json",
                              code=INPUT_UNRECOGNIZED, file=source)
    if isinstance(doc, Mapping) and ("resource" in doc or "terraform" in doc or "//" in doc):
        loaded.kinds.add("synth")
        loaded.resources.extend(read_synth(doc, source=source,
                                           stack=stack or path.parent.name))
        return
    raise CheckInputError("json is neither synth json (cdk.tf.json) nor a terraform plan "
                          "(format_version with planned_values or resource_changes)",
                          code=INPUT_UNRECOGNIZED, file=source)


def load_inputs(paths: Iterable[Path]) -> Loaded:
    """Read every input path: a cdktf.out directory, a cdk.tf.json, or plan JSON."""
    loaded = Loaded()
    for path in paths:
        if path.is_dir():
            for file, stack in _stack_files(path):
                load_file(file, loaded, stack)
        elif path.exists():
            load_file(path, loaded)
        else:
            raise CheckInputError("no such file or directory", code=INPUT_UNREADABLE,
                                  file=str(path))
    return loaded
