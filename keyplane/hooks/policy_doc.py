"""Key policies as data: semantic comparison and who-can-do-what.

Two policies are compared as sets of normalized statements, not as strings:
order, Sids, single values vs lists, action case and whitespace do not matter.
A value the synthesized stack leaves unknown until apply (`${?}`) matches any
value in its place.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any

from keyplane.hooks.synth import UNRESOLVED

Norm = tuple[str, tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...], tuple[str, ...],
             tuple[str, ...], str]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The statements of a policy document (a single statement object is allowed)."""
    if not doc:
        return []
    return [s for s in _list(doc.get("Statement")) if isinstance(s, dict)]


def principals(stmt: dict[str, Any]) -> dict[str, list[str]]:
    """`{"AWS": [...], "Service": [...]}`; `Principal: "*"` is `{"AWS": ["*"]}`."""
    raw = stmt.get("Principal")
    if raw == "*":
        return {"AWS": ["*"]}
    if not isinstance(raw, dict):
        return {}
    return {k: sorted(str(v) for v in _list(vals)) for k, vals in raw.items()}


def actions(stmt: dict[str, Any]) -> list[str]:
    """The statement's actions, lowercased (IAM action names are case-insensitive)."""
    return sorted({str(a).strip().lower() for a in _list(stmt.get("Action"))})


def _condition(stmt: dict[str, Any]) -> str:
    cond = stmt.get("Condition") or {}
    norm = {op: {k.lower(): sorted(str(v) for v in _list(vals)) for k, vals in block.items()}
            for op, block in cond.items() if isinstance(block, dict)}
    return json.dumps(norm, sort_keys=True)


def normalize(stmt: dict[str, Any]) -> Norm:
    """A hashable, order-free form of one statement (Sid ignored)."""
    princ = tuple(sorted((k, tuple(v)) for k, v in principals(stmt).items()))
    return (str(stmt.get("Effect", "")), princ, tuple(actions(stmt)),
            tuple(sorted({a.lower() for a in map(str, _list(stmt.get("NotAction")))})),
            tuple(sorted(str(r) for r in _list(stmt.get("Resource")))), _condition(stmt))


def _matches(expected: Norm, actual: Norm) -> bool:
    e, a = json.dumps(expected), json.dumps(actual)
    if UNRESOLVED not in e:
        return e == a
    # an unknown-until-apply value matches any text inside the same JSON string
    pattern = '[^"]*'.join(re.escape(part) for part in e.split(UNRESOLVED))
    return re.fullmatch(pattern, a) is not None


@dataclass(frozen=True)
class PolicyDiff:
    """Statements only in the expected policy, and only in the deployed one."""

    missing: tuple[dict[str, Any], ...]
    extra: tuple[dict[str, Any], ...]

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra)

    def describe(self) -> str:
        """`2 statement(s) missing (KeyAdministration), 1 added (Sid or its principal)`."""
        def label(s: dict[str, Any]) -> str:
            if s.get("Sid"):
                return str(s["Sid"])
            p = principals(s)
            return ",".join(v for vals in p.values() for v in vals) or "no principal"
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} statement(s) missing "
                         f"({', '.join(label(s) for s in self.missing)})")
        if self.extra:
            parts.append(f"{len(self.extra)} statement(s) added "
                         f"({', '.join(label(s) for s in self.extra)})")
        return "; ".join(parts)


def compare(expected: dict[str, Any], actual: dict[str, Any]) -> PolicyDiff:
    """The semantic difference between two policy documents."""
    exp = [(normalize(s), s) for s in statements(expected)]
    act = [(normalize(s), s) for s in statements(actual)]
    unmatched = list(act)
    missing = []
    for norm, stmt in exp:
        hit = next((i for i, (a, _) in enumerate(unmatched) if _matches(norm, a)), None)
        if hit is None:
            missing.append(stmt)
        else:
            unmatched.pop(hit)
    return PolicyDiff(missing=tuple(missing), extra=tuple(s for _, s in unmatched))


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
