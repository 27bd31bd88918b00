"""The effective key policy of an AWS KMS key: its own `policy`, a separate
`aws_kms_key_policy`, or AWS's default key policy when neither is given."""

from __future__ import annotations

from dataclasses import dataclass

from keyplane.policy import policydoc
from keyplane.policy.index import Index
from keyplane.policy.model import UNKNOWN, Resource

KEY_TYPES = ("aws_kms_key", "aws_kms_replica_key", "aws_kms_external_key",
             "aws_kms_replica_external_key")

# AWS's default key policy (kms/latest/developerguide/key-policy-default.html): the account
# root gets kms:*, which delegates the key to every IAM policy of the account.
_DEFAULT = ('{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions",'
            '"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},'
            '"Action":"kms:*","Resource":"*"}]}')


@dataclass(frozen=True)
class KeyPolicy:
    """The statements that govern a key, where they come from, or why they cannot be read."""

    statements: tuple[policydoc.Statement, ...]
    holder: str  # address of the resource whose `policy` attribute holds them
    attribute: str = "policy"
    unknown: bool = False
    error: str | None = None
    default: bool = False


def key_policy(res: Resource, index: Index) -> KeyPolicy:
    """The effective key policy of `res` (a KMS key resource), parsed once per run."""
    memo_key = ("key_policy", res.uid)
    found = index.memo.get(memo_key)
    if found is None:
        found = index.memo[memo_key] = _key_policy(res, index)
    assert isinstance(found, KeyPolicy)
    return found


def _key_policy(res: Resource, index: Index) -> KeyPolicy:
    holders = index.referrers(res, types=("aws_kms_key_policy",), attrs=("key_id",))
    holder = holders[0] if holders else res
    value = policydoc.document(holder, "policy")
    if value is UNKNOWN:
        return KeyPolicy((), holder.address, unknown=True)
    if value is None:
        return KeyPolicy(tuple(policydoc.parse(_DEFAULT)), holder.address, default=True)
    try:
        return KeyPolicy(tuple(policydoc.parse(value)), holder.address)
    except policydoc.PolicyParseError as exc:
        return KeyPolicy((), holder.address, error=str(exc))
