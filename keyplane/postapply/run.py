"""One post-apply run: check identity, read once, run the asked jobs, one report.

`keyplane post-apply` runs rotation + drift + access review over a single read
of the deployed state; each of `keyplane rotation`, `drift`, `access-review` and
`discover` runs one job the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from keyplane.findings import Finding, Severity, Status
from keyplane.policy.packs import check_severity
from keyplane.postapply import access, discover
from keyplane.postapply.acks import Ack
from keyplane.postapply.acks import apply as apply_acks
from keyplane.postapply.collect import DEFAULT_CONCURRENCY, Collector, Facet, ProgressFn
from keyplane.postapply.errors import (
    ACCOUNT_MISMATCH,
    CREDENTIALS_EXPIRED,
    PROJECT_MISMATCH,
    RESUME_INVALID,
    HookSetupError,
)
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.match import match
from keyplane.postapply.ports import (
    AwsRegionReader,
    CredentialsExpired,
    GcpProjectReader,
    ReadError,
)
from keyplane.postapply.registry import CheckContext, checks_for, needs_of, run_checks
from keyplane.postapply.report import Report, Unknown

# What a section reads besides what its checks declare: every section matches keys by their
# tags; access review's table reads policies, grants and roles; discover's drafts the aliases.
SECTIONS: dict[str, set[Facet]] = {"rotation": {Facet.TAGS}, "drift": {Facet.TAGS},
                                   "access-review": {Facet.TAGS} | access.NEEDS,
                                   "discover": {Facet.TAGS} | discover.NEEDS}


def check_identity(state: ExpectedState, aws: Mapping[str, AwsRegionReader] | None,
                   gcp: GcpProjectReader | None) -> None:
    """The credentials must act in the environment's account and project, before any read."""
    env = state.env
    if aws and env.aws is not None:
        reader = aws.get(env.aws.region) or next(iter(aws.values()))
        try:
            account = reader.caller_account()
        except CredentialsExpired as err:
            raise HookSetupError(f"aws credentials are expired ({err.code}); nothing was read",
                                 code=CREDENTIALS_EXPIRED) from None
        except ReadError as err:
            raise HookSetupError(f"cannot confirm the aws account (sts:GetCallerIdentity "
                                 f"{err.kind}: {err.code}); nothing was read",
                                 code=ACCOUNT_MISMATCH) from None
        if account != env.aws.account_id:
            raise HookSetupError(f"aws credentials act in account {account}; environment "
                                 f"{env.name} declares {env.aws.account_id}; nothing was read",
                                 code=ACCOUNT_MISMATCH)
    if gcp is not None and env.gcp is not None:
        if gcp.project != env.gcp.project_id:
            raise HookSetupError(f"gcp project is {gcp.project}; environment {env.name} "
                                 f"declares {env.gcp.project_id}; nothing was read",
                                 code=PROJECT_MISMATCH)
        try:
            gcp.check_project(env.gcp.location)
        except CredentialsExpired as err:
            raise HookSetupError(f"gcp credentials are expired ({err.code}); nothing was read",
                                 code=CREDENTIALS_EXPIRED) from None
        except ReadError as err:
            raise HookSetupError(f"cannot read cloud kms in project {gcp.project} ({err.code}); "
                                 "nothing was read", code=PROJECT_MISMATCH) from None


def _resume(resume: Mapping[str, Any] | None, command: str, env: str
            ) -> tuple[set[str], set[str], list[Finding]]:
    if not resume:
        return set(), set(), []
    if resume.get("command") != command or resume.get("environment") != env:
        raise HookSetupError(f"resume file is a report of {resume.get('command')} "
                             f"{resume.get('environment')}, not of {command} {env}",
                             code=RESUME_INVALID)
    try:
        checked = {str(r) for r in resume.get("checked", [])}
        matched = {str(k): str(v) for k, v in (resume.get("matched") or {}).items()}
        carried = [Finding.from_dict(_schema1(f)) for f in resume.get("findings", [])
                   if f.get("resource") in checked]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a finding not an object
        raise HookSetupError(f"resume file is not a keyplane report: {exc}",
                             code=RESUME_INVALID) from None
    return checked, {matched[r] for r in checked if r in matched}, carried


