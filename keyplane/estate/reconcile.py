"""The estate against the inventory: keys nobody declared, environment files that point at nothing.

`keyplane estate` reads an AWS Organization (`keyplane.estate.organizations`) and a GCP folder
or organization (`keyplane.estate.gcp_projects`); this module compares what they hold with
the environment files and judges:

- `estate.aws_account_unmanaged`: an active account holds customer managed KMS keys and no
  environment file names it (as its account, its drill account or its backup copy account);
- `estate.aws_account_not_in_organization`: an environment's account is not a member of the
  organization its file declares (`aws.organization_id`): closed and gone after the
  post-closure period, or moved to another organization;
- `estate.aws_account_closed`: an environment's account is SUSPENDED, PENDING_CLOSURE or CLOSED;
- `estate.gcp_project_unmanaged`: an active project holds Cloud KMS keys with material and no
  environment file names it;
- `estate.gcp_project_deleted`: an environment's project is DELETE_REQUESTED;
- `estate.gcp_project_not_found`: GetProject finds no such project (purged, or not visible to
  the credentials: Google answers both alike).

What could not be read is unknown, never absent: an account whose keys were not read is not
judged unmanaged nor clean, and an environment's account missing from an organization whose
walk was incomplete is unknown, not gone. An environment outside the scope read (another
organization, a project elsewhere) is noted as not compared. Severities and titles are data
(`RULES`), in one place.

Pure: the discovered records and the loaded environments in, findings out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyplane.estate.gcp_projects import FolderTree, KeyRingScan, Lookup
from keyplane.estate.organizations import KeyScan, OrganizationTree, Unread
from keyplane.estate.ports import ACTIVE, CLOSED_STATES
from keyplane.findings import (
    SCHEMA_VERSION,
    Cloud,
    Control,
    Finding,
    RunOutcome,
    Severity,
    Status,
)
from keyplane.model.environment import Environment
from keyplane.model.specs import Cloud as KeyCloud
from keyplane.model.tiers import Tier

DELETE_REQUESTED = "DELETE_REQUESTED"


@dataclass(frozen=True)
class Rule:
    """An estate rule: what it states, how bad its failure is, the control it proves."""

    title: str
    severity: Severity
    control: Control | None


RULES: dict[str, Rule] = {
    "estate.aws_account_unmanaged": Rule(
        "Every AWS account holding customer managed KMS keys has an environment file",
        Severity.HIGH, Control.PROTECTION),
    "estate.aws_account_not_in_organization": Rule(
        "Every environment's AWS account is a member of the organization it declares",
        Severity.HIGH, None),
    "estate.aws_account_closed": Rule(
        "Every environment's AWS account is active", Severity.HIGH, None),
    "estate.gcp_project_unmanaged": Rule(
        "Every GCP project holding Cloud KMS keys has an environment file",
        Severity.HIGH, Control.PROTECTION),
    "estate.gcp_project_deleted": Rule(
        "No environment's GCP project is being deleted", Severity.HIGH, None),
    "estate.gcp_project_not_found": Rule(
        "Every environment's GCP project exists", Severity.HIGH, None),
}

# (file, path in the file) -> "file:line", to point a finding at the line of an environment file
Locator = Callable[[str | None, tuple[str, ...]], str | None]


@dataclass(frozen=True)
class Declared:
    """What one environment file says about where it lives."""

    environment: str
    aws_account: str | None = None
    organization_id: str | None = None
    aws_source: str | None = None
    aws_tier: Tier | None = None
    other_accounts: tuple[tuple[str, str], ...] = ()  # (account id, its role) e.g. drill account
    gcp_project: str | None = None
    gcp_source: str | None = None
    gcp_tier: Tier | None = None


def _strictest(env: Environment, cloud: KeyCloud) -> Tier | None:
    tiers = [k.tier for k in env.keys_on(cloud)]
    return max(tiers, key=lambda t: t.rank) if tiers else None


def declared(environments: Iterable[Environment], locate: Locator | None = None
             ) -> list[Declared]:
    """The accounts and projects each environment file names, with the lines that name them."""
    def where(env: Environment, path: tuple[str, ...]) -> str | None:
        located = locate(env.source_file, path) if locate is not None else None
        return located or env.source_file

    out = []
    for env in environments:
        others: list[tuple[str, str]] = []
        if env.aws is not None and env.aws.backup is not None:
            if env.aws.backup.drill_account_id:
                others.append((env.aws.backup.drill_account_id, "drill account"))
            if env.aws.backup.copy_to_account_id:
                others.append((env.aws.backup.copy_to_account_id, "backup copy account"))
        out.append(Declared(
            environment=env.name,
            aws_account=env.aws.account_id if env.aws else None,
            organization_id=env.aws.organization_id if env.aws else None,
            aws_source=where(env, ("aws", "account_id")) if env.aws else None,
            aws_tier=_strictest(env, KeyCloud.AWS), other_accounts=tuple(others),
            gcp_project=env.gcp.project_id if env.gcp else None,
            gcp_source=where(env, ("gcp", "project_id")) if env.gcp else None,
            gcp_tier=_strictest(env, KeyCloud.GCP)))
    return out


def aws_regions(environments: Iterable[Environment]) -> tuple[str, ...]:
    """The Regions the environment files use (home and replica Regions)."""
    regions = set()
    for env in environments:
        if env.aws is not None:
            regions |= {env.aws.region, *env.aws.replica_regions}
    return tuple(sorted(regions))


def gcp_locations(environments: Iterable[Environment]) -> tuple[str, ...]:
    """The Cloud KMS locations the environment files use (the default and every key's)."""
    locations = set()
    for env in environments:
        if env.gcp is not None:
            locations.add(env.gcp.location)
            locations |= {k.location for k in env.keys_on(KeyCloud.GCP) if k.location}
    return tuple(sorted(locations))


def organization_ids(environments: Iterable[Environment]) -> list[str]:
    """The distinct `aws.organization_id`s of the environment files."""
    return sorted({e.aws.organization_id for e in environments
                   if e.aws is not None and e.aws.organization_id})


def _aws_owners(decl: Iterable[Declared]) -> dict[str, list[str]]:
    owners: dict[str, list[str]] = {}
    for d in decl:
        if d.aws_account:
            owners.setdefault(d.aws_account, []).append(d.environment)
        for account, role in d.other_accounts:
            owners.setdefault(account, []).append(f"{d.environment} ({role})")
    return owners


def accounts_to_scan(tree: OrganizationTree, decl: Iterable[Declared]) -> list[str]:
    """The active accounts no environment file names: the ones whose keys are asked about."""
    owners = _aws_owners(decl)
    return [a.account.id for a in tree.accounts
            if a.account.state == ACTIVE and a.account.id not in owners]


def projects_to_scan(tree: FolderTree, decl: Iterable[Declared]) -> list[str]:
    """The active projects no environment file names."""
    named = {d.gcp_project for d in decl if d.gcp_project}
    return [p.project.project_id for p in tree.projects
            if p.project.state == ACTIVE and p.project.project_id not in named]


def projects_to_look_up(tree: FolderTree, decl: Iterable[Declared]) -> list[str]:
    """The environments' projects the walk did not meet (asked of GetProject)."""
    return sorted({d.gcp_project for d in decl
                   if d.gcp_project and tree.project(d.gcp_project) is None})


@dataclass
class EstateReport:
    """The judged estate: findings, unknowns, notes, and every account and project read."""

    findings: list[Finding] = field(default_factory=list)
    unknowns: list[Unread] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    projects: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def open_findings(self) -> list[Finding]:
        """The failures (every estate finding is one; none is waived)."""
        return [f for f in self.findings if f.is_open]

    @property
    def outcome(self) -> RunOutcome:
        """INCOMPLETE when anything could not be read; else FINDINGS or CLEAN."""
        if self.unknowns:
            return RunOutcome.INCOMPLETE
        return RunOutcome.FINDINGS if self.open_findings else RunOutcome.CLEAN

    def merge(self, other: EstateReport) -> EstateReport:
        """Both clouds' parts in one report."""
        return EstateReport(findings=self.findings + other.findings,
                            unknowns=self.unknowns + other.unknowns,
                            notes=self.notes + other.notes,
                            accounts=self.accounts + other.accounts,
                            projects=self.projects + other.projects,
                            summary={**self.summary, **other.summary})

    def sort(self) -> None:
        """Most urgent first, then by resource, so reports diff cleanly."""
        self.findings.sort(key=lambda f: (-f.severity.rank, f.rule_id, f.resource))
        self.unknowns.sort(key=lambda u: (u.resource, u.reason))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        self.sort()
        return {"schema_version": SCHEMA_VERSION, "command": "estate",
                "outcome": self.outcome.value, "summary": self.summary,
                "findings": [f.to_dict() for f in self.findings],
                "unknowns": [{"resource": u.resource, "reason": u.reason}
                             for u in self.unknowns],
                "notes": list(self.notes), "accounts": self.accounts,
                "projects": self.projects}


def _finding(rule_id: str, *, resource: str, resource_type: str, reason: str, cloud: Cloud,
             environment: str | None = None, tier: Tier | None = None,
             source: str | None = None, expected: Any = None, actual: Any = None) -> Finding:
    rule = RULES[rule_id]
    return Finding(rule_id=rule_id, status=Status.FAIL, severity=rule.severity,
                   resource=resource, reason=reason, control=rule.control, cloud=cloud,
                   environment=environment, tier=tier, resource_type=resource_type,
                   source=source, expected=expected, actual=actual, area="estate")


def _per_place(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{place}: {n}" for place, n in sorted(counts.items()) if n)


def reconcile_aws(tree: OrganizationTree, scans: Mapping[str, KeyScan],
                  decl: Sequence[Declared], regions: Sequence[str]) -> EstateReport:
    """Judge the organization's accounts against the environment files."""
    org = tree.organization
    report = EstateReport()
    owners = _aws_owners(decl)
    report.unknowns += tree.unread
    for d in decl:
        if d.aws_account is None:
            continue
        entry = tree.account(d.aws_account)
        resource = d.aws_account
        if entry is None:
            if d.organization_id == org.id and tree.complete:
                report.findings.append(_finding(
                    "estate.aws_account_not_in_organization", resource=resource,
                    resource_type="aws_account", cloud=Cloud.AWS, environment=d.environment,
                    tier=d.aws_tier, source=d.aws_source, expected=org.id, actual=None,
                    reason=f"environment {d.environment} declares account {resource} in "
                           f"organization {org.id}, which does not list it: closed and removed "
                           "after its post-closure period, or moved to another organization"))
            elif d.organization_id == org.id:
                report.unknowns.append(Unread(
                    f"aws account {resource}",
                    f"environment {d.environment}'s account is not among the accounts read, and "
                    "part of the organization could not be listed"))
            elif d.organization_id is None:
                report.notes.append(
                    f"environment {d.environment}: aws account {resource} is not in "
                    f"organization {org.id} and the file declares no aws.organization_id; "
                    "not compared")
            else:
                report.notes.append(
                    f"environment {d.environment}: declares organization {d.organization_id}, "
                    f"not {org.id} (the one read); not compared")
            continue
        if d.organization_id is not None and d.organization_id != org.id:
            report.findings.append(_finding(
                "estate.aws_account_not_in_organization", resource=resource,
                resource_type="aws_account", cloud=Cloud.AWS, environment=d.environment,
                tier=d.aws_tier, source=d.aws_source, expected=d.organization_id,
                actual=org.id,
                reason=f"environment {d.environment} declares account {resource} in "
                       f"organization {d.organization_id}, but it is a member of {org.id}"))
        state = entry.account.state
        if state in CLOSED_STATES:
            report.findings.append(_finding(
                "estate.aws_account_closed", resource=resource, resource_type="aws_account",
                cloud=Cloud.AWS, environment=d.environment, tier=d.aws_tier,
                source=d.aws_source, expected=ACTIVE, actual=state,
                reason=f"environment {d.environment}'s account {resource} "
                       f"({entry.account.name}, {entry.path}) is {state}"))
        elif state != ACTIVE:
            report.notes.append(f"environment {d.environment}: aws account {resource} is "
                                f"{state}")
    for entry in tree.accounts:
        acct = entry.account
        scan = scans.get(acct.id)
        row: dict[str, Any] = {"id": acct.id, "name": acct.name, "state": acct.state,
                               "path": entry.path, "declared_by": owners.get(acct.id, []),
                               "customer_keys": None, "keys_by_region": {}}
        report.accounts.append(row)
        if acct.id in owners or acct.state != ACTIVE:
            continue
        if scan is None:
            report.unknowns.append(Unread(f"aws account {acct.id}", "keys not read"))
            continue
        report.unknowns += scan.unread
        row["keys_by_region"] = dict(sorted(scan.keys.items()))
        row["customer_keys"] = scan.total if not scan.unread or scan.total else None
        if scan.total:
            report.findings.append(_finding(
                "estate.aws_account_unmanaged", resource=acct.id, resource_type="aws_account",
                cloud=Cloud.AWS, expected="an environment file", actual=scan.total,
                reason=f"account {acct.id} ({acct.name}, {entry.path}) holds {scan.total} "
                       f"customer managed KMS key(s) ({_per_place(scan.keys)}) and no "
                       "environment file declares it"))
    states: dict[str, int] = {}
    for a in tree.accounts:
        states[a.account.state] = states.get(a.account.state, 0) + 1
    report.summary["aws"] = {
        "organization_id": org.id, "management_account_id": org.management_account_id,
        "caller_account_id": tree.caller_account, "units": tree.units,
        "accounts": len(tree.accounts), "states": dict(sorted(states.items())),
        "accounts_scanned": len(scans), "regions": list(regions)}
    return report


def reconcile_gcp(tree: FolderTree, scans: Mapping[str, KeyRingScan],
                  lookups: Mapping[str, Lookup], decl: Sequence[Declared],
                  locations: Sequence[str]) -> EstateReport:
    """Judge the projects under the scope against the environment files."""
    report = EstateReport()
    report.unknowns += tree.unread
    named: dict[str, Declared] = {d.gcp_project: d for d in decl if d.gcp_project}
    for project_id, d in sorted(named.items()):
        entry = tree.project(project_id)
        found = entry.project if entry is not None else None
        resource = f"projects/{project_id}"
        if found is None:
            lk = lookups.get(project_id)
            if lk is None or lk.unread is not None:
                report.unknowns.append(lk.unread if lk is not None and lk.unread else Unread(
                    f"gcp project {project_id}", "not under the scope and not looked up"))
                continue
            if not tree.complete and (lk.project is None or lk.project.state == ACTIVE):
                # it may sit in the part of the scope that could not be listed
                report.unknowns.append(Unread(
                    f"gcp project {project_id}",
                    f"environment {d.environment}'s project is not among the projects read, "
                    "and part of the scope could not be listed"))
                continue
            if lk.project is None:
                report.findings.append(_finding(
                    "estate.gcp_project_not_found", resource=resource,
                    resource_type="gcp_project", cloud=Cloud.GCP, environment=d.environment,
                    tier=d.gcp_tier, source=d.gcp_source, expected=ACTIVE, actual=None,
                    reason=f"environment {d.environment}'s project {project_id} is not under "
                           f"{tree.scope} and GetProject finds no such project: deleted and "
                           "purged, or not visible to these credentials"))
                continue
            found = lk.project
            if found.state == ACTIVE:
                report.notes.append(f"environment {d.environment}: project {project_id} is "
                                    f"outside {tree.scope} (parent {found.parent}); not "
                                    "compared")
                continue
        if found.state == DELETE_REQUESTED:
            report.findings.append(_finding(
                "estate.gcp_project_deleted", resource=resource, resource_type="gcp_project",
                cloud=Cloud.GCP, environment=d.environment, tier=d.gcp_tier,
                source=d.gcp_source, expected=ACTIVE, actual=found.state,
                reason=f"environment {d.environment}'s project {project_id} is "
                       f"{DELETE_REQUESTED}: it is shut down and will be purged 30 days after "
                       "its deletion unless restored"))
    for entry in tree.projects:
        proj = entry.project
        scan = scans.get(proj.project_id)
        owner = named.get(proj.project_id)
        row: dict[str, Any] = {"project_id": proj.project_id, "name": proj.name,
                               "state": proj.state, "path": entry.path,
                               "declared_by": [owner.environment] if owner else [],
                               "crypto_keys": None, "keys_by_location": {}}
        report.projects.append(row)
        if owner is not None or proj.state != ACTIVE:
            continue
        if scan is None:
            report.unknowns.append(Unread(f"gcp project {proj.project_id}", "keys not read"))
            continue
        report.unknowns += scan.unread
        row["keys_by_location"] = dict(sorted(scan.keys.items()))
        row["crypto_keys"] = scan.total if not scan.unread or scan.total else None
        if scan.total:
            report.findings.append(_finding(
                "estate.gcp_project_unmanaged", resource=f"projects/{proj.project_id}",
                resource_type="gcp_project", cloud=Cloud.GCP,
                expected="an environment file", actual=scan.total,
                reason=f"project {proj.project_id} ({entry.path}) holds {scan.total} Cloud "
                       f"KMS key(s) with key material ({_per_place(scan.keys)}) and no "
                       "environment file declares it"))
    states: dict[str, int] = {}
    for p in tree.projects:
        states[p.project.state] = states.get(p.project.state, 0) + 1
    report.summary["gcp"] = {"scope": tree.scope, "folders": tree.folders,
                             "projects": len(tree.projects), "states": dict(sorted(states.items())),
                             "projects_scanned": len(scans), "locations": list(locations)}
    return report
