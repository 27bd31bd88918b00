#!/usr/bin/env python3
"""Pin every GitHub Action the workflows use: .github/actions-lock.json and each `uses:` line.

For each action (`owner/repo`, or `owner/repo/path` for an action in a sub-directory) that
.github/workflows/*.yml name, pick the newest release tag vX.Y.Z whose action.yml runs on
node24 or later (or is not a Node action at all); where no release does, keep the newest
release and say so in its lock entry. Resolve that tag to its commit, record the runtime
(`runs.using`) and the inputs its action.yml declares at that commit, and rewrite each
`uses:` as `owner/repo@<commit> # <tag>`. tests/workflows/ checks the workflows against the
lock without any network.

Offline, against local bare mirrors (one per repository, e.g. `git clone --mirror`):

    .venv/bin/python scripts/update_actions_lock.py --mirror-dir /work/.mirror

  The mirror of owner/repo is looked for as DIR/owner+repo/repo, DIR/owner+repo,
  DIR/owner/repo.git or DIR/owner/repo.

With network access to github.com (no mirror needed):

    .venv/bin/python scripts/update_actions_lock.py

  Tags come from `git ls-remote --tags https://github.com/owner/repo`; only the commits whose
  action.yml is read are fetched (`git fetch --depth 1 <url> <commit>`), into a temporary
  bare repository.

Options:
  --keep-tags  resolve the tags the workflows' `# vX.Y.Z` comments name now (repair a pin
               without upgrading anything)
  --check      write nothing; exit 1 when the lock or a workflow would change

Exit codes: 0 done (or, with --check, up to date), 1 --check found a difference, 2 error.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / ".github" / "workflows"
LOCK = REPO / ".github" / "actions-lock.json"
# GitHub runs JavaScript actions on node24; node20 is deprecated on its runners.
TARGET_NODE = 24
RELEASE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
USES = re.compile(r"^(?P<lead>\s*(?:-\s+)?uses:\s*)(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>[^\s#]+)"
                  r"(?:\s+#\s*(?P<tag>\S+))?\s*$")
_NODE = re.compile(r"^node(\d+)$")


class LockError(Exception):
    """Something the script cannot resolve; printed as one line, exit 2."""


@dataclass(frozen=True)
class Entry:
    """One pinned action: what the lock records about it."""

    action: str
    tag: str
    commit: str
    runtime: str
    inputs: tuple[str, ...]
    required_inputs: tuple[str, ...]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The lock's JSON object for this action."""
        out: dict[str, Any] = {"action": self.action, "tag": self.tag, "commit": self.commit,
                               "runtime": self.runtime, "inputs": list(self.inputs),
                               "required_inputs": list(self.required_inputs)}
        if self.note:
            out["note"] = self.note
        return out


class Source(Protocol):
    """Where one repository's tags and files are read from."""

    def tags(self) -> list[str]:
        """Every tag name."""
        ...

    def commit(self, tag: str) -> str:
        """The commit a tag points at (annotated tags peeled)."""
        ...

    def read(self, commit: str, path: str) -> str | None:
        """A file's text at a commit; None when it does not exist there."""
        ...


