"""An in-process Resource Manager fake: a gRPC server that speaks `google.cloud.resourcemanager.v3`.

The real `google-cloud-resource-manager` clients (FoldersClient, ProjectsClient) talk to it
over an insecure local channel injected through their transports, as the Cloud KMS fake is
reached (`keyplane.sandbox.gcp_fake`). Its state is plain and in memory, with methods to
build an estate in tests and in the sandbox: organizations, folders nested to any depth,
projects (ACTIVE, DELETE_REQUESTED, or purged) and project IAM policies.

It behaves like Resource Manager where keyplane depends on it:

- ListFolders / ListProjects return the direct children of one parent, paginated; deleted
  folders and projects only with `show_deleted`;
- GetProject takes a project id or number; a project that does not exist (or was purged)
  answers PERMISSION_DENIED, as Google answers for projects the caller cannot see, so
  absence is never told apart from a missing permission;
- SearchProjects / SearchFolders take the documented `field:value` (or `field=value`) terms,
  joined by AND, with a trailing `*` as a prefix match: `id`, `projectId`, `name`,
  `displayName`, `parent`, `parent.type`, `parent.id`, `state`, `labels.<key>` for projects;
  `displayName`, `parent`, `state` for folders; another field is INVALID_ARGUMENT;
- GetIamPolicy / SetIamPolicy on projects (id or number), with an etag: a SetIamPolicy whose
  etag is not the current one is ABORTED, as a concurrent change is.

Faults (any grpc.StatusCode name, or `RepeatPageToken`) and a fixed latency are injected by
rule, as in the Cloud KMS fake. It is a test bed and a playground, not Resource Manager.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import resourcemanager_v3 as rm
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.protobuf import timestamp_pb2

from keyplane.sandbox.gcp_fake import GcpFaultRule

FOLDERS_SERVICE = "google.cloud.resourcemanager.v3.Folders"
PROJECTS_SERVICE = "google.cloud.resourcemanager.v3.Projects"

_FOLDER_FIELDS = {"displayname": "display_name", "parent": "parent", "state": "state"}
_PROJECT_FIELDS = {"id": "project_id", "projectid": "project_id", "name": "display_name",
                   "displayname": "display_name", "parent": "parent", "parent.type": "parent.type",
                   "parent.id": "parent.id", "state": "state"}


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


@dataclass
class _ProjectState:
    project: rm.Project
    policy: policy_pb2.Policy = field(default_factory=lambda: policy_pb2.Policy(version=1))


class ResourceManagerFake:
    """The state and the methods of the fake: build an estate with `add_*`, read it over gRPC."""

    def __init__(self, *, latency_ms: float = 0.0, host_every_project: bool = False) -> None:
        self.latency_ms = latency_ms
        # the sandbox's Cloud KMS fake hosts any project it is asked about; served beside it,
        # this fake does the same: an unknown project id is created, ACTIVE, with an empty
        # IAM policy, under an organization of its own
        self.host_every_project = host_every_project
        self.rules: list[GcpFaultRule] = []
        self.calls: list[str] = []
        self.record_calls = False
        self._lock = threading.RLock()
        self._ids = itertools.count(100000000001)
        self._organizations: set[str] = set()
        self._folders: dict[str, rm.Folder] = {}
        self._projects: dict[str, _ProjectState] = {}  # by "projects/<number>"

    # --- building an estate -----------------------------------------------------------------

    def add_organization(self, org_id: str | None = None) -> str:
        """A new organization; its name `organizations/<id>`."""
        with self._lock:
            name = f"organizations/{org_id or next(self._ids)}"
            self._organizations.add(name)
            return name

    def add_folder(self, parent: str, display_name: str, *, folder_id: str | None = None) -> str:
        """A new ACTIVE folder under `parent` (an organization or a folder); its name."""
        with self._lock:
            self._require_parent(parent)
            name = f"folders/{folder_id or next(self._ids)}"
            if name in self._folders:
                raise ValueError(f"{name} already exists")
            self._folders[name] = rm.Folder(name=name, parent=parent, display_name=display_name,
                                            state=rm.Folder.State.ACTIVE, create_time=_now(),
                                            etag=self._etag())
            return name

    def add_project(self, parent: str, project_id: str, *, display_name: str | None = None,
                    labels: dict[str, str] | None = None, number: str | None = None) -> str:
        """A new ACTIVE project under `parent`; its name `projects/<number>`."""
        with self._lock:
            self._require_parent(parent)
            if self._find(project_id) is not None:
                raise ValueError(f"project id {project_id} is taken")
            name = f"projects/{number or next(self._ids)}"
            self._projects[name] = _ProjectState(rm.Project(
                name=name, parent=parent, project_id=project_id,
                display_name=display_name or project_id, state=rm.Project.State.ACTIVE,
                labels=labels or {}, create_time=_now(), etag=self._etag()))
            return name

    def delete_project(self, project: str) -> None:
        """DeleteProject: the project goes DELETE_REQUESTED (restorable for 30 days)."""
        with self._lock:
            state = self._get(project)
            state.project.state = rm.Project.State.DELETE_REQUESTED
            state.project.delete_time = _now()

    def purge_project(self, project: str) -> None:
        """The end of the 30 days: the project is gone; GetProject answers PERMISSION_DENIED."""
        with self._lock:
            state = self._get(project)
            del self._projects[state.project.name]

    def delete_folder(self, folder: str) -> None:
        """DeleteFolder: only an empty folder (no active folder or project in it) may go."""
        with self._lock:
            if folder not in self._folders:
                raise ValueError(f"no folder {folder}")
            busy = [f for f in self._folders.values()
                    if f.parent == folder and f.state == rm.Folder.State.ACTIVE] + \
                [p for p in self._projects.values()
                 if p.project.parent == folder and p.project.state == rm.Project.State.ACTIVE]
            if busy:
                raise ValueError(f"{folder} is not empty")
            self._folders[folder].state = rm.Folder.State.DELETE_REQUESTED

    def add_binding(self, project: str, role: str, member: str) -> None:
        """Grant `member` `role` on the project (id, number or name)."""
        with self._lock:
            policy = self._get(project).policy
            for binding in policy.bindings:
                if binding.role == role and not binding.HasField("condition"):
                    if member not in binding.members:
                        binding.members.append(member)
                    break
            else:
                policy.bindings.add(role=role, members=[member])
            policy.etag = self._etag()

    def bindings(self, project: str) -> dict[str, list[str]]:
        """role -> members of the project's IAM policy."""
        with self._lock:
            return {b.role: sorted(b.members) for b in self._get(project).policy.bindings}

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _etag() -> bytes:
        return str(time.time_ns()).encode()

    def _require_parent(self, parent: str) -> None:
        if parent not in self._organizations and parent not in self._folders:
            raise ValueError(f"no parent {parent}: add the organization or folder first")

    def _find(self, ref: str) -> _ProjectState | None:
        """The project named by `projects/<id or number>`, `<number>` or `<id>`."""
        ref = ref.removeprefix("projects/")
        direct = self._projects.get(f"projects/{ref}")
        if direct is not None:
            return direct
        return next((s for s in self._projects.values() if s.project.project_id == ref), None)

    def _get(self, ref: str) -> _ProjectState:
        state = self._find(ref)
        if state is None:
            raise ValueError(f"no project {ref}")
        return state

    def _visible(self, ref: str) -> _ProjectState:
        """The project for an API call; PERMISSION_DENIED when it does not exist, as Google."""
        if not ref.startswith("projects/") or ref == "projects/":
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid resource name {ref!r}")
        state = self._find(ref)
        if state is None and self.host_every_project and not ref[len("projects/"):].isdigit():
            if not self._organizations:
                self.add_organization()
            self.add_project(sorted(self._organizations)[0], ref[len("projects/"):])
            state = self._find(ref)
        if state is None:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         f"Permission denied on resource '{ref}' (or it may not exist).")
        return state

    def _parent(self, parent: str) -> None:
        kind, _, ident = parent.partition("/")
        if kind not in ("folders", "organizations") or not ident.isdigit():
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         f"parent must be folders/<id> or organizations/<id>, got {parent!r}")
        if parent not in self._organizations and parent not in self._folders:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         f"The caller does not have permission on {parent}")

    @staticmethod
    def _page(items: list[Any], token: str, size: int) -> tuple[list[Any], str]:
        start = int(token) if token.isdigit() else 0
        size = size if 0 < size <= 1000 else 100
        nxt = start + size
        return items[start:nxt], (str(nxt) if nxt < len(items) else "")

    def fault(self, method: str, resource: str) -> tuple[str | None, bool]:
        """(the status code name to fail with, whether to repeat the page token)."""
        with self._lock:
            if self.record_calls:
                self.calls.append(method)
            for rule in self.rules:
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if rule.method in (None, method) and (rule.match is None or rule.match in resource):
                    rule.hits += 1
                    if rule.code == "RepeatPageToken":
                        return None, True
                    return rule.code, False
        return None, False

    @staticmethod
    def _terms(query: str, fields: dict[str, str]) -> list[tuple[str, str]]:
        terms = []
        for raw in query.split():
            if raw.upper() == "AND":
                continue
            sep = min((i for i in (raw.find(":"), raw.find("=")) if i > 0), default=-1)
            if sep < 0:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid query term {raw!r}")
            key, value = raw[:sep], raw[sep + 1:]
            norm = key.lower()
            if norm not in fields and not norm.startswith("labels."):
                allowed = ", ".join(sorted({*fields, "labels.<key>"}))
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             f"unsupported query field {key!r}; allowed: {allowed}")
            terms.append((norm, value))
        return terms

    @staticmethod
    def _matches(value: str, wanted: str) -> bool:
        if wanted.endswith("*"):
            return value.lower().startswith(wanted[:-1].lower())
        return value.lower() == wanted.lower()

    # --- Folders ----------------------------------------------------------------------------

    def GetFolder(self, req: rm.GetFolderRequest, repeat: bool) -> Any:
        with self._lock:
            folder = self._folders.get(req.name)
        if folder is None:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         f"The caller does not have permission on {req.name}")
        return folder

    def ListFolders(self, req: rm.ListFoldersRequest, repeat: bool) -> Any:
        with self._lock:
            self._parent(req.parent)
            items = [f for n, f in sorted(self._folders.items()) if f.parent == req.parent
                     and (req.show_deleted or f.state == rm.Folder.State.ACTIVE)]
        page, nxt = self._page(items, req.page_token, req.page_size)
        return rm.ListFoldersResponse(folders=page, next_page_token="1" if repeat else nxt)

    def SearchFolders(self, req: rm.SearchFoldersRequest, repeat: bool) -> Any:
        terms = self._terms(req.query, _FOLDER_FIELDS)
        with self._lock:
            items = [f for _, f in sorted(self._folders.items())
                     if all(self._matches(self._folder_field(f, k), v) for k, v in terms)]
        page, nxt = self._page(items, req.page_token, req.page_size)
        return rm.SearchFoldersResponse(folders=page, next_page_token="1" if repeat else nxt)

    @staticmethod
    def _folder_field(folder: rm.Folder, key: str) -> str:
        if key == "state":
            return str(folder.state.name)
        return str(getattr(folder, _FOLDER_FIELDS[key]))

    # --- Projects ---------------------------------------------------------------------------

    def GetProject(self, req: rm.GetProjectRequest, repeat: bool) -> Any:
        with self._lock:
            return rm.Project(self._visible(req.name).project)

    def ListProjects(self, req: rm.ListProjectsRequest, repeat: bool) -> Any:
        with self._lock:
            self._parent(req.parent)
            items = [rm.Project(s.project) for n, s in sorted(self._projects.items())
                     if s.project.parent == req.parent
                     and (req.show_deleted or s.project.state == rm.Project.State.ACTIVE)]
        page, nxt = self._page(items, req.page_token, req.page_size)
        return rm.ListProjectsResponse(projects=page, next_page_token="1" if repeat else nxt)

    def SearchProjects(self, req: rm.SearchProjectsRequest, repeat: bool) -> Any:
        terms = self._terms(req.query, _PROJECT_FIELDS)
        with self._lock:
            items = [rm.Project(s.project) for _, s in sorted(self._projects.items())
                     if all(self._matches(self._project_field(s.project, k), v)
                            for k, v in terms)]
        page, nxt = self._page(items, req.page_token, req.page_size)
        return rm.SearchProjectsResponse(projects=page, next_page_token="1" if repeat else nxt)

    @staticmethod
    def _project_field(project: rm.Project, key: str) -> str:
        if key == "state":
            return str(project.state.name)
        if key == "parent.type":
            return "folder" if project.parent.startswith("folders/") else "organization"
        if key == "parent.id":
            return str(project.parent.partition("/")[2])
        if key.startswith("labels."):
            return str(project.labels.get(key.removeprefix("labels."), ""))
        return str(getattr(project, _PROJECT_FIELDS[key]))

    def GetIamPolicy(self, req: iam_policy_pb2.GetIamPolicyRequest, repeat: bool) -> Any:
        with self._lock:
            out = policy_pb2.Policy()
            out.CopyFrom(self._visible(req.resource).policy)
            return out

    def SetIamPolicy(self, req: iam_policy_pb2.SetIamPolicyRequest, repeat: bool) -> Any:
        with self._lock:
            state = self._visible(req.resource)
            if req.policy.etag and req.policy.etag != state.policy.etag:
                raise _Abort(grpc.StatusCode.ABORTED,
                             "There were concurrent policy changes. Please retry the whole "
                             "read-modify-write with exponential backoff.")
            policy = policy_pb2.Policy()
            policy.CopyFrom(req.policy)
            policy.etag = self._etag()
            state.policy = policy
            out = policy_pb2.Policy()
            out.CopyFrom(policy)
            return out


