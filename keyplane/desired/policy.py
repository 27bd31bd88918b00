"""KMS key policies and IAM policies as data: action lists, statements, documents.

Pure Python (no CDK import), so the PR gate, the access review and the tests can
build the same documents the constructs synthesize. Permissions are data; the plan
(`keyplane.desired.aws`) assembles them and the constructs only serialize them.

The rules every key policy keeps (shared/TIERS.md, key-policy guardrails):

- no `Principal: *`: principals are named roles of the environment's own account;
- no `kms:*`: administrators get an explicit list that excludes every cryptographic
  operation and `kms:CreateGrant` (a grant would let an admin hand itself use);
- an administrator always keeps `kms:PutKeyPolicy`, so the lockout safety check is
  never needed and never bypassed;
- the account root appears only in a conditioned statement (see `iam_delegation`)
  and in Deny statements, where the account principal means "anyone in this account";
- only the break-glass role may schedule deletion, with MFA, and never with a
  waiting period shorter than the tier's floor.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyplane.desired.names import account_root_arn, partition_of, role_arn
from keyplane.model.environment import Environment, KeyDecl
from keyplane.model.specs import KeyFamily, KeyUsage, Origin, spec_info
from keyplane.model.tags import (
    ROLE_AUDITOR,
    ROLE_BREAK_GLASS,
    ROLE_CEREMONY,
    ROLE_KEY_ADMIN,
    ROLE_KEY_USER,
    role_name,
)
from keyplane.model.tiers import Tier

__all__ = [
    "KMS_ADMIN_ACTIONS",
    "KMS_CONTAIN_ACTIONS",
    "KMS_DELETE_ACTION",
    "KMS_IMPORT_ACTIONS",
    "KMS_READ_ACTIONS",
    "KMS_USE_ACTIONS",
    "POLICY_VERSION",
    "AccountPrincipals",
    "KeyPolicyInput",
    "PolicyDocument",
    "Statement",
    "administration",
    "auditing",
    "deletion_guard",
    "document",
    "identity_statement",
    "key_family",
    "key_policy",
    "key_use",
    "mfa_condition",
    "partition_of",
    "service_statement",
    "sid",
    "statement",
    "to_json",
    "trust_policy",
    "use_actions",
]

Statement = dict[str, Any]
PolicyDocument = dict[str, Any]

POLICY_VERSION = "2012-10-17"

# What administrators may do to a key: manage it, never use it, never delete it.
KMS_ADMIN_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReplicateKey",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:UpdatePrimaryRegion",
)
# Imported (origin external) keys: the admin runs the escrowed import procedure.
KMS_IMPORT_ACTIONS: tuple[str, ...] = (
    "kms:DeleteImportedKeyMaterial",
    "kms:GetParametersForImport",
    "kms:ImportKeyMaterial",
)
# Every operation that uses key material, plus CreateGrant (delegated use): denied to admins.
KMS_USE_ACTIONS: tuple[str, ...] = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeriveSharedSecret",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:GenerateMac",
    "kms:ReEncrypt*",
    "kms:Sign",
    "kms:Verify",
    "kms:VerifyMac",
)
KMS_READ_ACTIONS: tuple[str, ...] = ("kms:Describe*", "kms:Get*", "kms:List*")
KMS_DELETE_ACTION = "kms:ScheduleKeyDeletion"
# What containing a compromised key takes (`keyplane incident`): stop its use now and cut the
# grants that let others use it. Break-glass only, with MFA.
KMS_CONTAIN_ACTIONS: tuple[str, ...] = ("kms:DisableKey", "kms:ListGrants", "kms:RevokeGrant")

# What a key's user may do, by usage and family; the verify-only variant is what a
# generation that is no longer current keeps (verify, decrypt old data, never produce).
_USE: dict[tuple[KeyUsage, KeyFamily], tuple[str, ...]] = {
    (KeyUsage.SIGN, KeyFamily.ASYMMETRIC): (
        "kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:Verify"),
    (KeyUsage.ENCRYPT, KeyFamily.SYMMETRIC): (
        "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
        "kms:ReEncrypt*"),
    (KeyUsage.ENCRYPT, KeyFamily.ASYMMETRIC): (
        "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GetPublicKey"),
    (KeyUsage.MAC, KeyFamily.HMAC): ("kms:DescribeKey", "kms:GenerateMac", "kms:VerifyMac"),
}
_VERIFY_ONLY: dict[tuple[KeyUsage, KeyFamily], tuple[str, ...]] = {
    (KeyUsage.SIGN, KeyFamily.ASYMMETRIC): ("kms:DescribeKey", "kms:GetPublicKey", "kms:Verify"),
    (KeyUsage.ENCRYPT, KeyFamily.SYMMETRIC): ("kms:Decrypt", "kms:DescribeKey",
                                              "kms:ReEncryptFrom"),
    (KeyUsage.ENCRYPT, KeyFamily.ASYMMETRIC): ("kms:Decrypt", "kms:DescribeKey",
                                               "kms:GetPublicKey"),
    (KeyUsage.MAC, KeyFamily.HMAC): ("kms:DescribeKey", "kms:VerifyMac"),
}


def use_actions(usage: KeyUsage, family: KeyFamily, *, verify_only: bool = False
                ) -> tuple[str, ...]:
    """The operations a key's usage needs; a verify-only generation keeps only the reverse half."""
    table = _VERIFY_ONLY if verify_only else _USE
    return table[(usage, family)]


