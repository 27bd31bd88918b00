"""`keyplane access-review`: who can use each key and who can administer it.

AWS: the key policy (with its Deny statements and `aws:PrincipalArn` conditions),
grants, and, where the policy delegates to IAM, the IAM roles of the environment.
GCP: the IAM bindings of the crypto key and its key ring. Flags humans who can
Sign/Decrypt `ca` or `production` keys, wildcard and cross-account principals,
administrators who can also use a key, and principals the environment does not
declare.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from keyplane.model.environment import Environment
from keyplane.model.tiers import TIERS, SeparationOfDuties, Tier
from keyplane.postapply.collect import Facet, Observed
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.legacy import Finding, Severity, Unknown
from keyplane.postapply.match import Matched
from keyplane.postapply.policy_doc import (
    ADMIN_ACTIONS,
    SENSITIVE_USE,
    USE_ACTIONS,
    actions,
    condition_principal_arns,
    expand,
    principals,
    scoped_to_org,
    statements,
)

NEEDS = {Facet.TAGS, Facet.POLICY, Facet.GRANTS, Facet.ROLES, Facet.GCP_IAM}

GCP_USE_ROLES = frozenset({"roles/cloudkms.signerVerifier", "roles/cloudkms.signer",
                           "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                           "roles/cloudkms.cryptoKeyDecrypter", "roles/cloudkms.cryptoKeyEncrypter",
                           "roles/cloudkms.cryptoOperator", "roles/owner", "roles/editor"})
GCP_SENSITIVE_ROLES = GCP_USE_ROLES - {"roles/cloudkms.cryptoKeyEncrypter"}
GCP_ADMIN_ROLES = frozenset({"roles/cloudkms.admin", "roles/owner"})
_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")
_GCP_PROJECT = re.compile(r"@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$")


def is_human_arn(arn: str, env: Environment) -> bool:
    """An IAM user, an IAM Identity Center (SSO) role, or a workload declared human."""
    if ":user/" in arn or "AWSReservedSSO_" in arn or ":assumed-role/AWSReservedSSO_" in arn:
        return True
    humans = {w.aws.role_arn for w in env.workloads if w.human and w.aws and w.aws.role_arn}
    humans |= {f":role/keyplane-{env.name}-user-{w.name}" for w in env.workloads if w.human}
    return arn in humans or any(arn.endswith(h) for h in humans if h.startswith(":"))


def declared_aws(state: ExpectedState) -> set[str]:
    """Every AWS principal the environment declares (keyplane roles, duties, workloads)."""
    env = state.env
    assert env.aws is not None
    acct = env.aws.account_id
    out = {f"arn:aws:iam::{acct}:root"}
    out |= {f"arn:aws:iam::{acct}:role/{r.name}" for r in state.roles}
    pr = env.principals
    for ps in (pr.key_admins, pr.backup_operators, pr.auditors, pr.break_glass, pr.ceremony):
        if ps is not None:
            out |= set(ps.aws)
    out |= {w.aws.role_arn for w in env.workloads if w.aws and w.aws.role_arn}
    return out


def declared_gcp(env: Environment) -> set[str]:
    """Every Cloud IAM member the environment declares."""
    pr = env.principals
    out: set[str] = set()
    for ps in (pr.key_admins, pr.backup_operators, pr.auditors, pr.break_glass, pr.ceremony):
        if ps is not None:
            out |= set(ps.gcp)
    out |= {w.gcp.member for w in env.workloads if w.gcp}
    return out


def _who(policy: dict[str, object], account: str) -> tuple[dict[str, set[str]], list[str]]:
    """principal -> actions it is allowed (after Deny statements); wildcard statements' sids."""
    allowed: dict[str, set[str]] = {}
    denied: list[tuple[list[str] | None, set[str], bool]] = []  # (arns or None=all), acts, not
    wildcards: list[str] = []
    universe = USE_ACTIONS | ADMIN_ACTIONS
    root = f"arn:aws:iam::{account}:root"
    for stmt in statements(policy):  # type: ignore[arg-type]
        acts = expand(actions(stmt), universe)
        princ = principals(stmt).get("AWS", [])
        pinned = condition_principal_arns(stmt)
        if stmt.get("Effect") == "Deny":
            cond = stmt.get("Condition") or {}
            negated = isinstance(cond, dict) and any(op.startswith("ArnNot") or
                                                     op.startswith("StringNot") for op in cond)
            denied.append((pinned, acts, negated))
            continue
        for p in princ:
            if p == "*" or p == account:
                if not scoped_to_org(stmt):
                    wildcards.append(str(stmt.get("Sid") or "no sid"))
                targets = pinned or ["*"]
            elif p == root and pinned:
                targets = pinned
            else:
                targets = [p]
            for t in targets:
                allowed.setdefault(t, set()).update(acts)
    for who, acts in allowed.items():
        for pinned, dacts, negated in denied:
            if pinned is None:
                applies = True
            elif negated:
                applies = not any(fnmatch.fnmatchcase(who, p) for p in pinned)
            else:
                applies = any(fnmatch.fnmatchcase(who, p) for p in pinned)
            if applies:
                acts -= dacts
    return {k: v for k, v in allowed.items() if v}, wildcards


