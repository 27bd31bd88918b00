"""Architecture boundaries: the pure layers import no cloud SDK and no CDK library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

FORBIDDEN = {"boto3", "botocore", "google", "cdktn", "cdktf", "constructs", "jsii", "moto",
             "cdktn_provider_aws", "cdktn_provider_google", "grpc"}
PURE_PACKAGES = ["keyplane/model", "keyplane/policy"]


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_import_no_sdk_or_cdk(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    if package == "keyplane/model":
        assert files, "keyplane/model has no modules"
    offenders = {str(f.relative_to(REPO)): sorted(imported_roots(f) & FORBIDDEN) for f in files}
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def test_importing_the_model_loads_no_sdk_or_cdk() -> None:
    probe = ("import sys, keyplane.model, keyplane.model.loader\n"
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(FORBIDDEN)!r})))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert proc.stdout.strip() == "[]", proc.stderr


# --- who may import whom -----------------------------------------------------------------------

# keyplane's packages (and top-level modules), and the keyplane packages each may import.
# Read from the bottom up: shared leaves, the model, the desired state, the three judges
# (gate, post-apply, drills) and the report, the adapters, the renderers, the composition.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "progress": set(),
    "cloudcall": set(),
    "documents": {"errors"},
    "output": {"errors"},
    "model": {"errors", "documents"},
    "findings": {"model"},
    "schema": {"errors"},
    "desired": {"model", "errors"},
    "policy": {"model", "findings", "errors", "documents"},
    "postapply": {"model", "findings", "desired", "policy", "cloudcall", "errors", "documents"},
    "audit": {"model", "findings", "policy", "errors", "documents"},
    "drills": {"model", "findings", "policy", "audit", "cloudcall", "desired", "errors",
               "documents"},
    "reporters": {"model", "findings", "policy", "postapply", "errors"},
    "estate": {"model", "findings", "drills", "audit", "cloudcall", "errors"},
    "adopt": {"model", "desired", "postapply", "errors"},
    "incident": {"model", "desired", "drills", "audit", "certs", "cloudcall", "errors",
                 "findings"},
    "certs": {"model", "findings", "desired", "policy", "postapply", "drills", "audit",
              "cloudcall", "errors"},
    "cloud": {"model", "findings", "postapply", "drills", "audit", "cloudcall", "errors",
              "documents", "certs", "estate", "incident"},
    "sandbox": {"model", "findings", "desired", "policy", "postapply", "drills", "audit", "cloud",
                "cloudcall", "errors", "documents", "output"},
    "constructs": {"model", "desired", "errors"},
    "stacks": {"model", "desired", "constructs", "errors"},
    "commands": {"*"},
    "cli": {"commands", "errors", "output"},
}
# Third-party libraries only some packages may import.
SDKS = {"boto3", "botocore", "google", "grpc", "moto"}
CDK = {"cdktn", "cdktf", "constructs", "jsii", "cdktn_provider_aws", "cdktn_provider_google"}
MAY_IMPORT_SDK = {"cloud", "sandbox"}
MAY_IMPORT_CDK = {"constructs", "stacks"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((REPO / "keyplane").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "keyplane"


def _keyplane_imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("keyplane"):
                out.add(node.module)
                out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("keyplane")}
    return out


def test_every_package_is_in_the_layering_table() -> None:
    packages = {_package(m) for m in _modules()} - {"keyplane"}
    assert packages - set(ALLOWED) == set(), "add the new package to ALLOWED"


def test_packages_import_only_what_the_layering_allows() -> None:
    offenders = []
    for module, path in _modules().items():
        src = _package(module)
        allowed = ALLOWED.get(src, set())
        for target in _keyplane_imports(path):
            dst = _package(target)
            if dst in (src, "keyplane") or "*" in allowed or dst in allowed:
                continue
            offenders.append(f"{module} imports {target}")
    assert sorted(set(offenders)) == []


def test_only_the_adapters_import_cloud_sdks_and_only_constructs_import_cdk() -> None:
    offenders = []
    for module, path in _modules().items():
        src = _package(module)
        roots = imported_roots(path)
        if roots & SDKS and src not in MAY_IMPORT_SDK:
            offenders.append(f"{module}: {sorted(roots & SDKS)}")
        if roots & CDK and src not in MAY_IMPORT_CDK:
            offenders.append(f"{module}: {sorted(roots & CDK)}")
    assert offenders == []


def test_no_import_cycle_between_modules() -> None:
    """Module-level imports form no cycle (a lazy import inside a function does not count)."""
    modules = _modules()
    graph = {m: {t for t in _keyplane_imports(p, top_level_only=True) if t in modules and t != m}
             for m, p in modules.items()}
    # importing a module imports its parent packages' __init__ first
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert cycles == []