_FOLDER_METHODS: dict[str, tuple[Any, Any]] = {
    "GetFolder": (rm.GetFolderRequest, rm.Folder),
    "ListFolders": (rm.ListFoldersRequest, rm.ListFoldersResponse),
    "SearchFolders": (rm.SearchFoldersRequest, rm.SearchFoldersResponse),
}
_PROJECT_METHODS: dict[str, tuple[Any, Any]] = {
    "GetProject": (rm.GetProjectRequest, rm.Project),
    "ListProjects": (rm.ListProjectsRequest, rm.ListProjectsResponse),
    "SearchProjects": (rm.SearchProjectsRequest, rm.SearchProjectsResponse),
}
_IAM_METHODS = {"GetIamPolicy": iam_policy_pb2.GetIamPolicyRequest,
                "SetIamPolicy": iam_policy_pb2.SetIamPolicyRequest}


def _resource_of(req: Any) -> str:
    for attr in ("name", "parent", "resource", "query"):
        value = getattr(req, attr, "")
        if isinstance(value, str) and value:
            return value
    return ""


def _handler(fake: ResourceManagerFake, method: str) -> Any:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        if fake.latency_ms:
            time.sleep(fake.latency_ms / 1000.0)
        code, repeat = fake.fault(method, _resource_of(request))
        if code is not None:
            context.abort(getattr(grpc.StatusCode, code), "injected by the keyplane sandbox")
        try:
            return getattr(fake, method)(request, repeat)
        except _Abort as exc:
            context.abort(exc.code, exc.message)
    return handle