def _iam_users(observed: Observed, key_arn: str) -> dict[str, set[str]]:
    """Roles whose own policies allow use of `key_arn` (they count where the key delegates)."""
    out: dict[str, set[str]] = {}
    for role in observed.roles or []:
        for doc in role.policies:
            for stmt in statements(doc):
                if stmt.get("Effect") != "Allow":
                    continue
                res = stmt.get("Resource")
                res_list = res if isinstance(res, list) else [res]
                if not any(isinstance(r, str) and fnmatch.fnmatchcase(key_arn, r)
                           for r in res_list):
                    continue
                acts = expand(actions(stmt), USE_ACTIONS | ADMIN_ACTIONS)
                if acts:
                    out.setdefault(role.arn, set()).update(acts)
    return out


def _sev(tier: Tier) -> Severity:
    return Severity.CRITICAL if tier in (Tier.CA, Tier.PRODUCTION) else Severity.HIGH


def check(state: ExpectedState, observed: Observed, matched: Matched
          ) -> tuple[list[Finding], list[Unknown], list[dict[str, object]]]:
    """Access findings, unknowns, and the who-can-use / who-can-administer table."""
    env = state.env
    f: list[Finding] = []
    u: list[Unknown] = []
    table: list[dict[str, object]] = []
    if env.aws is not None:
        acct = env.aws.account_id
        declared = declared_aws(state)
        for exp, obs in matched.aws:
            k = obs.key
            tier = exp.key.tier
            where = {"resource": k.arn, "key": exp.id, "region": k.region,
                     "address": exp.address}
            if obs.policy is None:
                u.append(Unknown(resource=k.arn, key=exp.id, region=k.region,
                                 reason="key policy could not be read: access not reviewed"))
                continue
            who, wildcards = _who(obs.policy, acct)
            if "*" in who or f"arn:aws:iam::{acct}:root" in who:
                for role, acts in _iam_users(observed, k.arn).items():
                    who.setdefault(role, set()).update(acts)
            for g in obs.grants or []:
                ops = {f"kms:{o.lower()}" for o in g.operations}
                who.setdefault(g.grantee_principal, set()).update(ops)
                if g.grantee_principal in ("*", f"arn:aws:iam::{acct}:root"):
                    wildcards.append(f"grant {g.grant_id[:12]}")
            for sid in wildcards:
                f.append(Finding(check="access.wildcard_principal", severity=_sev(tier), **where,
                                 actual=sid,
                                 message=f"{sid} allows any principal without an organization "
                                         "or account condition"))
            _aws_principal_findings(f, env, tier, who, declared, acct, where)
            table.append({"key": exp.id, "resource": k.arn,
                          "use": sorted(p for p, a in who.items() if a & USE_ACTIONS),
                          "administer": sorted(p for p, a in who.items() if a & ADMIN_ACTIONS)})
    declared_g = declared_gcp(env)
    project = env.gcp.project_id if env.gcp else ""
    for exp_g, gobs in matched.gcp:
        tier = exp_g.key.tier
        where = {"resource": gobs.key.name, "key": exp_g.key.name, "address": exp_g.address}
        if gobs.iam is None:
            u.append(Unknown(resource=gobs.key.name, key=exp_g.key.name,
                             reason="iam policy could not be read: access not reviewed"))
            continue
        bindings = list(gobs.iam) + list(observed.gcp_ring_iam.get(gobs.key.key_ring, []))
        use: dict[str, set[str]] = {}
        admin: dict[str, set[str]] = {}
        for b in bindings:
            for m in b.members:
                if b.role in GCP_USE_ROLES:
                    use.setdefault(m, set()).add(b.role)
                if b.role in GCP_ADMIN_ROLES:
                    admin.setdefault(m, set()).add(b.role)
        _gcp_principal_findings(f, tier, use, admin, declared_g, project, where)
        table.append({"key": exp_g.key.name, "resource": gobs.key.name, "use": sorted(use),
                      "administer": sorted(admin)})
    return f, u, table


