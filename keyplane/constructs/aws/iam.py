"""Separation of duties: the IAM roles around an environment's keys.

Role names and the `keyplane:role` tag follow `keyplane.model.tags`. Construct ids
are the role names' suffixes (`key-admin`, `user-<workload>`, ...): stable, since
renaming one replaces a role and breaks every key policy that names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cdktn_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from keyplane.constructs.aws import policy as pol
from keyplane.constructs.aws.errors import ConstructConfigError
from keyplane.model.environment import Environment, Workload
from keyplane.model.specs import Cloud
from keyplane.model.tags import (
    AWS_TAG_ROLE,
    ROLE_AUDITOR,
    ROLE_BACKUP_OPERATOR,
    ROLE_BREAK_GLASS,
    ROLE_CEREMONY,
    ROLE_KEY_ADMIN,
    ROLE_KEY_USER,
    ROLE_SERVICE,
    aws_tags,
    role_name,
)
from keyplane.model.tiers import HUMAN_SESSION_MAX_SECONDS, Tier, policy_for


def slug(text: str) -> str:
    """A construct-id-safe form of an issuer host: `token-actions-githubusercontent-com`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _aws_principals(env: Environment, duty: str) -> tuple[str, ...]:
    pset = getattr(env.principals, duty)
    return tuple(pset.aws) if pset is not None else ()


@dataclass(frozen=True, kw_only=True)
class SeparationOfDutiesConfig:
    """The roles of one environment; `tier` is the highest tier they serve (for tags)."""

    env: Environment
    tier: Tier

    def __post_init__(self) -> None:
        env = self.env
        if env.aws is None:
            raise ConstructConfigError(f"environment '{env.name}' has no aws section",
                                       code="KP306")
        for duty in ("key_admins", "break_glass"):
            if not _aws_principals(env, duty):
                raise ConstructConfigError(
                    f"principals.{duty}.aws is empty; an environment with aws keys needs at "
                    "least one", code="KP306")
        aws_keys = env.keys_on(Cloud.AWS)
        if any(k.tier is Tier.CA for k in aws_keys) and not _aws_principals(env, "ceremony"):
            raise ConstructConfigError("ca keys need principals.ceremony.aws (the ceremony "
                                       "role, mfa required)", code="KP306")
        for wl in self.users():
            if wl.aws is None or (wl.aws.oidc is None) == (wl.aws.role_arn is None):
                raise ConstructConfigError(f"workload '{wl.name}' needs exactly one aws "
                                           "identity (oidc or role_arn)", code="KP306")
            if wl.aws.oidc is not None and any(c in wl.aws.oidc.subject for c in "*?"):
                raise ConstructConfigError(f"oidc subject of '{wl.name}' must be exact, got "
                                           f"'{wl.aws.oidc.subject}'", code="KP306")
            if wl.human and any(not policy_for(k.tier).human_use_allowed
                                for k in aws_keys if wl.name in k.users):
                raise ConstructConfigError(f"human workload '{wl.name}' may use "
                                           "non-production keys only", code="KP306")

    def users(self) -> list[Workload]:
        """The workloads that use at least one aws key, by name."""
        names = {u for k in self.env.keys_on(Cloud.AWS) for u in k.users}
        return [self.env.workload(n) for n in sorted(names)]


