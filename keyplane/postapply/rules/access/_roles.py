"""What the role checks share: the declared and observed roles, paired by name, and how a
trust policy or a permissions policy differs from the stack's.

Not a check. The trust and permissions comparisons read documents through
`keyplane.policy.policydoc` (statements, principals, conditions), never as text; a value of
the stack that only apply knows (`UNRESOLVED`) matches any value.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from typing import Any

from keyplane.findings import Cloud
from keyplane.policy.policydoc import Statement, compare, parse
from keyplane.postapply.collect import Facet
from keyplane.postapply.expected import ExpectedRole
from keyplane.postapply.ports import IamRole
from keyplane.postapply.registry import CheckContext, Result, Subject
from keyplane.postapply.rules.drift._shared_reads import unread
from keyplane.postapply.stack import matches, partition

# AWS managed policies that hand a role (nearly) everything, IAM included.
ADMIN_POLICIES = frozenset({"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"})
# What an Allow statement grants that makes a policy an administrator's, in the order named.
_BROAD = ("*", "iam:*", "kms:*")
MFA_KEY = "aws:multifactorauthpresent"
# Federated identities a role trusts are pinned by their token's subject and audience.
_OIDC_CLAIM = re.compile(r":(sub|aud)$")
# IAM shows a principal whose role or user was deleted by its unique id (AROA..., AIDA...).
_UNIQUE_ID = re.compile(r"^A[A-Z]{3}[A-Z0-9]{12,}$")


def role_arn(ctx: CheckContext, name: str) -> str:
    """The ARN of the role `name` in the environment's account (IAM's default path)."""
    aws = ctx.state.env.aws
    assert aws is not None
    return f"arn:{partition(aws.region)}:iam::{aws.account_id}:role/{name}"


def role_subject(ctx: CheckContext, exp: ExpectedRole | None, obs: IamRole | None) -> Subject:
    """A role's subject: its ARN, judged at the environment's highest tier."""
    name = exp.name if exp is not None else obs.name if obs is not None else ""
    arn = obs.arn if obs is not None else role_arn(ctx, name)
    return ctx.shared(arn, cloud=Cloud.AWS, address=exp.address if exp else None)


def observed_roles(ctx: CheckContext) -> dict[str, IamRole] | None:
    """The roles read, by name; None when the role list was not read."""
    if ctx.observed.roles is None:
        return None
    return {r.name: r for r in ctx.observed.roles}


def roles_unread(ctx: CheckContext, exps: Iterable[ExpectedRole | None]) -> Iterator[Result]:
    """UNKNOWN for each of `exps` (a None: the role list as a whole), with the read's reason."""
    return unread(ctx, Facet.ROLES, (e.address if e else None for e in exps))


# --- trust policies --------------------------------------------------------------------------


def _who(stmt: Statement) -> list[str]:
    """The principals an Allow statement lets assume the role (`*` for NotPrincipal)."""
    if stmt.not_principal:
        return ["*"]
    return [p.value for p in stmt.principals]


