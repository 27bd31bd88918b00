"""What the access checks share: each key's reach (who can do what) and the declared principals.

Not a check. A key whose reach cannot be told (its policy or IAM policy unreadable, or not a
policy document, or its policy delegates to IAM and the roles were not read) is judged
UNKNOWN here, once per check, with the reason; the checks see only the keys they can judge.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from keyplane.model.environment import Environment
from keyplane.model.tiers import TIERS, Tier
from keyplane.policy.policydoc import PolicyParseError
from keyplane.postapply.access import AwsReach, GcpReach, aws_reach, gcp_reach
from keyplane.postapply.collect import Facet
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.registry import AwsKeyPair, CheckContext, GcpKeyPair, Result, unknown

ACCOUNT = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")
GCP_PROJECT = re.compile(r"@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$")


def aws_reaches(ctx: CheckContext, *, iam: bool = True
                ) -> Iterator[tuple[AwsKeyPair, AwsReach] | Result]:
    """Each matched AWS key with its reach, or UNKNOWN when it cannot be told.

    `iam`: the check reads the principals IAM policies add where the key policy delegates
    to IAM (so it cannot judge a delegating key whose roles were not read).
    """
    if ctx.state.env.aws is None:
        return
    for pair in ctx.aws_keys(Facet.POLICY, Facet.GRANTS):
        if pair.observed.policy is None:
            yield unknown(pair.subject, "key policy was not read: access not reviewed")
            continue
        memo = ("aws_reach", pair.observed.key.arn)
        if memo not in ctx.memo:
            try:
                ctx.memo[memo] = aws_reach(ctx.state, ctx.observed, pair.observed)
            except PolicyParseError as exc:
                ctx.memo[memo] = exc
        reach = ctx.memo[memo]
        if isinstance(reach, PolicyParseError):
            yield unknown(pair.subject, f"a policy is not a policy document ({reach}): access "
                                        "not reviewed")
            continue
        if iam and reach.iam_unread:
            why = ctx.why_unread(facet=Facet.ROLES, default="the roles were not read")
            yield unknown(pair.subject, "the key policy lets iam policies grant access and the "
                                        f"environment's iam roles could not be read ({why})")
            continue
        yield pair, reach


def gcp_reaches(ctx: CheckContext) -> Iterator[tuple[GcpKeyPair, GcpReach] | Result]:
    """Each matched Cloud KMS key with its reach, or UNKNOWN when its IAM policy was not read."""
    for pair in ctx.gcp_keys(Facet.GCP_IAM):
        if pair.observed.iam is None:
            yield unknown(pair.subject, "iam policy was not read: access not reviewed")
            continue
        yield pair, gcp_reach(ctx.observed, pair.observed)


def strict(tier: Tier) -> bool:
    """Whether no human may use a key of `tier` (even where the tier allows use with MFA)."""
    return not TIERS[tier].human_use_allowed or tier in (Tier.CA, Tier.PRODUCTION)


def action_names(actions: set[str]) -> str:
    """`Decrypt, Sign` from `{"kms:sign", "kms:decrypt"}` (the action names, sorted)."""
    return ", ".join(sorted(a.split(":", 1)[1] for a in actions))


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