def _git(*args: str, git_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["git", *(["--git-dir", str(git_dir)] if git_dir else []), *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise LockError("git is not installed; it is needed to resolve tags") from None


class MirrorSource:
    """A local bare repository (offline)."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir

    def tags(self) -> list[str]:
        """Every tag name in the mirror."""
        done = _git("for-each-ref", "--format=%(refname:short)", "refs/tags", git_dir=self.git_dir)
        if done.returncode:
            raise LockError(f"cannot list tags of {self.git_dir}: {done.stderr.strip()}")
        return done.stdout.split()

    def commit(self, tag: str) -> str:
        """`git rev-parse <tag>^{commit}`."""
        done = _git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}",
                    git_dir=self.git_dir)
        if done.returncode:
            raise LockError(f"tag {tag} is not in {self.git_dir}")
        return done.stdout.strip()

    def read(self, commit: str, path: str) -> str | None:
        """`git show <commit>:<path>`."""
        done = _git("show", f"{commit}:{path}", git_dir=self.git_dir)
        return done.stdout if done.returncode == 0 else None


class RemoteSource:
    """A repository on github.com: tags by `git ls-remote`, files by a shallow fetch."""

    def __init__(self, url: str, scratch: Path) -> None:
        self.url = url
        self.git_dir = scratch
        self._tags: dict[str, str] | None = None
        if _git("init", "--bare", "--quiet", str(scratch)).returncode:
            raise LockError(f"cannot create a scratch repository in {scratch}")

    def _listing(self) -> dict[str, str]:
        if self._tags is None:
            done = _git("ls-remote", "--tags", self.url)
            if done.returncode:
                raise LockError(f"git ls-remote {self.url} failed: {done.stderr.strip()}")
            tags: dict[str, str] = {}
            peeled: dict[str, str] = {}
            for line in done.stdout.splitlines():
                sha, _, ref = line.partition("\t")
                name = ref.removeprefix("refs/tags/")
                if name.endswith("^{}"):
                    peeled[name[:-3]] = sha  # the commit an annotated tag points at
                else:
                    tags[name] = sha
            self._tags = {name: peeled.get(name, sha) for name, sha in tags.items()}
        return self._tags

    def tags(self) -> list[str]:
        """Every tag name on the remote."""
        return list(self._listing())

    def commit(self, tag: str) -> str:
        """The peeled commit `git ls-remote` reports for the tag."""
        try:
            return self._listing()[tag]
        except KeyError:
            raise LockError(f"tag {tag} does not exist in {self.url}") from None

    def read(self, commit: str, path: str) -> str | None:
        """The file at `commit`, fetched alone (depth 1) the first time it is needed."""
        if _git("cat-file", "-e", f"{commit}^{{commit}}", git_dir=self.git_dir).returncode:
            done = _git("fetch", "--quiet", "--depth", "1", "--no-tags", self.url, commit,
                        git_dir=self.git_dir)
            if done.returncode:
                raise LockError(f"cannot fetch {commit} from {self.url}: {done.stderr.strip()}")
        done = _git("show", f"{commit}:{path}", git_dir=self.git_dir)
        return done.stdout if done.returncode == 0 else None


def find_mirror(mirror_dir: Path, repo: str) -> Path:
    """The local bare repository of `owner/repo` under `mirror_dir`."""
    owner, name = repo.split("/")
    for candidate in (mirror_dir / f"{owner}+{name}" / "repo", mirror_dir / f"{owner}+{name}",
                      mirror_dir / owner / f"{name}.git", mirror_dir / owner / name):
        if (candidate / "HEAD").is_file() or (candidate / ".git" / "HEAD").is_file():
            return candidate if (candidate / "HEAD").is_file() else candidate / ".git"
    raise LockError(f"no mirror of {repo} under {mirror_dir} (looked for "
                    f"{owner}+{name}/repo, {owner}+{name}, {owner}/{name}.git, {owner}/{name})")


def split_action(action: str) -> tuple[str, str]:
    """`owner/repo/sub/dir` -> (`owner/repo`, `sub/dir/`); the second part is '' at the root."""
    parts = action.split("/")
    sub = "/".join(parts[2:])
    return "/".join(parts[:2]), f"{sub}/" if sub else ""


def releases(tags: list[str]) -> list[str]:
    """Release tags vX.Y.Z, newest (highest version) first; moving tags like v4 are left out."""
    found = [(tuple(int(g) for g in m.groups()), t) for t in tags if (m := RELEASE.match(t))]
    return [t for _, t in sorted(found, reverse=True)]


def read_action(source: Source, commit: str, sub: str, action: str, tag: str) -> dict[str, Any]:
    """The parsed action.yml (or action.yaml) of `action` at `commit`."""
    for name in ("action.yml", "action.yaml"):
        text = source.read(commit, f"{sub}{name}")
        if text is not None:
            data = YAML(typ="safe").load(text)
            if not isinstance(data, dict):
                raise LockError(f"{action}@{tag}: {sub}{name} is not a mapping")
            return data
    raise LockError(f"{action}@{tag}: no {sub}action.yml at {commit}")


def modern(runtime: str) -> bool:
    """Whether a runtime is current: node24 or later, or not a Node action (composite, docker)."""
    m = _NODE.match(runtime)
    return m is None or int(m.group(1)) >= TARGET_NODE


def entry_for(source: Source, action: str, tag: str, commit: str) -> Entry:
    """The lock entry of `action` at `tag`, read from its action.yml at `commit`."""
    _, sub = split_action(action)
    data = read_action(source, commit, sub, action, tag)
    runs = data.get("runs")
    runtime = str(runs.get("using", "")) if isinstance(runs, dict) else ""
    if not runtime:
        raise LockError(f"{action}@{tag}: action.yml has no runs.using")
    declared = data.get("inputs") or {}
    inputs = tuple(sorted(declared))
    # An input GitHub requires is one marked required that has no default to fall back on.
    required = tuple(sorted(k for k, v in declared.items() if isinstance(v, dict)
                            and v.get("required") is True and "default" not in v))
    return Entry(action, tag, commit, runtime, inputs, required)


def choose(source: Source, action: str) -> Entry:
    """The newest release of `action` that runs on a current runtime, else the newest release."""
    ordered = releases(source.tags())
    if not ordered:
        raise LockError(f"{action}: no release tags (vX.Y.Z)")
    for tag in ordered:
        entry = entry_for(source, action, tag, source.commit(tag))
        if modern(entry.runtime):
            return entry
    newest = entry_for(source, action, ordered[0], source.commit(ordered[0]))
    return replace(newest, note=f"no release runs on node{TARGET_NODE}; {newest.tag} is the "
                                f"newest and runs on {newest.runtime}")


@dataclass(frozen=True)
class Use:
    """One `uses:` line of a workflow."""

    file: Path
    line: int
    action: str
    ref: str
    tag: str | None


def workflow_uses(workflows: Path) -> Iterator[Use]:
    """Every remote action a workflow names (local `./` actions and `docker://` are not pinned here)."""
    for path in sorted(workflows.glob("*.y*ml")):
        for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = USES.match(text)
            if m:
                yield Use(path, i, m.group("action"), m.group("ref"), m.group("tag"))


def rewrite(text: str, pins: dict[str, Entry]) -> str:
    """`text` with every `uses:` of a locked action set to `@<commit> # <tag>`."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        m = USES.match(body)
        if m and m.group("action") in pins:
            pin = pins[m.group("action")]
            body = f"{m.group('lead')}{pin.action}@{pin.commit} # {pin.tag}"
        out.append(body + line[len(line.rstrip("\r\n")):])
    return "".join(out)


def render_lock(entries: list[Entry]) -> str:
    """The lock file's text: entries sorted by action, stable for review."""
    doc = {"generated_by": "scripts/update_actions_lock.py",
           "actions": [e.to_json() for e in sorted(entries, key=lambda e: e.action)]}
    return json.dumps(doc, indent=2) + "\n"


def build(uses: list[Use], source_for: Any, keep_tags: bool) -> list[Entry]:
    """One entry per action the workflows use."""
    by_action: dict[str, list[Use]] = {}
    for use in uses:
        by_action.setdefault(use.action, []).append(use)
    entries = []
    for action, found in sorted(by_action.items()):
        if "/.github/workflows/" in f"{action}/":
            raise LockError(f"{action}: a reusable workflow, not an action; pin it by hand")
        repo, _ = split_action(action)
        source = source_for(repo)
        if keep_tags:
            tags = {u.tag for u in found}
            if None in tags or len(tags) != 1:
                where = ", ".join(f"{u.file.name}:{u.line}" for u in found)
                raise LockError(f"{action}: --keep-tags needs one '# vX.Y.Z' comment on every "
                                f"use, got {sorted(map(str, tags))} ({where})")
            tag = str(found[0].tag)
            entry = entry_for(source, action, tag, source.commit(tag))
            if not modern(entry.runtime):
                entry = replace(entry, note=f"kept at {tag} by --keep-tags; runs on {entry.runtime}")
            entries.append(entry)
        else:
            entries.append(choose(source, action))
    return entries


def main(argv: list[str] | None = None) -> int:
    """Resolve, then write (or with --check compare) the lock and the workflows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror-dir", type=Path, help="offline: directory of bare mirrors")
    parser.add_argument("--keep-tags", action="store_true",
                        help="resolve the tags the workflows name now instead of upgrading")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on a difference")
    parser.add_argument("--workflows", type=Path, default=WORKFLOWS, help=argparse.SUPPRESS)
    parser.add_argument("--lock", type=Path, default=LOCK, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        uses = list(workflow_uses(args.workflows))
        if not uses:
            raise LockError(f"no 'uses: owner/repo@ref' in {args.workflows}")
        with tempfile.TemporaryDirectory(prefix="actions-lock-") as scratch:
            sources: dict[str, Source] = {}

            def source_for(repo: str) -> Source:
                if repo not in sources:
                    if args.mirror_dir is not None:
                        sources[repo] = MirrorSource(find_mirror(args.mirror_dir, repo))
                    else:
                        sources[repo] = RemoteSource(f"https://github.com/{repo}",
                                                     Path(scratch) / repo.replace("/", "+"))
                return sources[repo]

            entries = build(uses, source_for, args.keep_tags)
    except LockError as exc:
        print(f"update_actions_lock: {exc}", file=sys.stderr)
        return 2
    pins = {e.action: e for e in entries}
    changes: dict[Path, str] = {}
    lock_text = render_lock(entries)
    if not args.lock.is_file() or args.lock.read_text(encoding="utf-8") != lock_text:
        changes[args.lock] = lock_text
    for path in sorted({u.file for u in uses}):
        old = path.read_text(encoding="utf-8")
        new = rewrite(old, pins)
        if new != old:
            changes[path] = new
    for e in entries:
        print(f"{e.action}@{e.commit} # {e.tag} ({e.runtime})" + (f": {e.note}" if e.note else ""))
    if args.check:
        for path in changes:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if changes else 0
    for path, text in changes.items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
