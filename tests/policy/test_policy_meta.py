"""The rule catalogue's contracts: ids, packs, docs, and the import boundary."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import keyplane.policy
from keyplane.policy.docs import rules_markdown
from keyplane.policy.registry import discover

ROOT = Path(__file__).resolve().parents[2]
POLICY = Path(keyplane.policy.__file__).parent
FORBIDDEN = ("boto3", "botocore", "google.cloud", "google.api_core", "grpc", "cdktn", "cdktf",
             "constructs", "jsii", "moto", "imports")


def test_rule_id_module_name_and_function_name_agree():
    rules = discover()
    files = sorted((POLICY / "rules").glob("*/*.py"))
    modules = {p.stem for p in files if p.stem != "__init__"}
    assert modules == set(rules)
    for rule_id, rule in rules.items():
        assert rule.module == f"keyplane.policy.rules.{rule.area}.{rule_id}"
        assert rule.func.__name__ == rule_id
        assert rule.title and not rule.title.lower().startswith("ensure")
        assert "Why:" in rule.doc and "Fix:" in rule.doc and "See:" in rule.doc, rule_id


def test_policy_package_imports_no_cloud_sdk_or_cdk_library():
    offenders = []
    for path in POLICY.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.startswith(FORBIDDEN):
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_keyplane_check_never_imports_cdktn_bindings_or_sdks(tmp_path):
    fixture = ROOT / "tests/policy/fixtures/plans/destroy.plan.json"
    code = (
        "import sys, json\n"
        "from keyplane.cli import main\n"
        "try:\n"
        f"    main(['check', {str(fixture)!r}, '--format', 'json', '--output', "
        f"{str(tmp_path / 'out.json')!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    loaded = json.loads(out.stdout.splitlines()[-1])
    assert "keyplane.policy.engine" in loaded
    assert [m for m in loaded if m.split(".")[0] in
            {"boto3", "botocore", "cdktn", "cdktf", "jsii", "constructs", "moto", "grpc"}
            or m.startswith(("google.cloud", "imports", "cdktn_provider"))] == []


def test_docs_rules_md_is_up_to_date():
    committed = (ROOT / "docs" / "rules.md").read_text()
    assert committed == rules_markdown(), (
        "docs/rules.md is stale: run `keyplane check --list-rules --format markdown "
        "--output docs/rules.md`")


def test_docs_name_every_rule_with_invariant_reason_and_fix():
    text = rules_markdown()
    for rule_id, rule in discover().items():
        assert f"### {rule_id}\n" in text
        assert rule.summary.split(".")[0][:40] in text.replace("\n", " ")
