"""The AWS Organizations adapter of `keyplane estate`: the organization's tree, and its accounts' KMS.

Implements `keyplane.estate.ports.OrganizationReader` with boto3 (Describe*/List* only, every
list through `get_paginator()`), and opens member accounts for the KMS key scan: an
sts:AssumeRole into the member role of each account (`OrganizationAccountAccessRole` unless
told otherwise), with the run's credentials as the source, renewed by botocore as any
assumed role of keyplane (`keyplane.cloud.aws.session.AssumeRole`). SDK errors become the
one error tree of cloud calls (`keyplane.cloudcall`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keyplane.cloud.aws.reader import AwsReader, translate
from keyplane.cloud.aws.session import AssumeRole, AwsClients
from keyplane.estate.ports import KeyLister, OrgAccount, Organization, OrgUnit

MEMBER_SESSION_NAME = "keyplane-estate"


class AwsOrganizationReader(AwsReader):
    """The organization as the management (or a delegated administrator) account sees it."""

    def __init__(self, clients: AwsClients) -> None:
        super().__init__(clients, clients.config.region)

    def describe_organization(self) -> Organization:
        """DescribeOrganization."""
        org = self._client("organizations")
        got = self._call("organizations", "DescribeOrganization",
                         org.describe_organization)["Organization"]
        return Organization(id=str(got["Id"]), management_account_id=str(
            got.get("MasterAccountId", "")), arn=str(got.get("Arn", "")))

    def roots(self) -> list[OrgUnit]:
        """ListRoots."""
        return [OrgUnit(id=str(r["Id"]), name=str(r.get("Name", r["Id"])))
                for page in self._pages("organizations", "list_roots", "ListRoots")
                for r in page.get("Roots", [])]

    def child_units(self, parent_id: str) -> list[OrgUnit]:
        """ListOrganizationalUnitsForParent."""
        return [OrgUnit(id=str(u["Id"]), name=str(u.get("Name", u["Id"])))
                for page in self._pages("organizations", "list_organizational_units_for_parent",
                                        "ListOrganizationalUnitsForParent", ParentId=parent_id)
                for u in page.get("OrganizationalUnits", [])]

    def accounts_in(self, parent_id: str) -> list[OrgAccount]:
        """ListAccountsForParent; the account's `State` (its deprecated `Status` where an
        older endpoint gives only that)."""
        return [OrgAccount(id=str(a["Id"]), name=str(a.get("Name", "")),
                           state=str(a.get("State") or a.get("Status") or "UNKNOWN"))
                for page in self._pages("organizations", "list_accounts_for_parent",
                                        "ListAccountsForParent", ParentId=parent_id)
                for a in page.get("Accounts", [])]


def partition_of(arn: str) -> str:
    """The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`...); `aws` when it has none."""
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


def member_opener(clients: AwsClients, *, role_name: str, partition: str, caller_account: str,
                  session_name: str = MEMBER_SESSION_NAME
                  ) -> Callable[[str], Callable[[str], KeyLister]]:
    """`account id -> (Region -> KMS reader)`: the caller's own account with the run's
    credentials, any other through sts:AssumeRole into `role_name` there (raised as a
    CloudCallError of operation AssumeRole when refused)."""
    def open_account(account_id: str) -> Callable[[str], KeyLister]:
        if account_id == caller_account:
            member = clients
        else:
            member = clients.assume(AssumeRole(
                role_arn=f"arn:{partition}:iam::{account_id}:role/{role_name}",
                session_name=session_name))
            try:
                member.resolve_credentials()
            except Exception as exc:
                raise translate(exc, "AssumeRole", None) from None

        def in_region(region: str) -> Any:
            return AwsReader(member, region)
        return in_region
    return open_account
