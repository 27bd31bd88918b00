"""sts:AssumeRole in the sandbox as AWS decides it: the role must exist and trust the caller.

moto's AssumeRole hands out credentials for any role ARN, existing or not, whatever its trust
policy says; a test of keyplane's assumed-role reads would then pass against a role nobody
could assume. The sandbox's front asks `assume_role_refusal` first and answers AccessDenied,
as AWS does, when:

- the role does not exist in the account its ARN names;
- no Allow statement of its trust policy (for sts:AssumeRole) names the caller: `*`, the
  caller's account (`123456789012` or `arn:aws:iam::123456789012:root`) or, for a caller that
  is itself an assumed role, that role's ARN;
- a Deny statement matches, or a condition is not met. The condition operators evaluated are
  the String*, Arn*, Bool and Null families (with `IfExists`), on `sts:ExternalId`,
  `sts:RoleSessionName`, `aws:PrincipalAccount`, `aws:PrincipalArn` and
  `aws:MultiFactorAuthPresent` (true when the request carries SerialNumber and a six-digit
  TokenCode); a key the request does not carry is absent, so its condition is not met (as in
  AWS); an operator outside these families is never met (fail closed).

`key_account` tells which account moto issued a temporary key in, so the front makes moto
and the sandbox's own fakes answer an assumed role's requests as the role's account.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from typing import Any

_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::([0-9]{12}):role/.+$")
_ACTIONS = ("*", "sts:*", "sts:assumerole")


def key_account(access_key: str) -> str | None:
    """The account moto issued `access_key` in (an assumed role's temporary key, an IAM
    user's key); None for a key moto did not issue."""
    if not access_key:
        return None
    from moto.iam.models import iam_backends
    from moto.utilities.utils import PARTITION_NAMES

    for account_id, account in list(iam_backends.items()):  # a copy: other threads add accounts
        for partition in PARTITION_NAMES:
            if partition in account and access_key in account[partition].access_keys:
                return str(account_id)
    return None


def _caller(caller_account: str, access_key: str, partition: str) -> tuple[str, str | None]:
    """(the caller's ARN as STS names it, the role it is a session of, if any)."""
    from moto.sts.models import sts_backends

    assumed = sts_backends[caller_account][partition].get_assumed_role_from_access_key(access_key)
    if assumed is not None:
        return str(assumed.arn), str(assumed.role_arn)
    return f"arn:{partition}:iam::{caller_account}:root", None


def _listed(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _condition_met(operator: str, wanted: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    """One condition operator block: every key must be satisfied."""
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    for key, values in wanted.items():
        expected = _listed(values)
        actual = context.get(key.lower())
        if base == "Null":
            if (actual is None) != (expected[:1] == ["true"]):
                return False
            continue
        if actual is None:
            if if_exists:
                continue
            return False
        if base in ("StringEquals", "ArnEquals"):
            ok = actual in expected
        elif base == "StringEqualsIgnoreCase":
            ok = actual.lower() in [e.lower() for e in expected]
        elif base in ("StringLike", "ArnLike"):
            ok = any(fnmatch.fnmatchcase(actual, e) for e in expected)
        elif base in ("StringNotEquals", "ArnNotEquals"):
            ok = actual not in expected
        elif base in ("StringNotLike", "ArnNotLike"):
            ok = not any(fnmatch.fnmatchcase(actual, e) for e in expected)
        elif base == "Bool":
            ok = actual.lower() in [e.lower() for e in expected]
        else:
            return False  # an operator the sandbox does not evaluate is never met
        if not ok:
            return False
    return True


def _statement_applies(stmt: Mapping[str, Any], principals: set[str],
                       context: Mapping[str, str]) -> bool:
    actions = [a.lower() for a in _listed(stmt.get("Action"))]
    if not any(a in _ACTIONS for a in actions):
        return False
    principal = stmt.get("Principal")
    named = {"*"} if principal == "*" else set(_listed(
        principal.get("AWS") if isinstance(principal, dict) else None))
    if not named & principals:
        return False
    condition = stmt.get("Condition") or {}
    if not isinstance(condition, dict):
        return False
    return all(isinstance(block, dict) and _condition_met(op, block, context)
               for op, block in condition.items())


def assume_role_refusal(*, caller_account: str, access_key: str,
                        params: Mapping[str, list[str]]) -> str | None:
    """AWS's AccessDenied message for this sts:AssumeRole request; None when AWS would let it
    through (moto then answers it)."""
    from moto.iam.models import iam_backends

    role_arn = (params.get("RoleArn") or [""])[0]
    match = _ROLE_ARN.match(role_arn)
    partition = match.group(1) if match else "aws"
    caller_arn, caller_role = _caller(caller_account, access_key, partition)
    denied = f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: " \
             f"{role_arn}"
    if match is None:
        return denied
    try:
        role = iam_backends[match.group(2)][partition].get_role_by_arn(role_arn)
        policy = json.loads(role.assume_role_policy_document or "{}")
    except Exception:  # NotFoundException: no such role in that account; unreadable policy
        return denied
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    statements = [statements] if isinstance(statements, dict) else statements
    principals = {"*", caller_account, f"arn:{partition}:iam::{caller_account}:root"}
    principal_arn = caller_role or f"arn:{partition}:iam::{caller_account}:root"
    if caller_role is not None:
        principals.add(caller_role)
    context = {"aws:principalaccount": caller_account, "aws:principalarn": principal_arn,
               "sts:rolesessionname": (params.get("RoleSessionName") or [""])[0]}
    if params.get("ExternalId"):
        context["sts:externalid"] = params["ExternalId"][0]
    if params.get("SerialNumber") and re.fullmatch(r"[0-9]{6}", (params.get("TokenCode")
                                                                  or [""])[0]):
        # a request with an MFA device and a six-digit code is evaluated with MFA present, as
        # AWS does (the sandbox accepts any code: it has no devices to check it against)
        context["aws:multifactorauthpresent"] = "true"
    applies = [s for s in statements
               if isinstance(s, dict) and _statement_applies(s, principals, context)]
    if any(s.get("Effect") == "Deny" for s in applies) or \
            not any(s.get("Effect") == "Allow" for s in applies):
        return denied
    return None
