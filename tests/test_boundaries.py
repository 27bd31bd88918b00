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