def key_family(key: KeyDecl) -> KeyFamily:
    """The material family of a filled-in key declaration."""
    assert key.spec is not None, "the loader fills in every key's spec"
    return spec_info(key.cloud, key.spec).family


def sid(*parts: str) -> str:
    """A statement id from words: `KeyUseReleasePipeline` (Sids allow only [A-Za-z0-9])."""
    words = [w for p in parts for w in re.split(r"[^A-Za-z0-9]+", p) if w]
    return "".join(w[0].upper() + w[1:] for w in words)


@dataclass(frozen=True, kw_only=True)
class AccountPrincipals:
    """The ARNs of one environment's separation-of-duties roles, built from names, not tokens.

    ARNs are literal strings so the synthesized policy is readable by the PR gate
    without a plan; the constructs add an explicit dependency on the roles instead.
    """

    partition: str
    account_id: str
    env_name: str
    declared_admins: tuple[str, ...] = ()  # principals.key_admins.aws: may run Terraform
    has_auditor: bool = True
    has_backup_operator: bool = True
    has_ceremony: bool = False

    @classmethod
    def of(cls, env: Environment) -> AccountPrincipals:
        """The principals of `env` (which must have an `aws` section)."""
        assert env.aws is not None
        pr = env.principals
        return cls(partition=partition_of(env.aws.region), account_id=env.aws.account_id,
                   env_name=env.name, declared_admins=tuple(pr.key_admins.aws),
                   has_auditor=bool(pr.auditors.aws),
                   has_backup_operator=bool(pr.backup_operators.aws),
                   has_ceremony=pr.ceremony is not None and bool(pr.ceremony.aws))

    @property
    def root(self) -> str:
        """The account principal."""
        return account_root_arn(self.partition, self.account_id)

    def role_arn(self, role: str, workload: str | None = None) -> str:
        """The ARN of the keyplane role `role` (or of a workload's key-user role)."""
        return role_arn(self.partition, self.account_id, role_name(self.env_name, role, workload))

    @property
    def admin_arns(self) -> tuple[str, ...]:
        """Everyone who administers keys: keyplane's key-admin role and the declared admins."""
        return (self.role_arn(ROLE_KEY_ADMIN), *self.declared_admins)


def _principal(*arns: str) -> dict[str, Any]:
    return {"AWS": arns[0] if len(arns) == 1 else sorted(arns)}


