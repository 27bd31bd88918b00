"""What `keyplane estate` reads from the clouds: records, and the ports the adapters implement.

The discovery (`keyplane.estate.organizations`, `keyplane.estate.gcp_projects`) walks an AWS
Organization or a GCP folder tree through these ports; `keyplane.cloud.aws.organizations`
and `keyplane.cloud.gcp.resourcemanager` implement them with boto3 and
google-cloud-resource-manager. A port method raises `keyplane.cloudcall.CloudCallError`
(or a subclass) when a call fails; the discovery turns that into an unread part of the
estate, never into an absence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

# AWS Organizations account states (`State`, which replaces the deprecated `Status`);
# an account in any other state than ACTIVE cannot hold a working environment.
ACTIVE = "ACTIVE"
CLOSED_STATES = frozenset({"SUSPENDED", "PENDING_CLOSURE", "CLOSED"})


@dataclass(frozen=True)
class Organization:
    """An AWS Organization, as DescribeOrganization gives it."""

    id: str
    management_account_id: str
    arn: str = ""


@dataclass(frozen=True)
class OrgUnit:
    """A root or an organizational unit."""

    id: str
    name: str


@dataclass(frozen=True)
class OrgAccount:
    """A member account: its id, name and state (ACTIVE, SUSPENDED, PENDING_CLOSURE...)."""

    id: str
    name: str
    state: str


class OrganizationReader(Protocol):
    """The management (or delegated administrator) account's view of its organization."""

    def caller_account(self) -> str:
        """The account the credentials act in (sts:GetCallerIdentity)."""
        ...

    def describe_organization(self) -> Organization:
        """DescribeOrganization."""
        ...

    def roots(self) -> list[OrgUnit]:
        """ListRoots (every page)."""
        ...

    def child_units(self, parent_id: str) -> list[OrgUnit]:
        """ListOrganizationalUnitsForParent (every page)."""
        ...

    def accounts_in(self, parent_id: str) -> list[OrgAccount]:
        """ListAccountsForParent (every page)."""
        ...


class KeyLister(Protocol):
    """One account's KMS in one Region (`keyplane.cloud.aws.reader.AwsReader` is one)."""

    def list_key_ids(self) -> list[str]:
        """ListKeys (every page)."""
        ...

    def describe_key(self, key_id: str) -> Any:
        """DescribeKey: a record with `key_manager` (AWS or CUSTOMER) and `key_state`."""
        ...


# account id -> (Region -> KeyLister); opening an account assumes the member role, and raises
# CloudCallError when that is refused.
AccountOpener = Callable[[str], Callable[[str], KeyLister]]


@dataclass(frozen=True)
class GcpFolder:
    """A folder: `folders/<id>`, its display name, its parent and state."""

    name: str
    display_name: str
    parent: str
    state: str


@dataclass(frozen=True)
class GcpProject:
    """A project: its id, its name `projects/<number>`, its parent and state (ACTIVE or
    DELETE_REQUESTED)."""

    project_id: str
    name: str
    parent: str
    state: str
    display_name: str = ""


class ResourceReader(Protocol):
    """Resource Manager: folders and projects under a parent, and one project by id."""

    def folders(self, parent: str) -> list[GcpFolder]:
        """ListFolders (direct children, every page, active only)."""
        ...

    def projects(self, parent: str) -> list[GcpProject]:
        """ListProjects (direct children, every page, deleted ones included)."""
        ...

    def project(self, project_id: str) -> GcpProject:
        """GetProject; NotFound or AccessDenied when it does not exist (or cannot be seen)."""
        ...


class KeyRingLister(Protocol):
    """One project's Cloud KMS (`keyplane.cloud.gcp.reader.GcpReader` is one)."""

    def key_rings(self, location: str) -> list[str]:
        """ListKeyRings in `location` (every page): the key rings' names."""
        ...

    def crypto_keys(self, key_ring: str) -> list[Any]:
        """ListCryptoKeys: records with `name`."""
        ...

    def versions(self, crypto_key: str) -> list[Any]:
        """ListCryptoKeyVersions: records with `state`."""
        ...


ProjectOpener = Callable[[str], KeyRingLister]
