"""Synthesize the example estate's AWS part once per test process, and read the JSON."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from keyplane.model import Cloud, Environment, load_estate
from keyplane.model.loader import environment_files
from tests.conftest import EXAMPLE_ENVIRONMENTS, scratch_dir

Doc = dict[str, Any]


def example_estate() -> dict[str, Environment]:
    """The example estate, by environment name."""
    estate = load_estate(environment_files(EXAMPLE_ENVIRONMENTS))
    return {e.name: e for e in estate.environments}


def aws_only(env: Environment) -> Environment:
    """`env` without its GCP keys: synthesizes without importing the Google bindings."""
    return env.model_copy(update={"keys": env.keys_on(Cloud.AWS)})


@functools.lru_cache(maxsize=1)
def synth_aws_estate() -> tuple[Path, dict[str, Doc]]:
    """The example estate's AWS part synthesized to a temporary cdktf.out (cached)."""
    from keyplane.stacks.app import synth

    out = scratch_dir("synth-aws-") / "cdktf.out"
    envs = [aws_only(e) for e in example_estate().values()]
    synth(envs, out)
    docs = {e.name: json.loads((out / "stacks" / f"{e.name}-aws" / "cdk.tf.json").read_text())
            for e in envs}
    return out, docs


def resources(doc: Doc, rtype: str) -> dict[str, Doc]:
    """Resources of one type, keyed by construct path below the stack (`aws/keys/x/key`)."""
    out = {}
    for body in doc.get("resource", {}).get(rtype, {}).values():
        path = body["//"]["metadata"]["path"].split("/", 1)[1]
        out[path] = body
    return out


def data_sources(doc: Doc, dtype: str) -> dict[str, Doc]:
    """Data sources of one type, keyed by construct path below the stack."""
    out = {}
    for body in doc.get("data", {}).get(dtype, {}).values():
        out[body["//"]["metadata"]["path"].split("/", 1)[1]] = body
    return out


def address(doc: Doc, rtype: str, path: str) -> str:
    """The Terraform address of the resource at construct path `path`."""
    for name, body in doc["resource"][rtype].items():
        if body["//"]["metadata"]["path"].split("/", 1)[1] == path:
            return f"{rtype}.{name}"
    raise KeyError(path)


def policy(body: Doc, attr: str = "policy") -> Doc:
    """A JSON policy attribute, parsed."""
    return json.loads(body[attr])


def statements(body: Doc, attr: str = "policy") -> dict[str, Doc]:
    """A policy's statements by Sid."""
    return {s["Sid"]: s for s in policy(body, attr)["Statement"]}
