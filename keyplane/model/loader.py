"""Load `environments/*.yaml` into validated, filled-in `Environment` objects.

All or nothing: a file with any problem yields no environment, and every
problem of every file is reported together (InventoryError).
"""

from __future__ import annotations

import difflib
import tempfile
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from keyplane.errors import InventoryError, Problem, UsageError
from keyplane.model.checks import Checker, check_duplicates, check_environment
from keyplane.model.environment import Environment
from keyplane.model.secrets import find_secrets
from keyplane.model.source import Path_, SourceDoc, dotted, parse_yaml

DEFAULT_DIR = Path("environments")


@dataclass(frozen=True)
class Estate:
    """Every environment of the inventory, by name."""

    environments: tuple[Environment, ...]

    def get(self, name: str) -> Environment:
        """The environment called `name`."""
        for env in self.environments:
            if env.name == name:
                return env
        names = ", ".join(e.name for e in self.environments)
        raise UsageError(f"unknown environment '{name}'; declared: {names}", code="KP003")


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model class that validates the value at `loc`."""
    model: type[BaseModel] | None = Environment
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = _first_model(info.annotation)
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple, list):
        for arg in typing.get_args(annotation):
            found = _first_model(arg)
            if found is not None:
                return found
    return None


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _pydantic_problems(doc: SourceDoc, exc: ValidationError) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc: Path_ = tuple(err["loc"])
        field = str(loc[-1]) if loc else "document"
        kind = err["type"]
        ctx = err.get("ctx") or {}
        if kind == "extra_forbidden":
            parent = _model_at(loc[:-1])
            allowed = sorted(parent.model_fields) if parent else []
            allowed = [a for a in allowed if a != "source_file"]
            close = difflib.get_close_matches(field, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            out.append(doc.problem("KP103", f"unknown field '{field}'{hint} allowed: "
                                            f"{', '.join(allowed)}", loc))
        elif kind == "missing":
            out.append(doc.problem("KP105", f"missing required field '{field}'", loc))
        elif kind in ("enum", "literal_error"):
            expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
            close = difflib.get_close_matches(str(err["input"]), expected.split(", "), n=1) \
                if isinstance(err["input"], str) else []
            hint = f"; did you mean '{close[0]}'?" if close else ""
            out.append(doc.problem("KP104", f"{field} must be one of {expected}, got "
                                            f"{_shown(err['input'])}{hint}", loc))
        elif kind == "string_pattern_mismatch":
            out.append(doc.problem("KP104", f"{field} must match {ctx.get('pattern')}, got "
                                            f"{_shown(err['input'])}", loc))
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            out.append(doc.problem("KP103", f"{field} must be a mapping, got "
                                            f"{type(err['input']).__name__}", loc))
        elif kind in ("tuple_type", "list_type"):
            out.append(doc.problem("KP103", f"{field} must be a list, got "
                                            f"{type(err['input']).__name__}", loc))
        elif kind == "string_type":
            hint = " (quote it)" if isinstance(err["input"], int | float) else ""
            out.append(doc.problem("KP104", f"{field} must be a string{hint}, got "
                                            f"{type(err['input']).__name__}", loc))
        else:
            msg = err["msg"][0].lower() + err["msg"][1:]
            out.append(doc.problem("KP104", f"{field}: {msg}, got {_shown(err['input'])}", loc))
    return out


def load_document(doc: SourceDoc, expected_name: str | None = None
                  ) -> tuple[Environment | None, list[Problem]]:
    """Validate one parsed document; no environment unless it has no problem at all."""
    if not isinstance(doc.data, dict):
        got = "an empty file" if doc.data is None else type(doc.data).__name__
        return None, [doc.problem("KP103", f"an environment file must be a mapping, got {got}")]
    secrets = find_secrets(doc.data)
    if secrets:
        return None, [doc.problem(
            "KP112", f"{dotted(path)} holds {kind}; keyplane refuses secret material in the "
                     "inventory: remove it, rotate it, and reference it by ssm parameter or "
                     "secrets manager name", path) for path, kind in secrets]
    chk = Checker(doc)
    check_duplicates(chk, doc.data)
    problems = list(chk.problems)
    try:
        env = Environment.model_validate(doc.data)
    except ValidationError as exc:
        return None, problems + _pydantic_problems(doc, exc)
    if expected_name is not None and env.name != expected_name:
        problems.append(doc.problem("KP104", f"name '{env.name}' must match the file name "
                                             f"'{expected_name}'", ("name",)))
    env, more = check_environment(doc, env)
    problems += more
    if problems:
        return None, problems
    return env.model_copy(update={"source_file": doc.file}), []


def load_text(text: str, path: Path) -> tuple[Environment | None, list[Problem]]:
    """The environment `text` would be if written to `path`, loaded as `keyplane validate`
    loads it (problems located in `path`), without touching `path`: commands that edit an
    environment file check their result with it before they write."""
    with tempfile.TemporaryDirectory(prefix=".keyplane-edit-") as tmp:
        candidate = Path(tmp) / path.name
        candidate.write_text(text, encoding="utf-8")
        doc, problems = parse_yaml(candidate, display=str(path))
        if doc is None:
            return None, problems
        return load_document(doc, expected_name=path.stem)


def load_environment(path: Path) -> Environment:
    """Load one environment file; InventoryError with every problem when it is invalid."""
    doc, problems = parse_yaml(path)
    if doc is None:
        raise InventoryError(problems)
    env, problems = load_document(doc, expected_name=path.stem)
    if env is None:
        raise InventoryError(problems)
    return env


def _isolation(envs: list[tuple[Environment, SourceDoc]]) -> list[Problem]:
    """Two environments on one account or project share a blast radius: refuse it."""
    problems = []
    for attr, path in (("aws", ("aws", "account_id")), ("gcp", ("gcp", "project_id"))):
        seen: dict[str, tuple[Environment, SourceDoc]] = {}
        for env, doc in envs:
            section = getattr(env, attr)
            if section is None:
                continue
            ident = getattr(section, path[1])
            if ident in seen:
                other, odoc = seen[ident]
                line, col = odoc.where(path)
                mixed = " (production shares with non-production)" if other.kind != env.kind \
                    else ""
                problems.append(doc.problem(
                    "KP108", f"{attr} {path[1]} '{ident}' is also used by environment "
                             f"'{other.name}' at {odoc.file}:{line}:{col}{mixed}; every "
                             "environment needs its own account/project", path))
            else:
                seen[ident] = (env, doc)
    return problems


def environment_files(directory: Path) -> list[Path]:
    """The environment files of `directory`, sorted by name."""
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def resolve_targets(targets: Iterable[str], directory: Path = DEFAULT_DIR) -> list[Path]:
    """Environment names or file paths -> files; every file of `directory` when none given."""
    targets = list(targets)
    if not targets:
        files = environment_files(directory)
        if not files:
            raise UsageError(f"no environment files (*.yaml) in {directory}", code="KP003")
        return files
    out = []
    for target in targets:
        candidate = Path(target)
        if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
            if not candidate.is_file():
                raise UsageError(f"no such environment file: {target}", code="KP003")
            out.append(candidate)
            continue
        named = [directory / f"{target}.yaml", directory / f"{target}.yml"]
        found = next((p for p in named if p.is_file()), None)
        if found is None:
            known = ", ".join(p.stem for p in environment_files(directory)) or "none"
            raise UsageError(f"unknown environment '{target}'; declared in {directory}: {known}",
                             code="KP003")
        out.append(found)
    return out


def load_estate(paths: Iterable[Path], *, isolation_scope: Iterable[Path] = ()) -> Estate:
    """Load every file and cross-check them; InventoryError lists all problems of all files.

    `isolation_scope` adds files that are read only for the account/project isolation
    check, so validating one environment still catches a clash with another.
    """
    paths = list(paths)
    problems: list[Problem] = []
    loaded: list[tuple[Environment, SourceDoc]] = []
    extra: list[tuple[Environment, SourceDoc]] = []
    for path in paths:
        doc, parse_problems = parse_yaml(path)
        if doc is None:
            problems += parse_problems
            continue
        env, env_problems = load_document(doc, expected_name=path.stem)
        problems += env_problems
        if env is not None:
            loaded.append((env, doc))
    chosen = {p.resolve() for p in paths}
    for path in isolation_scope:
        if path.resolve() in chosen:
            continue
        doc, _ = parse_yaml(path)
        if doc is not None:
            env, _ = load_document(doc, expected_name=path.stem)
            if env is not None:
                extra.append((env, doc))
    iso = _isolation(extra + loaded)  # a clash is reported in the file being validated
    problems += [p for p in iso if any(p.file == d.file for _, d in loaded)]
    if problems:
        raise InventoryError(problems)
    return Estate(tuple(env for env, _ in loaded))


def load_targets(targets: Iterable[str], directory: Path = DEFAULT_DIR) -> Estate:
    """Load the named environments (every one when none is named), checked for isolation
    against every environment file of `directory`: what each command loads."""
    files = resolve_targets(targets, directory)
    scope = environment_files(directory) if directory.is_dir() else []
    return load_estate(files, isolation_scope=scope)