def generic_handlers(fake: ResourceManagerFake) -> tuple[grpc.GenericRpcHandler, ...]:
    """The Folders and Projects services of `fake`, to add to any grpc server (so the sandbox
    can serve them on the port of its Cloud KMS fake)."""
    def proto_plus(methods: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
        return {m: grpc.unary_unary_rpc_method_handler(
            _handler(fake, m), request_deserializer=req.deserialize,
            response_serializer=resp.serialize) for m, (req, resp) in methods.items()}

    projects = proto_plus(_PROJECT_METHODS)
    projects.update({m: grpc.unary_unary_rpc_method_handler(
        _handler(fake, m), request_deserializer=req.FromString,
        response_serializer=policy_pb2.Policy.SerializeToString)
        for m, req in _IAM_METHODS.items()})
    return (grpc.method_handlers_generic_handler(FOLDERS_SERVICE, proto_plus(_FOLDER_METHODS)),
            grpc.method_handlers_generic_handler(PROJECTS_SERVICE, projects))


class ResourceManagerEndpoint:
    """The fake behind a grpc server on 127.0.0.1 with an OS-assigned port."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0,
                 max_workers: int = 16) -> None:
        self.host = host
        self.port = port
        self.fake = ResourceManagerFake(latency_ms=latency_ms)
        self._max_workers = max_workers
        self._server: grpc.Server | None = None
        self._bound = 0

    def start(self) -> str:
        """Start serving; the `host:port` to give the clients' channel."""
        server = grpc.server(futures.ThreadPoolExecutor(
            max_workers=self._max_workers, thread_name_prefix="keyplane-sandbox-gcp-rm"))
        server.add_generic_rpc_handlers(generic_handlers(self.fake))
        self._bound = server.add_insecure_port(f"{self.host}:{self.port}")
        server.start()
        self._server = server
        return self.target

    @property
    def target(self) -> str:
        """`127.0.0.1:<port>`."""
        return f"{self.host}:{self._bound}"

    def stop(self) -> None:
        """Stop serving (in-flight calls get a moment to finish)."""
        if self._server is not None:
            self._server.stop(grace=0.5).wait()
            self._server = None
