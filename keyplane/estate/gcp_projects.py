"""A GCP folder or organization as `keyplane estate` needs it: every project, where, its keys.

`read_folder_tree` walks from the scope (`folders/<id>` or `organizations/<id>`) through every
folder below it (ListFolders, recursively: folders nest up to ten levels) and lists the
projects of each (ListProjects, deleted ones included), a level at a time with at most
`concurrency` calls in flight. `scan_projects` looks, in each project it is given, for
Cloud KMS keys in the locations asked (ListKeyRings, ListCryptoKeys): a crypto key counts
while one of its versions still holds material (any state but DESTROYED; Cloud KMS never
deletes a key ring or a crypto key, so a project whose keys were all destroyed still lists
them). `look_up_projects` asks GetProject for projects the walk did not meet (an
environment's project elsewhere, deleted, or gone).

A call that fails never makes a project look empty or absent: it is an `Unread` with the
call's own reason, and whoever judges the result treats it as unknown.

Pure: the ports (`keyplane.estate.ports`) come in, records go out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from keyplane.cloudcall import AccessDenied, CloudCallError, NotFound
from keyplane.estate.organizations import Unread, bounded_map, why
from keyplane.estate.ports import GcpProject, ProjectOpener, ResourceReader

DESTROYED = "DESTROYED"


@dataclass(frozen=True)
class ProjectEntry:
    """A project and where it sits: `organizations/1/Platform/Payments`."""

    project: GcpProject
    path: str


@dataclass
class FolderTree:
    """What the walk found under `scope`: the projects, how many folders, what went unread."""

    scope: str
    projects: list[ProjectEntry] = field(default_factory=list)
    folders: int = 0
    unread: list[Unread] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every folder was listed: a project not found is not under the scope."""
        return not self.unread

    def project(self, project_id: str) -> ProjectEntry | None:
        """The entry of `project_id`, if the walk found it."""
        return next((p for p in self.projects if p.project.project_id == project_id), None)


@dataclass(frozen=True)
class KeyRingScan:
    """Cloud KMS keys of one project, per location (those holding material), the keys without
    material (every version destroyed, or none), and what could not be read."""

    project_id: str
    keys: dict[str, int] = field(default_factory=dict)
    without_material: int = 0
    unread: tuple[Unread, ...] = ()

    @property
    def total(self) -> int:
        """Crypto keys that still hold material, across the locations read."""
        return sum(self.keys.values())


@dataclass(frozen=True)
class Lookup:
    """GetProject's answer for a project the walk did not meet: the project, or None when
    Google says it does not exist or cannot be seen (it answers both alike), or unread."""

    project_id: str
    project: GcpProject | None = None
    unread: Unread | None = None


def read_folder_tree(reader: ResourceReader, scope: str, *, concurrency: int = 8) -> FolderTree:
    """Every project under `scope`, with its folder path."""
    tree = FolderTree(scope=scope)

    def visit(node: tuple[str, str]) -> tuple[list[tuple[str, str]], list[ProjectEntry],
                                               list[Unread]]:
        parent, path = node
        children: list[tuple[str, str]] = []
        projects: list[ProjectEntry] = []
        unread: list[Unread] = []
        try:
            children = [(f.name, f"{path}/{f.display_name}") for f in reader.folders(parent)]
        except CloudCallError as exc:
            unread.append(Unread(f"gcp folders of {parent} ({path})", why(exc)))
        try:
            projects = [ProjectEntry(p, path) for p in reader.projects(parent)]
        except CloudCallError as exc:
            unread.append(Unread(f"gcp projects of {parent} ({path})", why(exc)))
        return children, projects, unread

    frontier = [(scope, scope)]
    seen: set[str] = set()
    while frontier:
        frontier = [n for n in frontier if n[0] not in seen]
        seen.update(n[0] for n in frontier)
        tree.folders += sum(1 for n in frontier if n[0].startswith("folders/"))
        nxt: list[tuple[str, str]] = []
        for children, projects, unread in bounded_map(visit, frontier, concurrency):
            nxt += children
            tree.projects += projects
            tree.unread += unread
        frontier = nxt
    tree.projects.sort(key=lambda p: p.project.project_id)
    return tree


def scan_projects(opener: ProjectOpener, project_ids: Iterable[str], locations: Sequence[str], *,
                  concurrency: int = 8) -> dict[str, KeyRingScan]:
    """The Cloud KMS keys of each project in `locations`, by project id."""
    def scan(project_id: str) -> KeyRingScan:
        resource = f"gcp project {project_id}"
        kms = opener(project_id)
        keys: dict[str, int] = {}
        without_material = 0
        unread: list[Unread] = []
        for location in locations:
            try:
                live = 0
                for ring in kms.key_rings(location):
                    for key in kms.crypto_keys(ring):
                        states = [v.state for v in kms.versions(key.name)]
                        if any(s != DESTROYED for s in states):
                            live += 1
                        else:
                            without_material += 1
                keys[location] = live
            except CloudCallError as exc:
                unread.append(Unread(resource, f"keys in {location} not read: {why(exc)}"))
        return KeyRingScan(project_id, keys=keys, without_material=without_material, unread=tuple(unread))

    ids = sorted(set(project_ids))
    return {s.project_id: s for s in bounded_map(scan, ids, concurrency)}


def look_up_projects(reader: ResourceReader, project_ids: Iterable[str], *,
                     concurrency: int = 8) -> dict[str, Lookup]:
    """GetProject of each id: where it is (and in which state), or that it is not there."""
    def look(project_id: str) -> Lookup:
        try:
            return Lookup(project_id, project=reader.project(project_id))
        except (NotFound, AccessDenied):
            return Lookup(project_id)
        except CloudCallError as exc:
            return Lookup(project_id, unread=Unread(f"gcp project {project_id}", why(exc)))

    ids = sorted(set(project_ids))
    return {lk.project_id: lk for lk in bounded_map(look, ids, concurrency)}