def run(*, command: str, sections: list[str], state: ExpectedState,
        aws: Mapping[str, AwsRegionReader] | None, gcp: GcpProjectReader | None,
        now: dt.datetime | None = None, concurrency: int = DEFAULT_CONCURRENCY,
        acks: list[Ack] | None = None, resume: Mapping[str, Any] | None = None,
        progress: ProgressFn | None = None) -> Report:
    """Run `sections` over one read of the deployed state; the report."""
    now = now or dt.datetime.now(dt.UTC)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise HookSetupError(f"unknown section(s) {', '.join(unknown)}; allowed: "
                             f"{', '.join(SECTIONS)}")
    env = state.env
    skip, resumed_ids, carried = _resume(resume, command, env.name)
    check_identity(state, aws, gcp)
    needs: set[Facet] = set().union(*(SECTIONS[s] for s in sections)) | needs_of(sections)
    collector = Collector(state=state, aws=aws, gcp=gcp, needs=needs, concurrency=concurrency,
                          progress=progress, skip=skip)
    observed = collector.run()
    matched = match(state, observed, resumed=resumed_ids)
    report = Report(command=command, environment=env.name, started_at=now,
                    sections=list(sections), stopped=observed.stopped,
                    notes=[*state.notes, f"expected state: {state.source}"])
    ctx = CheckContext(state=state, observed=observed, matched=matched, now=now)
    results = run_checks(checks_for(sections), ctx, check_severity)
    if "access-review" in sections:
        report.access = access.table(state, observed, matched)
    if "discover" in sections:
        report.drafts = discover.drafts(state, dict(observed.aliases), matched)
    report.findings = [f for f in results if f.status is Status.FAIL]
    judged = [f for f in results if f.status in (Status.UNKNOWN, Status.ERROR)]
    report.unknowns = _unknowns(judged, observed.unknowns, env.name)
    report.findings = _dedupe(report.findings) + carried
    if acks:
        report.findings, report.unmatched_acks, notes = apply_acks(report.findings, acks,
                                                                   today=now.date())
        report.notes += notes
    report.checked = sorted(observed.checked | skip)
    report.matched = {obs.key.arn: exp.id for exp, obs in matched.aws}
    report.matched.update({gobs.key.name: exp.key.name for exp, gobs in matched.gcp})
    report.matched.update({r: m for r, m in ((resume or {}).get("matched") or {}).items()
                           if r in skip})
    report.sort()
    return report


def _schema1(data: Mapping[str, Any]) -> dict[str, Any]:
    """A finding of a report as schema 1 reads it (a schema 0 report named `rule_id` `check`
    and `reason` `message`, and listed only failures)."""
    out = dict(data)
    out.setdefault("rule_id", data.get("check"))
    out.setdefault("reason", data.get("message"))
    out.setdefault("outcome", Status.FAIL.value)
    return out


def _unknowns(judged: list[Finding], reads: list[Unknown], env: str) -> list[Finding]:
    """What could not be judged: each check's UNKNOWN results, then every failed read that no
    check reported already (a read that failed always leaves the run INCOMPLETE)."""
    out = list(judged)
    seen = {(f.resource, f.reason) for f in judged}
    for u in reads:
        if (u.resource, u.reason) in seen:
            continue
        seen.add((u.resource, u.reason))
        facet = Facet(u.facet) if u.facet else None
        out.append(Finding(rule_id=f"read.{u.facet or 'state'}", status=Status.UNKNOWN,
                           severity=Severity.INFO, resource=u.resource, reason=u.reason,
                           control=facet.control if facet else None, environment=env,
                           key=u.key, region=u.region))
    return out


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for f in findings:
        k = (f.rule_id, f.resource, f.reason)
        if k not in seen:
            seen.add(k)
            out.append(f)
    return out