def _conditions(stmt: Statement) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Condition key -> (operator, values)."""
    return {c.key: (c.operator, tuple(sorted(c.values))) for c in stmt.conditions}


def _same_principals(exp: Statement, act: Statement) -> bool:
    want, got = _who(exp), _who(act)
    return len(want) == len(got) and all(any(matches(w, g) for g in got) for w in want)


def _same_condition(want: tuple[str, tuple[str, ...]], got: tuple[str, tuple[str, ...]]) -> bool:
    (op, values), (got_op, got_values) = want, got
    return op == got_op and len(values) == len(got_values) and all(
        any(matches(v, g) for g in got_values) for v in values)


def _condition_changes(exp: Statement, act: Statement) -> list[str]:
    """What happened to the conditions of `exp` in `act` (the same principals), in words."""
    out: list[str] = []
    had, has = _conditions(exp), _conditions(act)
    for key, (op, values) in sorted(had.items()):
        now = has.get(key)
        claim = _OIDC_CLAIM.search(key)
        what = ("the mfa condition" if key == MFA_KEY else
                f"the oidc {claim.group(1)} condition ({key})" if claim else f"condition {key}")
        if now is None:
            out.append(f"{what} was removed")
        elif not _same_condition((op, values), now):
            out.append(f"{what} changed from {op} {', '.join(values)} to "
                       f"{now[0]} {', '.join(now[1])}")
    return out


def trust_changes(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """How the deployed trust policy differs from the stack's, one phrase each ([]: same).

    A wildcard or undeclared principal, a removed or loosened MFA or OIDC condition are named;
    any other difference is described statement by statement.
    """
    diff = compare(expected, actual)
    if not diff:
        return []
    exp_all = [s for s in parse(expected) if s.allow]
    missing = [s for s in parse({"Statement": list(diff.missing)}) if s.allow]
    extra = [s for s in parse({"Statement": list(diff.extra)}) if s.allow]
    declared = [w for s in exp_all for w in _who(s)]
    out: list[str] = []
    for stmt in extra:
        who = _who(stmt)
        if "*" in who:
            scoped = " (limited only by its conditions)" if stmt.conditions else ""
            out.append(f"any principal (*) can assume the role{scoped}")
        for p in who:
            if p == "*" or any(matches(d, p) for d in declared):
                continue
            if _UNIQUE_ID.match(p):
                out.append(f"principal {p} is a unique id: the identity the stack trusts was "
                           "deleted")
            else:
                out.append(f"undeclared principal {p} can assume the role")
        for exp in missing:
            if _same_principals(exp, stmt):
                out += _condition_changes(exp, stmt)
    if not out:
        out.append(f"the trust policy differs from the stack: {diff.describe()}")
    return list(dict.fromkeys(out))


# --- permissions policies --------------------------------------------------------------------


def broad_grants(doc: dict[str, Any] | None) -> list[str]:
    """Which of `*`, `iam:*` and `kms:*` a policy's Allow statements grant (NotAction: `*`)."""
    if not doc:
        return []
    try:
        stmts = parse(doc)
    except ValueError:
        return []
    got: set[str] = set()
    for s in stmts:
        if not s.allow:
            continue
        if s.not_action:
            got.add("*")  # everything but what it names
        else:
            got |= {a for a in s.actions if a in _BROAD}
    return [b for b in _BROAD if b in got]


def admin_reason(arn: str | None, doc: dict[str, Any] | None) -> str | None:
    """`administrator access: ...` when a policy is one of the administrator policies or
    grants `*`, `iam:*` or `kms:*`; else None."""
    name = arn.rsplit("/", 1)[-1] if arn else None
    broad = broad_grants(doc)
    if arn and arn.split(":")[4:5] == ["aws"] and name in ADMIN_POLICIES:
        return f"administrator access: {name} is an aws managed administrator policy"
    if broad:
        return f"administrator access: it allows {', '.join(broad)}"
    return None


def _covers(big: Statement, small: Statement) -> bool:
    """Whether `big` applies to every request `small` applies to (its actions and resources
    cover small's, and its conditions are among small's); NotAction is never judged covered."""
    if big.not_action or small.not_action or big.effect != small.effect:
        return False
    if not all(any(fnmatch.fnmatchcase(a, pat) for pat in big.actions) for a in small.actions):
        return False
    if not all(any(fnmatch.fnmatchcase(r, pat) or matches(pat, r) for pat in big.resources)
               for r in small.resources):
        return False
    return all(any(c.operator == d.operator and c.key == d.key and len(c.values) == len(d.values)
                   and all(matches(v, w) for v, w in zip(c.values, d.values, strict=True))
                   for d in small.conditions) for c in big.conditions)


def widening(expected: dict[str, Any] | None, actual: dict[str, Any]
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """How a deployed policy grants more than the stack's: its Allow statements no declared
    Allow covers, and the declared Deny statements no deployed Deny still covers.

    A statement narrowed (fewer actions or resources, more conditions) is no widening.
    """
    if expected is None:
        return [], []
    diff = compare(expected, actual)
    if not diff:
        return [], []
    declared, deployed = parse(expected), parse(actual)
    extra = parse({"Statement": list(diff.extra)})
    missing = parse({"Statement": list(diff.missing)})
    added = [raw for raw, st in zip(diff.extra, extra, strict=True)
             if st.allow and not any(_covers(e, st) for e in declared if e.allow)]
    dropped = [raw for raw, st in zip(diff.missing, missing, strict=True)
               if not st.allow and not any(_covers(a, st) for a in deployed if not a.allow)]
    return added, dropped