def _aws_principal_findings(f: list[Finding], env: Environment, tier: Tier,
                            who: dict[str, set[str]], declared: set[str], acct: str,
                            where: dict[str, object]) -> None:
    pol = TIERS[tier]
    for p, acts in sorted(who.items()):
        if p == "*":
            continue
        m = _ACCOUNT.match(p)
        if m and m.group(1) != acct:
            f.append(Finding(check="access.cross_account", severity=_sev(tier), **where, actual=p,
                             message=f"{p} in another account can "
                                     f"{', '.join(sorted(a.split(':')[1] for a in acts))}"))
        sensitive = acts & SENSITIVE_USE
        if sensitive and is_human_arn(p, env) and (not pol.human_use_allowed
                                                   or tier in (Tier.CA, Tier.PRODUCTION)):
            f.append(Finding(check="access.human_can_use", severity=_sev(tier), **where, actual=p,
                             message=f"human principal {p} can "
                                     f"{', '.join(sorted(a.split(':')[1] for a in sensitive))} "
                                     f"with a {tier.value} key"))
        if acts & USE_ACTIONS - {"kms:creategrant"} and acts & (ADMIN_ACTIONS - {"kms:creategrant"}) \
                and pol.separation_of_duties is not SeparationOfDuties.NONE:
            f.append(Finding(check="access.admin_can_use", severity=_sev(tier), **where, actual=p,
                             message=f"{p} can both administer and use the key"))
        if p not in declared and m is not None and m.group(1) == acct:
            f.append(Finding(check="access.principal_not_declared", severity=Severity.MEDIUM,
                             **where, actual=p,
                             message=f"{p} has access but is not declared in the environment"))


def _gcp_principal_findings(f: list[Finding], tier: Tier, use: dict[str, set[str]],
                            admin: dict[str, set[str]], declared: set[str], project: str,
                            where: dict[str, object]) -> None:
    pol = TIERS[tier]
    members: Iterable[str] = sorted(set(use) | set(admin))
    for m in members:
        roles = use.get(m, set()) | admin.get(m, set())
        if m in ("allUsers", "allAuthenticatedUsers"):
            f.append(Finding(check="access.wildcard_principal", severity=_sev(tier), **where,
                             actual=m, message=f"{m} is granted {', '.join(sorted(roles))}"))
            continue
        pm = _GCP_PROJECT.search(m)
        if pm and pm.group(1) != project:
            f.append(Finding(check="access.cross_account", severity=_sev(tier), **where, actual=m,
                             message=f"{m} from project {pm.group(1)} is granted "
                                     f"{', '.join(sorted(roles))}"))
        sensitive = use.get(m, set()) & GCP_SENSITIVE_ROLES
        human = m.startswith(("user:", "group:"))
        if sensitive and human and (not pol.human_use_allowed
                                    or tier in (Tier.CA, Tier.PRODUCTION)):
            f.append(Finding(check="access.human_can_use", severity=_sev(tier), **where, actual=m,
                             message=f"human member {m} holds {', '.join(sorted(sensitive))} on "
                                     f"a {tier.value} key"))
        if m in use and m in admin and pol.separation_of_duties is not SeparationOfDuties.NONE:
            f.append(Finding(check="access.admin_can_use", severity=_sev(tier), **where, actual=m,
                             message=f"{m} can both administer and use the key"))
        if m not in declared:
            f.append(Finding(check="access.principal_not_declared", severity=Severity.MEDIUM,
                             **where, actual=m,
                             message=f"{m} has access but is not declared in the environment"))
