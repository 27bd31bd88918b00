"""Who can use each key and who can administer it: the access review's table.

AWS: the key policy, read through `keyplane.policy.policydoc` (its Deny statements and
`aws:PrincipalArn` conditions), grants, and, where the policy delegates to IAM, the IAM
roles of the environment. GCP: the IAM bindings of the crypto key and its key ring.
The access checks (`keyplane/postapply/rules/access/`) judge these rows: humans who can
Sign/Decrypt `ca` or `production` keys, wildcard and cross-account principals,
administrators who can also use a key, principals the environment does not declare. Each AWS
row also says who can assume each role that can use or administer the key: a role is only as
narrow as its trust policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyplane.policy.policydoc import (
    ADMIN_ACTIONS,
    USE_ACTIONS,
    PolicyParseError,
    identity_access,
    key_access,
    parse,
)
from keyplane.postapply.collect import Facet, Observed, ObservedAwsKey, ObservedGcpKey
from keyplane.postapply.expected import ExpectedState
from keyplane.postapply.match import Matched
from keyplane.postapply.ports import IamRole

NEEDS = {Facet.TAGS, Facet.POLICY, Facet.GRANTS, Facet.ROLES, Facet.GCP_IAM}

GCP_USE_ROLES = frozenset({"roles/cloudkms.signerVerifier", "roles/cloudkms.signer",
                           "roles/cloudkms.cryptoKeyEncrypterDecrypter",
                           "roles/cloudkms.cryptoKeyDecrypter", "roles/cloudkms.cryptoKeyEncrypter",
                           "roles/cloudkms.cryptoOperator", "roles/owner", "roles/editor"})
GCP_SENSITIVE_ROLES = GCP_USE_ROLES - {"roles/cloudkms.cryptoKeyEncrypter"}
GCP_ADMIN_ROLES = frozenset({"roles/cloudkms.admin", "roles/owner"})
# Members that stand for anyone (on the internet, or with a Google account).
GCP_PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})


@dataclass
class AwsReach:
    """Who can do what with one AWS key: principal -> KMS actions (lowercase)."""

    who: dict[str, set[str]]
    # what allows any principal: statements without a caller condition (their Sid), and
    # grants to the account or to anyone (`grant <id>`)
    wildcards: list[str] = field(default_factory=list)
    # the key policy delegates to IAM but the environment's roles were not read
    iam_unread: bool = False

    @property
    def use(self) -> list[str]:
        """The principals that can use the key."""
        return sorted(p for p, a in self.who.items() if a & USE_ACTIONS)

    @property
    def administer(self) -> list[str]:
        """The principals that can administer the key."""
        return sorted(p for p, a in self.who.items() if a & ADMIN_ACTIONS)


@dataclass
class GcpReach:
    """Who holds which use and administer roles on one crypto key (key and key ring)."""

    use: dict[str, set[str]]
    admin: dict[str, set[str]]

    @property
    def members(self) -> list[str]:
        """Every member that can use or administer the key."""
        return sorted(set(self.use) | set(self.admin))


def aws_reach(state: ExpectedState, observed: Observed, obs: ObservedAwsKey) -> AwsReach:
    """Who can use or administer `obs` (its policy must have been read).

    Raises PolicyParseError when the key policy (or a role's policy) is not a policy document.
    """
    assert state.env.aws is not None and obs.policy is not None
    account = state.env.aws.account_id
    root = f"arn:aws:iam::{account}:root"
    access = key_access(parse(obs.policy), account)
    reach = AwsReach(who={p: set(a) for p, a in access.allowed.items()},
                     wildcards=list(access.wildcards))
    if "*" in reach.who or root in reach.who:  # the key policy lets IAM policies grant use
        reach.iam_unread = observed.roles is None
        for role in observed.roles or []:
            acts: set[str] = set()
            for doc in role.policies:
                acts |= identity_access(parse(doc), obs.key.arn)
            if acts:
                reach.who.setdefault(role.arn, set()).update(acts)
    for g in obs.grants or []:
        reach.who.setdefault(g.grantee_principal, set()).update(
            f"kms:{o.lower()}" for o in g.operations)
        if g.grantee_principal in ("*", root):
            reach.wildcards.append(f"grant {g.grant_id[:12]}")
    return reach


def gcp_reach(observed: Observed, obs: ObservedGcpKey) -> GcpReach:
    """Who holds use and administer roles on `obs` (its IAM policy must have been read)."""
    bindings = list(obs.iam or []) + list(observed.gcp_ring_iam.get(obs.key.key_ring, []))
    reach = GcpReach(use={}, admin={})
    for b in bindings:
        for m in b.members:
            if b.role in GCP_USE_ROLES:
                reach.use.setdefault(m, set()).add(b.role)
            if b.role in GCP_ADMIN_ROLES:
                reach.admin.setdefault(m, set()).add(b.role)
    return reach


_ASSUME = ("sts:assumerole", "sts:assumerolewithwebidentity", "sts:assumerolewithsaml")


def assumers(role: IamRole) -> list[str]:
    """Who the role's (observed) trust policy lets assume it: each principal, with the
    conditions that bind it named (`mfa`, the OIDC `sub`), sorted."""
    try:
        stmts = parse(role.trust_policy)
    except PolicyParseError:
        return ["(trust policy is not a policy document)"]
    out: set[str] = set()
    for s in stmts:
        if not s.allow or not any(s.grants(a) for a in _ASSUME):
            continue
        notes = ["mfa"] if "true" in s.condition_values(
            "aws:multifactorauthpresent", frozenset({"bool"})) else []
        notes += [f"sub {', '.join(c.values)}" for c in s.conditions if c.key.endswith(":sub")]
        for who in ["*"] if s.not_principal else [p.value for p in s.principals]:
            out.add(who + (f" ({'; '.join(notes)})" if notes else ""))
    return sorted(out)


def table(state: ExpectedState, observed: Observed, matched: Matched) -> list[dict[str, object]]:
    """The who-can-use / who-can-administer rows of every key whose access could be read;
    an AWS row adds who can assume each role among them (`assumed_by`, from the trust
    policies read)."""
    roles = {r.arn: r for r in observed.roles or []}
    rows: list[dict[str, object]] = []
    if state.env.aws is not None:
        for exp, obs in matched.aws:
            if obs.policy is None:
                continue  # the access checks judge it UNKNOWN
            try:
                reach = aws_reach(state, observed, obs)
            except PolicyParseError:
                continue  # likewise
            rows.append({"key": exp.id, "resource": obs.key.arn, "use": reach.use,
                         "administer": reach.administer,
                         "assumed_by": {arn: assumers(roles[arn]) for arn in sorted(
                             set(reach.use) | set(reach.administer)) if arn in roles}})
    for exp_g, gobs in matched.gcp:
        if gobs.iam is None:
            continue
        g = gcp_reach(observed, gobs)
        rows.append({"key": exp_g.key.name, "resource": gobs.key.name, "use": sorted(g.use),
                     "administer": sorted(g.admin)})
    return rows

