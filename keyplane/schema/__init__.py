"""The JSON Schema (draft 2020-12) of every document keyplane writes, one file per document.

- `finding`: one finding of schema 1 (keyplane.findings.Finding.to_dict), referenced by
  the others;
- `check`: `keyplane check --format json`;
- `post-apply`: `keyplane post-apply --format json` (and drift, rotation, access-review,
  discover);
- `drill-evidence`: one drill evidence record (keyplane.audit.evidence.DrillResult);
- `drill`: `keyplane drill --format json`;
- `incident`: one incident record (`keyplane incident --format json`, and what it stores);
- `estate-run`: DIR/estate.json of `post-apply --all` and `drill --all` (and their
  `--format json` summary).

The files ship as package data (`keyplane/schema/<name>.schema.json`); they reference each
other by relative `$ref`, so they also resolve side by side on disk. `load` needs nothing
beyond the standard library; `validate` needs the `jsonschema` library (the dev extra).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

NAMES = ("finding", "check", "post-apply", "drill-evidence", "drill", "incident", "estate-run")

__all__ = ["NAMES", "load", "validate"]


@cache
def _text(name: str) -> str:
    if name not in NAMES:
        raise KeyError(f"no schema named {name!r}; keyplane writes {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """The schema of document `name` (one of NAMES), as a fresh JSON object."""
    schema: dict[str, Any] = json.loads(_text(name))
    return schema


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from referencing import Registry, Resource

    registry: Registry[Any] = Registry().with_resources(
        (load(n)["$id"], Resource.from_contents(load(n))) for n in NAMES)
    schema = load(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def validate(document: Any, name: str) -> None:
    """Check `document` against the schema `name`; raise jsonschema.ValidationError (the most
    relevant error, naming where in the document) if it does not conform."""
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

    error = best_match(_validator(name).iter_errors(document))
    if error is not None:
        raise error
