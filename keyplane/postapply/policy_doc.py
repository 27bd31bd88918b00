"""Key policies as data: semantic comparison and who-can-do-what.

Two policies are compared as sets of normalized statements, not as strings:
order, Sids, single values vs lists, action case and whitespace do not matter.
A value the synthesized stack leaves unknown until apply (`${?}`) matches any
value in its place.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from keyplane.policy.policydoc import (  # noqa: F401  (shared helpers)
    UNRESOLVED,
    _list,
    actions,
    principals,
    statements,
)

# --- who can do what ---------------------------------------------------------------------------

USE_ACTIONS = frozenset({"kms:sign", "kms:decrypt", "kms:encrypt", "kms:generatedatakey",
                         "kms:generatedatakeywithoutplaintext", "kms:generatedatakeypair",
                         "kms:generatedatakeypairwithoutplaintext", "kms:generatemac",
                         "kms:reencryptfrom", "kms:reencryptto", "kms:derivesharedsecret",
                         "kms:creategrant"})
SENSITIVE_USE = frozenset({"kms:sign", "kms:decrypt", "kms:generatemac",
                           "kms:derivesharedsecret"})
ADMIN_ACTIONS = frozenset({"kms:putkeypolicy", "kms:schedulekeydeletion", "kms:disablekey",
                           "kms:creategrant", "kms:updatekeydescription", "kms:enablekey",
                           "kms:disablekeyrotation", "kms:cancelkeydeletion"})
ORG_CONDITION_KEYS = frozenset({"aws:principalorgid", "aws:principalaccount", "kms:calleraccount",
                                "aws:principalarn", "aws:sourceaccount", "aws:principalorgpaths"})


def expand(patterns: list[str], universe: frozenset[str]) -> set[str]:
    """The actions of `universe` that `patterns` (with `*` wildcards) grant."""
    out: set[str] = set()
    for p in patterns:
        out |= {a for a in universe if fnmatch.fnmatchcase(a, p)}
    return out


def condition_principal_arns(stmt: dict[str, Any]) -> list[str] | None:
    """The `aws:PrincipalArn` values an ArnEquals/ArnLike/StringEquals condition pins, if any."""
    cond = stmt.get("Condition") or {}
    for op in ("ArnEquals", "ArnLike", "StringEquals", "StringLike"):
        block = cond.get(op)
        if isinstance(block, dict):
            for k, v in block.items():
                if k.lower() == "aws:principalarn":
                    return [str(x) for x in _list(v)]
    return None


def scoped_to_org(stmt: dict[str, Any]) -> bool:
    """Whether a statement carries a condition that pins the caller's org or account."""
    cond = stmt.get("Condition") or {}
    return any(k.lower() in ORG_CONDITION_KEYS for block in cond.values()
               if isinstance(block, dict) for k in block)