class SeparationOfDuties(Construct):
    """Key admin, key users, backup operator, auditor, break-glass and ceremony roles."""

    def __init__(self, scope: Construct, id_: str, *, config: SeparationOfDutiesConfig
                 ) -> None:
        super().__init__(scope, id_)
        env, tier = config.env, config.tier
        assert env.aws is not None
        self.env = env
        self.principals = pol.AccountPrincipals.of(env)
        self.tier = tier
        p = self.principals
        floor = policy_for(tier).min_deletion_window_in_days
        self.roles: dict[str, IamRole] = {}
        account_keys = f"arn:{p.partition}:kms:*:{p.account_id}:key/*"
        account_aliases = f"arn:{p.partition}:kms:*:{p.account_id}:alias/*"

        def assumed_by(duty: str, *, mfa: bool) -> pol.PolicyDocument:
            arns = _aws_principals(env, duty)
            cond = {"Bool": {"aws:MultiFactorAuthPresent": "true"}} if mfa else None
            return pol.trust_policy({"AWS": arns[0] if len(arns) == 1 else sorted(arns)},
                                    condition=cond)

        self._role(ROLE_KEY_ADMIN, assumed_by("key_admins", mfa=False),
                   "administers keyplane keys; cannot use or delete them", [
                       pol.identity_statement("AdministerKeys", "Allow", pol.KMS_ADMIN_ACTIONS
                                              + pol.KMS_IMPORT_ACTIONS,
                                              [account_keys, account_aliases]),
                       pol.identity_statement("CreateKeys", "Allow",
                                              ["kms:CreateKey", "kms:ListAliases",
                                               "kms:ListKeys"], ["*"]),
                       pol.identity_statement("DenyKeyUse", "Deny", pol.KMS_USE_ACTIONS, ["*"]),
                       pol.identity_statement("DenyKeyDeletion", "Deny",
                                              [pol.KMS_DELETE_ACTION], ["*"]),
                   ])
        window = "kms:ScheduleKeyDeletionPendingWindowInDays"
        self._role(ROLE_BREAK_GLASS, assumed_by("break_glass", mfa=True),
                   "the only role that may schedule key deletion (mfa)", [
                       pol.identity_statement(
                           "ScheduleKeyDeletion", "Allow", [pol.KMS_DELETE_ACTION],
                           [account_keys],
                           {"Bool": {"aws:MultiFactorAuthPresent": "true"},
                            "NumericGreaterThanEquals": {window: str(floor)}}),
                       pol.identity_statement("DescribeKeys", "Allow",
                                              ["kms:CancelKeyDeletion", "kms:DescribeKey"],
                                              [account_keys]),
                   ])
        if p.has_auditor:
            self._role(ROLE_AUDITOR, assumed_by("auditors", mfa=False),
                       "reads key metadata and the audit trail; changes nothing", [
                           pol.identity_statement("ReadKeys", "Allow", pol.KMS_READ_ACTIONS,
                                                  [account_keys]),
                           pol.identity_statement("ListKeys", "Allow",
                                                  ["cloudtrail:LookupEvents", "kms:ListAliases",
                                                   "kms:ListKeys"], ["*"]),
                       ])
        if p.has_backup_operator:
            region = env.aws.region
            vault = (f"arn:{p.partition}:backup:{region}:{p.account_id}:"
                     f"backup-vault:keyplane-{env.name}")
            points = f"arn:{p.partition}:backup:{region}:{p.account_id}:recovery-point:*"
            service = (f"arn:{p.partition}:iam::{p.account_id}:role/"
                       f"{backup_service_role_name(env.name)}")
            self._role(ROLE_BACKUP_OPERATOR, assumed_by("backup_operators", mfa=False),
                       "runs backups and restore drills; cannot use keys", [
                           pol.identity_statement("RunBackups", "Allow",
                                                  ["backup:DescribeBackupVault",
                                                   "backup:ListRecoveryPointsByBackupVault",
                                                   "backup:StartBackupJob"], [vault]),
                           pol.identity_statement("Restore", "Allow",
                                                  ["backup:DescribeRecoveryPoint",
                                                   "backup:GetRecoveryPointRestoreMetadata",
                                                   "backup:StartRestoreJob"], [points]),
                           pol.identity_statement("PassBackupRole", "Allow", ["iam:PassRole"],
                                                  [service],
                                                  {"StringEquals": {
                                                      "iam:PassedToService":
                                                          "backup.amazonaws.com"}}),
                           pol.identity_statement("DenyKeyUse", "Deny", pol.KMS_USE_ACTIONS,
                                                  ["*"]),
                       ])
        if p.has_ceremony:
            self._role(ROLE_CEREMONY, assumed_by("ceremony", mfa=True),
                       "the one role that uses ca keys, in a witnessed ceremony (mfa)", [])
        self.oidc: dict[str, IamOpenidConnectProvider] = {}
        for wl in config.users():
            self._user_role(wl)

    def _tags(self, role: str) -> dict[str, str]:
        return {**aws_tags(self.env.name, self.tier), AWS_TAG_ROLE: role}

    def _role(self, role: str, trust: pol.PolicyDocument, description: str,
              statements: Sequence[pol.Statement], *, workload: str | None = None,
              id_: str | None = None) -> IamRole:
        cid = id_ or role
        resource = IamRole(self, cid, name=role_name(self.env.name, role, workload),
                           description=f"keyplane {self.env.name}: {description}",
                           assume_role_policy=pol.to_json(trust),
                           max_session_duration=HUMAN_SESSION_MAX_SECONDS,
                           tags=self._tags(role))
        self.roles[cid] = resource
        if statements:
            IamRolePolicy(self, f"{cid}-policy", name="keyplane", role=resource.id,
                          policy=pol.to_json({"Version": pol.POLICY_VERSION,
                                              "Statement": list(statements)}))
        return resource

    def _oidc_provider(self, issuer: str) -> IamOpenidConnectProvider:
        if issuer not in self.oidc:
            audiences = sorted({w.aws.oidc.audience for w in self.env.workloads
                                if w.aws and w.aws.oidc and w.aws.oidc.provider == issuer})
            self.oidc[issuer] = IamOpenidConnectProvider(
                self, f"oidc-{slug(issuer)}", url=f"https://{issuer}",
                client_id_list=audiences, tags=aws_tags(self.env.name, self.tier))
        return self.oidc[issuer]

    def _user_role(self, wl: Workload) -> None:
        assert wl.aws is not None
        if wl.aws.oidc is not None:
            oidc = wl.aws.oidc
            provider = self._oidc_provider(oidc.provider)
            trust = pol.trust_policy(
                {"Federated": provider.arn}, action="sts:AssumeRoleWithWebIdentity",
                condition={"StringEquals": {f"{oidc.provider}:aud": oidc.audience,
                                            f"{oidc.provider}:sub": oidc.subject}})
        else:
            assert wl.aws.role_arn is not None
            mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}} if wl.human else None
            trust = pol.trust_policy({"AWS": wl.aws.role_arn}, condition=mfa)
        what = "a person (mfa)" if wl.human else "a workload"
        self._role(ROLE_KEY_USER, trust, f"key use by {what}: {wl.name}", [],
                   workload=wl.name, id_=f"user-{wl.name}")

    def role_for_workload(self, workload: str) -> IamRole:
        """The key-user role of `workload`."""
        return self.roles[f"user-{workload}"]

    def grant_key_use(self, role_id: str, grants: Sequence[tuple[tuple[str, ...], list[str]]],
                      *, mfa: bool = False) -> IamRolePolicy:
        """The identity policy of a key-user (or ceremony) role: only its keys, only its
        operations; the key policies grant the same, this keeps IAM in step for review."""
        cond = {"Bool": {"aws:MultiFactorAuthPresent": "true"}} if mfa else None
        stmts = [pol.identity_statement(pol.sid("UseKeys", str(i)), "Allow", actions, arns,
                                        cond)
                 for i, (actions, arns) in enumerate(grants, start=1)]
        return IamRolePolicy(self, f"{role_id}-policy", name="keyplane",
                             role=self.roles[role_id].id,
                             policy=pol.to_json({"Version": pol.POLICY_VERSION,
                                                 "Statement": stmts}))

    def service_role(self, id_: str, name: str, service: str, source_arn: str | None,
                     description: str) -> IamRole:
        """A role assumed by an AWS service, pinned to this account (and source) by condition."""
        cond: dict[str, dict[str, str]] = {
            "StringEquals": {"aws:SourceAccount": self.principals.account_id}}
        if source_arn is not None:
            cond["ArnEquals"] = {"aws:SourceArn": source_arn}
        role = IamRole(self, id_, name=name, description=f"keyplane {self.env.name}: "
                                                          f"{description}",
                       assume_role_policy=pol.to_json(pol.trust_policy(
                           {"Service": service}, condition=cond)),
                       max_session_duration=HUMAN_SESSION_MAX_SECONDS,
                       tags=self._tags(ROLE_SERVICE))
        self.roles[id_] = role
        return role


def backup_service_role_name(env_name: str) -> str:
    """The role AWS Backup assumes for this environment's plan and restore tests."""
    return f"keyplane-{env_name}-backup-service"


def cloudtrail_role_name(env_name: str) -> str:
    """The role CloudTrail assumes to deliver events to CloudWatch Logs."""
    return f"keyplane-{env_name}-cloudtrail-logs"
