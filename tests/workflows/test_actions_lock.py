"""The CI templates use exactly the actions .github/actions-lock.json pins: by commit, with the
release tag beside it, on a current runtime, with inputs those commits declare.

The lock is written by scripts/update_actions_lock.py, which resolves each tag to its commit
in the action's repository; these tests need no network.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
LOCK = REPO / ".github" / "actions-lock.json"
# every workflow, so a new one is covered by the lock without editing this file
NAMES = sorted(p.name for p in WORKFLOWS.iterdir() if p.suffix in (".yml", ".yaml"))
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)"
                    r"@(?P<commit>[0-9a-f]{40}) # (?P<tag>v\d+\.\d+\.\d+)$")


def lock() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(LOCK.read_text(encoding="utf-8"))["actions"]
    return entries


def uses_lines(name: str) -> list[str]:
    return [line for line in (WORKFLOWS / name).read_text(encoding="utf-8").splitlines()
            if re.match(r"^\s*(?:-\s+)?uses:", line)]


def steps(name: str) -> list[dict[str, Any]]:
    workflow: dict[str, Any] = YAML(typ="safe").load((WORKFLOWS / name).read_text())
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def pins() -> set[tuple[str, str, str]]:
    """(action, tag, commit) of every `uses:` in every workflow."""
    found = set()
    for name in NAMES:
        for line in uses_lines(name):
            m = PINNED.match(line)
            assert m, f"{name}: {line.strip()!r} is not 'owner/repo@<40-hex commit> # vX.Y.Z'"
            found.add((m["action"], m["tag"], m["commit"]))
    return found


def test_the_three_templates_are_covered():
    assert NAMES == ["keyplane-drift.yml", "keyplane-drill.yml", "keyplane-pr.yml"]


@pytest.mark.parametrize("name", NAMES)
def test_every_uses_is_a_commit_with_its_tag(name):
    lines = uses_lines(name)
    # a `uses:` the line pattern missed (a flow mapping, a job-level reusable workflow)
    # would escape the lock: the parsed YAML must show the same number
    assert len(lines) == sum("uses" in s for s in steps(name)) > 0
    for line in lines:
        assert PINNED.match(line), f"{name}: {line.strip()!r}"


def test_the_workflows_use_exactly_what_the_lock_pins():
    locked = {(e["action"], e["tag"], e["commit"]) for e in lock()}
    assert pins() == locked


def test_the_lock_has_one_entry_per_action_and_none_unused():
    actions = [e["action"] for e in lock()]
    assert len(actions) == len(set(actions))
    assert set(actions) == {a for a, _, _ in pins()}


def test_the_lock_is_the_scripts_output_sorted_and_complete():
    entries = lock()
    assert [e["action"] for e in entries] == sorted(e["action"] for e in entries)
    for e in entries:
        assert re.fullmatch(r"[0-9a-f]{40}", e["commit"]), e
        assert re.fullmatch(r"v\d+\.\d+\.\d+", e["tag"]), e
        assert set(e) <= {"action", "tag", "commit", "runtime", "inputs", "required_inputs",
                          "note"}, e


def test_every_action_runs_on_node24_or_says_why_not():
    stale = {e["action"]: e["runtime"] for e in lock()
             if e["runtime"] != "node24" and not e.get("note")}
    assert stale == {}
    assert {e["action"]: e["runtime"] for e in lock()} == {
        "actions/checkout": "node24",
        "actions/setup-python": "node24",
        "actions/upload-artifact": "node24",
        "aws-actions/configure-aws-credentials": "node24",
        "github/codeql-action/upload-sarif": "node24",
        "google-github-actions/auth": "node24",
        "hashicorp/setup-terraform": "node24",
        "peter-evans/create-or-update-comment": "node24",
        "peter-evans/find-comment": "node24",
    }


@pytest.mark.parametrize("name", NAMES)
def test_with_inputs_are_declared_by_the_pinned_commit(name):
    declared = {e["action"]: (set(e["inputs"]), set(e["required_inputs"])) for e in lock()}
    for step in steps(name):
        if "uses" not in step:
            continue
        action = step["uses"].split("@")[0]
        inputs, required = declared[action]
        given = set(step.get("with") or {})
        assert given - inputs == set(), f"{name}: {action} declares no input {sorted(given - inputs)}"
        assert required - given == set(), f"{name}: {action} needs {sorted(required - given)}"
