"""scripts/update_actions_lock.py against local mirrors made here: which release it picks, how
it rewrites `uses:` lines, --keep-tags, --check, and its errors. No network."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "update_actions_lock.py"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c",
       "init.defaultBranch=main", "-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_actions_lock", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


lock_script = load_script()


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def action_yml(using: str, inputs: dict[str, dict[str, Any]] | None = None) -> str:
    lines = ["name: a", "inputs:"] if inputs else ["name: a"]
    for name, spec in (inputs or {}).items():
        lines.append(f"  {name}:")
        lines += [f"    {k}: {json.dumps(v)}" for k, v in spec.items()] or ["    description: x"]
    return "\n".join([*lines, "runs:", f"  using: '{using}'", "  main: index.js", ""])


def make_mirror(mirrors: Path, repo: str, releases: list[tuple[str, str, str]],
                annotated: bool = False) -> dict[str, str]:
    """A bare mirror of `repo` at mirrors/owner+name/repo; releases are (tag, path, action.yml)."""
    work = mirrors.parent / "src" / repo.replace("/", "+")
    work.mkdir(parents=True)
    git(work, "init", "--quiet")
    commits = {}
    for tag, path, text in releases:
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", tag)
        git(work, "tag", *(["-a", "-m", tag] if annotated else []), tag)
        commits[tag] = git(work, "rev-parse", "HEAD")
    git(work, "tag", "v1")  # a moving major tag: never a release
    git(mirrors, "clone", "--quiet", "--mirror", str(work),
        str(mirrors / repo.replace("/", "+") / "repo"))
    return commits


@pytest.fixture
def mirrors(tmp_path: Path) -> Path:
    path = tmp_path / "mirror"
    path.mkdir()
    return path


def workflow(path: Path, *uses: str) -> Path:
    steps = "".join(f"      - uses: {u}\n" for u in uses)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n{steps}",
                    encoding="utf-8")
    return path


def run(tmp_path: Path, mirrors: Path, *extra: str) -> int:
    code: int = lock_script.main(["--mirror-dir", str(mirrors),
                                  "--workflows", str(tmp_path / "wf"),
                                  "--lock", str(tmp_path / "lock.json"), *extra])
    return code


def test_picks_the_newest_node24_release_and_rewrites_the_workflow(tmp_path, mirrors, capsys):
    commits = make_mirror(mirrors, "o/act", [
        ("v1.0.0", "action.yml", action_yml("node20")),
        ("v2.0.0", "action.yml", action_yml("node24")),
        ("v2.1.0", "action.yml", action_yml("node24", {"path": {"required": True},
                                                         "mode": {"default": "x"}})),
        ("v2.2.0-beta.1", "action.yml", action_yml("node24")),  # not a release
    ], annotated=True)
    wf = workflow(tmp_path / "wf" / "ci.yml", f"o/act@{commits['v1.0.0']} # v1.0.0")
    assert run(tmp_path, mirrors) == 0
    assert f"      - uses: o/act@{commits['v2.1.0']} # v2.1.0\n" in wf.read_text()
    assert json.loads((tmp_path / "lock.json").read_text()) == {
        "generated_by": "scripts/update_actions_lock.py",
        "actions": [{"action": "o/act", "tag": "v2.1.0", "commit": commits["v2.1.0"],
                     "runtime": "node24", "inputs": ["mode", "path"],
                     "required_inputs": ["path"]}]}
    assert capsys.readouterr().out == f"o/act@{commits['v2.1.0']} # v2.1.0 (node24)\n"
    assert run(tmp_path, mirrors, "--check") == 0


def test_a_newer_release_back_on_node20_is_passed_over(tmp_path, mirrors):
    commits = make_mirror(mirrors, "o/act", [
        ("v2.0.0", "action.yml", action_yml("node24")),
        ("v3.0.0", "action.yml", action_yml("node20")),
    ])
    workflow(tmp_path / "wf" / "ci.yml", f"o/act@{commits['v3.0.0']} # v3.0.0")
    assert run(tmp_path, mirrors) == 0
    [entry] = json.loads((tmp_path / "lock.json").read_text())["actions"]
    assert (entry["tag"], entry["commit"]) == ("v2.0.0", commits["v2.0.0"])


def test_without_a_node24_release_the_newest_is_kept_with_a_note(tmp_path, mirrors):
    commits = make_mirror(mirrors, "o/old", [
        ("v1.0.0", "action.yml", action_yml("node16")),
        ("v1.1.0", "action.yml", action_yml("node20")),
    ])
    workflow(tmp_path / "wf" / "ci.yml", f"o/old@{commits['v1.0.0']} # v1.0.0")
    assert run(tmp_path, mirrors) == 0
    [entry] = json.loads((tmp_path / "lock.json").read_text())["actions"]
    assert (entry["tag"], entry["runtime"], entry["note"]) == (
        "v1.1.0", "node20", "no release runs on node24; v1.1.0 is the newest and runs on node20")


def test_an_action_in_a_subdirectory_is_read_from_its_own_action_yml(tmp_path, mirrors):
    commits = make_mirror(mirrors, "o/multi", [
        ("v4.0.0", "upload/action.yml", action_yml("node20")),
        ("v4.1.0", "upload/action.yml", action_yml("node24", {"sarif_file": {}})),
    ])
    workflow(tmp_path / "wf" / "ci.yml", f"o/multi/upload@{commits['v4.0.0']} # v4.0.0")
    assert run(tmp_path, mirrors) == 0
    [entry] = json.loads((tmp_path / "lock.json").read_text())["actions"]
    assert (entry["action"], entry["tag"], entry["inputs"]) == (
        "o/multi/upload", "v4.1.0", ["sarif_file"])


def test_keep_tags_repairs_a_commit_that_is_not_the_tags(tmp_path, mirrors):
    commits = make_mirror(mirrors, "o/act", [
        ("v4.0.0", "action.yml", action_yml("node20")),
        ("v5.0.0", "action.yml", action_yml("node24")),
    ])
    typo = "1" * 40  # not a commit of the mirror, like the pin issue #16 reported
    wf = workflow(tmp_path / "wf" / "ci.yml", f"o/act@{typo} # v4.0.0")
    assert run(tmp_path, mirrors, "--keep-tags", "--check") == 1
    assert typo in wf.read_text()  # --check writes nothing
    assert run(tmp_path, mirrors, "--keep-tags") == 0
    assert f"o/act@{commits['v4.0.0']} # v4.0.0" in wf.read_text()
    [entry] = json.loads((tmp_path / "lock.json").read_text())["actions"]
    assert entry["note"] == "kept at v4.0.0 by --keep-tags; runs on node20"


def test_fails_without_a_mirror_of_an_action(tmp_path, mirrors, capsys):
    workflow(tmp_path / "wf" / "ci.yml", "o/missing@" + "0" * 40 + " # v1.0.0")
    assert run(tmp_path, mirrors) == 2
    assert capsys.readouterr().err == (
        f"update_actions_lock: no mirror of o/missing under {mirrors} (looked for "
        "o+missing/repo, o+missing, o/missing.git, o/missing)\n")
    assert not (tmp_path / "lock.json").exists()


def test_fails_keep_tags_on_a_use_without_its_tag(tmp_path, mirrors, capsys):
    commits = make_mirror(mirrors, "o/act", [("v1.0.0", "action.yml", action_yml("node24"))])
    workflow(tmp_path / "wf" / "ci.yml", f"o/act@{commits['v1.0.0']}")
    assert run(tmp_path, mirrors, "--keep-tags") == 2
    assert capsys.readouterr().err == (
        "update_actions_lock: o/act: --keep-tags needs one '# vX.Y.Z' comment on every use, "
        "got ['None'] (ci.yml:6)\n")


def test_remote_listing_uses_the_peeled_commit_of_annotated_tags(tmp_path, monkeypatch):
    listing = ("a" * 40 + "\trefs/tags/v1.0.0\n" + "b" * 40 + "\trefs/tags/v1.0.0^{}\n"
               + "c" * 40 + "\trefs/tags/v1.1.0\n")

    def fake_git(*args: str, git_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
        assert args[:2] in {("init", "--bare"), ("ls-remote", "--tags")}, args
        return subprocess.CompletedProcess(list(args), 0, listing if args[0] == "ls-remote" else "",
                                           "")

    monkeypatch.setattr(lock_script, "_git", fake_git)
    source = lock_script.RemoteSource("https://github.com/o/act", tmp_path / "scratch")
    assert sorted(source.tags()) == ["v1.0.0", "v1.1.0"]
    assert (source.commit("v1.0.0"), source.commit("v1.1.0")) == ("b" * 40, "c" * 40)