def mfa_condition() -> dict[str, Any]:
    """The condition that a session was authenticated with MFA."""
    return {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def statement(sid_: str, effect: str, principal: dict[str, Any], actions: Iterable[str],
              condition: dict[str, Any] | None = None,
              resources: Sequence[str] = ("*",)) -> Statement:
    """One key-policy statement (in a key policy, `Resource: *` means this key)."""
    stmt: Statement = {"Sid": sid_, "Effect": effect, "Principal": principal,
                       "Action": sorted(set(actions)),
                       "Resource": resources[0] if len(resources) == 1 else list(resources)}
    if condition:
        stmt["Condition"] = condition
    return stmt


def administration(p: AccountPrincipals, *, imported: bool = False) -> list[Statement]:
    """Statements that let administrators manage the key and forbid them to use it.

    `IamDelegationToKeyAdmins` is the only allow to the account root. It is conditioned
    on `aws:PrincipalArn`, so IAM policies count only for the named admin principals:
    delegation is explicit, and whoever runs Terraform as an admin keeps PutKeyPolicy
    (the lockout safety check passes without a bypass).
    """
    actions = KMS_ADMIN_ACTIONS + (KMS_IMPORT_ACTIONS if imported else ())
    admins = p.admin_arns
    return [
        statement("KeyAdministration", "Allow", _principal(p.role_arn(ROLE_KEY_ADMIN)), actions),
        statement("IamDelegationToKeyAdmins", "Allow", _principal(p.root), actions,
                  {"ArnEquals": {"aws:PrincipalArn": sorted(admins)}}),
        statement("DenyKeyUseByAdministrators", "Deny", _principal(p.root), KMS_USE_ACTIONS,
                  {"ArnEquals": {"aws:PrincipalArn": sorted(admins)}}),
    ]


def deletion_guard(p: AccountPrincipals, *, min_window_in_days: int) -> list[Statement]:
    """Only break-glass, with MFA, may schedule deletion, never below the tier's floor; and
    break-glass, with MFA, may contain a compromise (disable the key, revoke its grants)."""
    bg = p.role_arn(ROLE_BREAK_GLASS)
    window = "kms:ScheduleKeyDeletionPendingWindowInDays"
    return [
        statement("BreakGlassContainCompromise", "Allow", _principal(bg),
                  list(KMS_CONTAIN_ACTIONS), mfa_condition()),
        statement("BreakGlassScheduleKeyDeletion", "Allow", _principal(bg), [KMS_DELETE_ACTION],
                  {**mfa_condition(), "NumericGreaterThanEquals": {window: str(min_window_in_days)}}),
        statement("DenyScheduleKeyDeletionExceptBreakGlass", "Deny", _principal(p.root),
                  [KMS_DELETE_ACTION], {"ArnNotEquals": {"aws:PrincipalArn": bg}}),
        statement("DenyShortDeletionWindow", "Deny", _principal(p.root), [KMS_DELETE_ACTION],
                  {"NumericLessThan": {window: str(min_window_in_days)}}),
    ]


def auditing(p: AccountPrincipals) -> list[Statement]:
    """Read-only access for the auditor role (describe, list, get)."""
    if not p.has_auditor:
        return []
    return [statement("AuditorReadOnly", "Allow", _principal(p.role_arn(ROLE_AUDITOR)),
                      KMS_READ_ACTIONS)]


def key_use(sid_: str, principal_arn: str, actions: Iterable[str], *, mfa: bool = False
            ) -> Statement:
    """Use of the key by one named role (MFA for humans and the ceremony role)."""
    return statement(sid_, "Allow", _principal(principal_arn), actions,
                     mfa_condition() if mfa else None)


def document(statements: Iterable[Statement]) -> PolicyDocument:
    """A policy document; statement ids must be unique."""
    stmts = list(statements)
    ids = [s["Sid"] for s in stmts if "Sid" in s]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate statement ids: {', '.join(dupes)}")
    return {"Version": POLICY_VERSION, "Statement": stmts}


def to_json(doc: PolicyDocument) -> str:
    """Stable JSON for a policy attribute (sorted keys keep synth output deterministic)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, kw_only=True)
class KeyPolicyInput:
    """Everything a declared key's policy depends on."""

    principals: AccountPrincipals
    key: KeyDecl
    min_deletion_window_in_days: int
    verify_only: bool = False  # a generation that is no longer current
    human_workloads: frozenset[str] = field(default_factory=frozenset)


def key_policy(inp: KeyPolicyInput) -> PolicyDocument:
    """The key policy of one declared key (or one generation of it)."""
    p, key = inp.principals, inp.key
    family = key_family(key)
    actions = use_actions(key.usage, family, verify_only=inp.verify_only)
    stmts = administration(p, imported=key.origin is Origin.EXTERNAL)
    stmts += deletion_guard(p, min_window_in_days=inp.min_deletion_window_in_days)
    stmts += auditing(p)
    for user in sorted(key.users):
        stmts.append(key_use(sid("KeyUse", user), p.role_arn(ROLE_KEY_USER, user), actions,
                             mfa=user in inp.human_workloads))
    if key.tier is Tier.CA and p.has_ceremony:
        stmts.append(key_use("CeremonyKeyUse", p.role_arn(ROLE_CEREMONY), actions, mfa=True))
    return document(stmts)


def service_statement(sid_: str, service: str, actions: Iterable[str],
                      condition: dict[str, Any] | None = None) -> Statement:
    """An allow to an AWS service principal, always with a condition that pins the caller."""
    return {"Sid": sid_, "Effect": "Allow", "Principal": {"Service": service},
            "Action": sorted(set(actions)), "Resource": "*",
            **({"Condition": condition} if condition else {})}


def identity_statement(sid_: str, effect: str, actions: Iterable[str],
                       resources: Sequence[str], condition: dict[str, Any] | None = None
                       ) -> Statement:
    """One statement of an IAM identity policy (no principal)."""
    stmt: Statement = {"Sid": sid_, "Effect": effect, "Action": sorted(set(actions)),
                       "Resource": resources[0] if len(resources) == 1 else list(resources)}
    if condition:
        stmt["Condition"] = condition
    return stmt


def trust_policy(principal: dict[str, Any], *, action: str = "sts:AssumeRole",
                 condition: dict[str, Any] | None = None) -> PolicyDocument:
    """A role's trust (assume-role) policy."""
    stmt: Statement = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        stmt["Condition"] = condition
    return {"Version": POLICY_VERSION, "Statement": [stmt]}


