"""The Resource Manager adapter of `keyplane estate`: folders and projects, read only.

Implements `keyplane.estate.ports.ResourceReader` (ListFolders, ListProjects, GetProject; read
only). Pages are walked explicitly so a repeated page token is caught (the generated pagers
would follow it forever); every call has the run's Retry and a per-attempt timeout
(`keyplane.cloud.gcp.client.GcpConfig`). A local endpoint (the sandbox's fake) is reached
through a plaintext channel injected into the gRPC transports; `api_endpoint` would force
TLS. google-api-core errors become the one error tree of cloud calls (`keyplane.cloudcall`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.cloud import resourcemanager_v3 as rm
from google.cloud.resourcemanager_v3.services.folders.transports.grpc import (
    FoldersGrpcTransport,
)
from google.cloud.resourcemanager_v3.services.projects.transports.grpc import (
    ProjectsGrpcTransport,
)

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloud.gcp.reader import call, pages
from keyplane.estate.ports import GcpFolder, GcpProject
from keyplane.postapply.errors import HookSetupError


def build_clients(endpoint: str | None) -> tuple[Any, Any]:
    """(FoldersClient, ProjectsClient): over one plaintext channel to `endpoint` when given,
    else Google's endpoints with Application Default Credentials."""
    if endpoint:
        channel = grpc.insecure_channel(endpoint)
        return (rm.FoldersClient(transport=FoldersGrpcTransport(channel=channel)),
                rm.ProjectsClient(transport=ProjectsGrpcTransport(channel=channel)))
    try:
        return rm.FoldersClient(), rm.ProjectsClient()
    except Exception as exc:  # DefaultCredentialsError and friends
        raise HookSetupError(f"cannot set up gcp credentials: {exc}") from None


def _folder(f: Any) -> GcpFolder:
    return GcpFolder(name=str(f.name), display_name=str(f.display_name), parent=str(f.parent),
                     state=str(f.state.name))


def _project(p: Any) -> GcpProject:
    return GcpProject(project_id=str(p.project_id), name=str(p.name), parent=str(p.parent),
                      state=str(p.state.name), display_name=str(p.display_name))


class GcpResourceReader:
    """Read-only view of Resource Manager's folders and projects."""

    def __init__(self, folders: Any, projects: Any, config: GcpConfig) -> None:
        self._folders = folders
        self._projects = projects
        self._config = config

    def _call(self, operation: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        return call(self._config, operation, fn, **kwargs)

    def _pages(self, operation: str, fn: Callable[..., Any], request: Any, items: str
               ) -> Iterator[Any]:
        return pages(self._config, operation, fn, request, items)

    def folders(self, parent: str) -> list[GcpFolder]:
        """ListFolders: the active folders directly under `parent`."""
        req = rm.ListFoldersRequest(parent=parent, page_size=1000)
        return [_folder(f) for f in self._pages("ListFolders", self._folders.list_folders, req,
                                                "folders")]

    def projects(self, parent: str) -> list[GcpProject]:
        """ListProjects: the projects directly under `parent`, DELETE_REQUESTED ones too."""
        req = rm.ListProjectsRequest(parent=parent, page_size=1000, show_deleted=True)
        return [_project(p) for p in self._pages("ListProjects", self._projects.list_projects,
                                                 req, "projects")]

    def project(self, project_id: str) -> GcpProject:
        """GetProject by id; AccessDenied (Google's answer for a project that does not exist,
        too) or NotFound otherwise."""
        req = rm.GetProjectRequest(name=f"projects/{project_id}")
        return _project(self._call("GetProject", self._projects.get_project, request=req))
