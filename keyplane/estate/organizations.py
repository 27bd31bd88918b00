"""An AWS Organization as `keyplane estate` needs it: every account, where it sits, its KMS keys.

`read_organization` walks the organization from its roots through every organizational unit
(ListOrganizationalUnitsForParent, recursively: units nest up to five levels below a root)
and lists the accounts of each (ListAccountsForParent), a level at a time with at most
`concurrency` calls in flight. `scan_accounts` then looks, in each account it is given, for
customer managed KMS keys: it opens the account (sts:AssumeRole into the member role), lists
the keys of each Region (ListKeys) and keeps those whose DescribeKey says
`KeyManager: CUSTOMER` (AWS managed keys, `alias/aws/*`, are AWS's, not the account's).

A call that fails never makes an account look empty: a unit that could not be listed, an
account that could not be opened, a Region whose keys could not be read are each an `Unread`
with the call's own reason, and whoever judges the result treats them as unknown.

Pure: the ports (`keyplane.estate.ports`) come in, records go out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from keyplane.cloudcall import CloudCallError, NotFound
from keyplane.estate.ports import AccountOpener, OrgAccount, Organization, OrganizationReader

T = TypeVar("T")
R = TypeVar("R")

CUSTOMER = "CUSTOMER"


@dataclass(frozen=True)
class Unread:
    """A part of the estate that could not be read, and why (the call and its error code)."""

    resource: str
    reason: str


def why(exc: CloudCallError) -> str:
    """`ListKeys denied (AccessDeniedException) in us-east-1: <the provider's message>`."""
    return f"{exc.describe()}: {exc.message}" if exc.message else exc.describe()


@dataclass(frozen=True)
class AccountEntry:
    """A member account and where it sits: `Root/Workloads/Payments`."""

    account: OrgAccount
    path: str


@dataclass
class OrganizationTree:
    """What the walk found: the accounts, how many units, and what could not be listed."""

    organization: Organization
    caller_account: str
    accounts: list[AccountEntry] = field(default_factory=list)
    units: int = 0
    unread: list[Unread] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every unit was listed: an account not found is not in the organization."""
        return not self.unread

    def account(self, account_id: str) -> AccountEntry | None:
        """The entry of `account_id`, if the walk found it."""
        return next((a for a in self.accounts if a.account.id == account_id), None)


@dataclass(frozen=True)
class KeyScan:
    """Customer managed KMS keys of one account, per Region, and what could not be read."""

    account_id: str
    keys: dict[str, int] = field(default_factory=dict)
    unread: tuple[Unread, ...] = ()

    @property
    def total(self) -> int:
        """Customer managed keys across the Regions read."""
        return sum(self.keys.values())


def bounded_map(fn: Callable[[T], R], items: Sequence[T], concurrency: int) -> list[R]:
    """`fn` over `items` with at most `concurrency` in flight, results in the items' order."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items))),
                            thread_name_prefix="keyplane-estate") as pool:
        return list(pool.map(fn, items))


def read_organization(reader: OrganizationReader, *, organization: Organization,
                      caller_account: str, concurrency: int = 8) -> OrganizationTree:
    """Every account of `organization`, with its unit path, walked from the roots."""
    tree = OrganizationTree(organization=organization, caller_account=caller_account)
    try:
        roots = reader.roots()
    except CloudCallError as exc:
        tree.unread.append(Unread(f"aws organization {organization.id}", why(exc)))
        return tree
    frontier = [(r.id, r.name) for r in roots]

    def visit(node: tuple[str, str]) -> tuple[list[tuple[str, str]], list[AccountEntry],
                                               list[Unread]]:
        unit_id, path = node
        children: list[tuple[str, str]] = []
        accounts: list[AccountEntry] = []
        unread: list[Unread] = []
        try:
            children = [(u.id, f"{path}/{u.name}") for u in reader.child_units(unit_id)]
        except CloudCallError as exc:
            unread.append(Unread(f"aws organizational unit {unit_id} ({path})", why(exc)))
        try:
            accounts = [AccountEntry(a, path) for a in reader.accounts_in(unit_id)]
        except CloudCallError as exc:
            unread.append(Unread(f"aws accounts of {unit_id} ({path})", why(exc)))
        return children, accounts, unread

    seen: set[str] = set()
    while frontier:
        frontier = [n for n in frontier if n[0] not in seen]  # a unit is listed once
        seen.update(n[0] for n in frontier)
        tree.units += len(frontier)
        nxt: list[tuple[str, str]] = []
        for children, accounts, unread in bounded_map(visit, frontier, concurrency):
            nxt += children
            tree.accounts += accounts
            tree.unread += unread
        frontier = nxt
    tree.accounts.sort(key=lambda a: a.account.id)
    return tree


def scan_accounts(opener: AccountOpener, account_ids: Iterable[str], regions: Sequence[str], *,
                  concurrency: int = 8) -> dict[str, KeyScan]:
    """The customer managed KMS keys of each account in `regions`, by account id."""
    def scan(account_id: str) -> KeyScan:
        resource = f"aws account {account_id}"
        try:
            in_region = opener(account_id)
        except CloudCallError as exc:
            return KeyScan(account_id, unread=(Unread(resource, f"keys not read: {why(exc)}"),))
        keys: dict[str, int] = {}
        unread: list[Unread] = []
        for region in regions:
            kms = in_region(region)
            try:
                ids = kms.list_key_ids()
                count = 0
                for key_id in ids:
                    try:
                        if kms.describe_key(key_id).key_manager == CUSTOMER:
                            count += 1
                    except NotFound:
                        continue  # deleted between ListKeys and DescribeKey: not held
                keys[region] = count
            except CloudCallError as exc:
                unread.append(Unread(resource, f"keys in {region} not read: {why(exc)}"))
        return KeyScan(account_id, keys=keys, unread=tuple(unread))

    ids = sorted(set(account_ids))
    return {s.account_id: s for s in bounded_map(scan, ids, concurrency)}
