"""The Resource Manager fake, driven by the real google-cloud-resource-manager clients over gRPC."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import resourcemanager_v3 as rm
from google.iam.v1 import iam_policy_pb2, policy_pb2

from keyplane.cloud.gcp.client import GcpConfig
from keyplane.cloud.gcp.resourcemanager import GcpResourceReader, build_clients
from keyplane.cloudcall import AccessDenied, CloudCallError
from keyplane.sandbox.gcp_fake import GcpFaultRule
from keyplane.sandbox.gcp_resourcemanager_fake import (
    ResourceManagerEndpoint,
    ResourceManagerFake,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ResourceManagerEndpoint]:
    ep = ResourceManagerEndpoint()
    ep.start()
    yield ep
    ep.stop()


@pytest.fixture
def fake(endpoint: ResourceManagerEndpoint) -> Iterator[ResourceManagerFake]:
    yield endpoint.fake
    endpoint.fake.rules.clear()


@pytest.fixture(scope="module")
def clients(endpoint: ResourceManagerEndpoint) -> tuple[Any, Any]:
    return build_clients(endpoint.target)


_n = iter(range(1, 10_000))


def estate(fake: ResourceManagerFake) -> dict[str, str]:
    """An organization with a folder two levels deep and three projects."""
    n = next(_n)
    org = fake.add_organization()
    team = fake.add_folder(org, f"team-{n}")
    app = fake.add_folder(team, "app")
    return {"org": org, "team": team, "app": app,
            "top": fake.add_project(org, f"top-{n:04d}", labels={"env": "prod"}),
            "deep": fake.add_project(app, f"deep-{n:04d}", labels={"env": "dev"}),
            "gone": fake.add_project(app, f"gone-{n:04d}"), "n": str(n)}


def test_lists_direct_children_and_deleted_projects_only_when_asked(
        fake: ResourceManagerFake, clients: tuple[Any, Any]) -> None:
    folders, projects = clients
    e = estate(fake)
    fake.delete_project(e["gone"])
    assert [f.display_name for f in folders.list_folders(parent=e["org"])] == [f"team-{e['n']}"]
    assert [f.name for f in folders.list_folders(parent=e["team"])] == [e["app"]]
    active = projects.list_projects(request=rm.ListProjectsRequest(parent=e["app"]))
    every = projects.list_projects(request=rm.ListProjectsRequest(parent=e["app"],
                                                                  show_deleted=True))
    assert [p.name for p in active] == [e["deep"]]
    assert {p.name: p.state.name for p in every} == {e["deep"]: "ACTIVE",
                                                    e["gone"]: "DELETE_REQUESTED"}


def test_get_project_by_id_or_number_and_denied_when_it_does_not_exist(
        fake: ResourceManagerFake, clients: tuple[Any, Any]) -> None:
    _, projects = clients
    e = estate(fake)
    by_number = projects.get_project(name=e["deep"])
    assert projects.get_project(name=f"projects/{by_number.project_id}").name == e["deep"]
    fake.purge_project(e["gone"])
    with pytest.raises(gexc.PermissionDenied):
        projects.get_project(name=f"projects/gone-{int(e['n']):04d}")


def test_search_takes_the_documented_terms(fake: ResourceManagerFake,
                                           clients: tuple[Any, Any]) -> None:
    folders, projects = clients
    e = estate(fake)
    n = int(e["n"])

    def ids(query: str) -> list[str]:
        return sorted(p.project_id for p in projects.search_projects(query=query))
    assert ids(f"parent:{e['app']}") == [f"deep-{n:04d}", f"gone-{n:04d}"]
    assert ids(f"labels.env:prod id:top-{n:04d}") == [f"top-{n:04d}"]
    assert ids(f"parent.type:organization parent.id:{e['org'].split('/')[1]}") == \
        [f"top-{n:04d}"]
    assert ids(f"id:deep-{n:04d}*") == [f"deep-{n:04d}"]
    assert [f.name for f in folders.search_folders(query=f"displayName=team-{n}")] == [e["team"]]
    with pytest.raises(gexc.InvalidArgument, match="unsupported query field 'owner'"):
        list(projects.search_projects(query="owner:me"))


def test_project_iam_policy_round_trips_and_refuses_a_stale_etag(
        fake: ResourceManagerFake, clients: tuple[Any, Any]) -> None:
    _, projects = clients
    e = estate(fake)
    fake.add_binding(e["deep"], "roles/cloudkms.admin", "group:kms-admins@example.com")
    first = projects.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(
        resource=f"projects/deep-{int(e['n']):04d}"))
    assert [(b.role, list(b.members)) for b in first.bindings] == [
        ("roles/cloudkms.admin", ["group:kms-admins@example.com"])]
    changed = policy_pb2.Policy()
    changed.CopyFrom(first)
    changed.bindings.add(role="roles/cloudkms.viewer", members=["user:a@example.com"])
    projects.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(
        resource=e["deep"], policy=changed))
    assert fake.bindings(e["deep"]) == {"roles/cloudkms.admin": ["group:kms-admins@example.com"],
                                        "roles/cloudkms.viewer": ["user:a@example.com"]}
    with pytest.raises(gexc.Aborted):  # `first` is the policy before the change
        projects.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(
            resource=e["deep"], policy=first))


def test_the_reader_pages_and_turns_errors_into_cloud_call_errors(
        fake: ResourceManagerFake, endpoint: ResourceManagerEndpoint) -> None:
    e = estate(fake)
    for i in range(3):
        fake.add_project(e["team"], f"many-{e['n']}-{i}")
    reader = GcpResourceReader(*build_clients(endpoint.target),
                               GcpConfig(project="unused", endpoint=endpoint.target))
    assert {p.project_id for p in reader.projects(e["team"])} == {
        f"many-{e['n']}-{i}" for i in range(3)}
    with pytest.raises(AccessDenied):
        reader.project("never-existed-1")
    with pytest.raises(AccessDenied):
        reader.folders("organizations/4242")  # an organization the caller cannot see
    fake.rules.append(GcpFaultRule(code="RepeatPageToken", method="ListProjects"))
    with pytest.raises(CloudCallError, match="RepeatedPageToken"):
        reader.projects(e["team"])
