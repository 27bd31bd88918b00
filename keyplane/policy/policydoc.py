"""IAM policy documents (key policies, trust policies, identity policies), statement by statement.

A document is parsed once into Statements; rules ask questions of each statement
with its conditions, never of the raw JSON.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from keyplane.model.tags import ROLE_KEY_ADMIN, ROLE_KEY_USER, ROLES
from keyplane.policy.index import Index
from keyplane.policy.model import UNKNOWN, Resource


def document(res: Resource, *path: str | int) -> Any:
    """A policy attribute as text: JSON with embedded `${...}` references still parses
    (its references are resolved per principal); a bare expression is UNKNOWN."""
    value = res.get(*path)
    if value is not UNKNOWN:
        return value
    raw = res.raw(*path)
    if isinstance(raw, str) and raw.lstrip().startswith("{"):
        return raw
    return UNKNOWN

# Condition keys that pin a wildcard principal to one organization or account.
ACCOUNT_PINNING_KEYS = frozenset({"aws:principalorgid", "aws:principalaccount",
                                  "kms:calleraccount"})
# Condition keys that scope a statement to the callers of one organization, account or ARN.
CALLER_SCOPING_KEYS = frozenset({"aws:principalorgid", "aws:principalaccount", "kms:calleraccount",
                                 "aws:principalarn", "aws:sourceaccount", "aws:principalorgpaths"})
PRINCIPAL_ARN = "aws:principalarn"
# Operators that pin the principal ARN (the first one present wins), and their negations.
_PIN_OPS = ("arnequals", "arnlike", "stringequals", "stringlike")
_NOT_PIN_OPS = frozenset({"arnnotequals", "arnnotlike", "stringnotequals", "stringnotlike"})
# Operators that require the key to be present and equal (no IfExists escape hatch).
_EXACT_OPS = frozenset({"stringequals", "stringequalsignorecase", "forallvalues:stringequals",
                        "foranyvalue:stringequals", "arnequals"})
_LIKE_OPS = frozenset({"stringlike", "foranyvalue:stringlike", "arnlike"})

# Actions that use key material (what "use the key" means for separation of duties).
CRYPTO_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                  "kms:GenerateDataKey", "kms:GenerateDataKeyPair",
                  "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPairWithoutPlaintext",
                  "kms:Sign", "kms:GenerateMac", "kms:DeriveSharedSecret")


class PolicyParseError(ValueError):
    """A policy document that is not a JSON object with statements."""


@dataclass(frozen=True)
class Principal:
    """One principal of a statement: kind is AWS, Service, Federated or CanonicalUser; '*' any."""

    kind: str
    value: str

    @property
    def is_wildcard(self) -> bool:
        """`"Principal": "*"` or `{"AWS": "*"}`."""
        return self.value == "*"


@dataclass(frozen=True)
class Condition:
    """One condition: operator, key (both lowercased) and values."""

    operator: str
    key: str
    values: tuple[str, ...]


@lru_cache(maxsize=4096)
def _actions_pattern(actions: tuple[str, ...]) -> re.Pattern[str]:
    """A compiled matcher for an action list; key policies repeat the same lists a lot."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in actions)
                      if actions else "(?!)")


@lru_cache(maxsize=4096)
def _actions_in(actions: tuple[str, ...], not_action: bool, universe: frozenset[str]
                ) -> frozenset[str]:
    """The actions of `universe` an action list covers: access review asks it of the same few
    lists for every key and every role of an estate."""
    pattern = _actions_pattern(actions)
    return frozenset(a for a in universe if (pattern.match(a) is None) == not_action)


@dataclass(frozen=True)
class Statement:
    """One statement of a policy document, normalized."""

    index: int
    sid: str | None
    effect: str
    principals: tuple[Principal, ...]
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...]

    @property
    def allow(self) -> bool:
        """Whether this statement allows (rather than denies)."""
        return self.effect == "Allow"

    @property
    def where(self) -> str:
        """`Statement[2]` (or with its Sid): the attribute path of this statement."""
        return f"Statement[{self.index}]" + (f" ({self.sid})" if self.sid else "")

    @cached_property
    def _action_pattern(self) -> re.Pattern[str]:
        # One compiled pattern per statement: rules ask each statement about many actions.
        return _actions_pattern(tuple(self.actions))

    def grants(self, action: str) -> bool:
        """Whether the statement's action list covers `action` (wildcards, NotAction)."""
        hit = self._action_pattern.match(action.lower()) is not None
        return not hit if self.not_action else hit

    def grants_wildcard(self, service: str = "kms") -> bool:
        """Whether it grants `*`, `<service>:*` or everything but a few (NotAction)."""
        if self.not_action:
            return True
        return any(pat in ("*", f"{service}:*") for pat in self.actions)

    def condition_values(self, key: str, ops: frozenset[str] | None = None) -> list[str]:
        """Values the statement requires for `key` under `ops` (exact operators by default)."""
        ops = ops if ops is not None else _EXACT_OPS
        out: list[str] = []
        for cond in self.conditions:
            if cond.key == key.lower() and cond.operator in ops:
                out.extend(cond.values)
        return out

    def actions_in(self, universe: frozenset[str]) -> set[str]:
        """The actions of `universe` (lowercase) the statement's action list covers."""
        return set(_actions_in(self.actions, self.not_action, universe))

    def principal_arn_pins(self) -> tuple[str, ...] | None:
        """The `aws:PrincipalArn` values a positive condition pins callers to, if any."""
        for op in _PIN_OPS:
            for cond in self.conditions:
                if cond.operator == op and cond.key == PRINCIPAL_ARN:
                    return cond.values
        return None

    def scopes_callers(self) -> bool:
        """Whether a condition names the caller's organization, account or principal ARN."""
        return any(cond.key in CALLER_SCOPING_KEYS for cond in self.conditions)

    def pins_account(self) -> bool:
        """Whether a condition pins callers to an organization or account (no wildcard)."""
        for cond in self.conditions:
            if cond.key not in ACCOUNT_PINNING_KEYS:
                continue
            if cond.operator in _EXACT_OPS and cond.values and \
                    all(v and "*" not in v and "?" not in v for v in cond.values):
                return True
            if cond.operator in _LIKE_OPS and cond.values and \
                    all(v and "*" not in v and "?" not in v for v in cond.values):
                return True
        return False


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if value is None:
        return ()
    return (str(value),)


def _principals(value: Any) -> tuple[Principal, ...]:
    if value == "*":
        return (Principal("AWS", "*"),)
    if isinstance(value, Mapping):
        return tuple(Principal(str(kind), v) for kind, vals in value.items()
                     for v in _strings(vals))
    return tuple(Principal("AWS", v) for v in _strings(value))


def parse(document: Any) -> list[Statement]:
    """The statements of a policy given as a JSON string or an already-decoded object."""
    if isinstance(document, str):
        return list(_parse_text(document))
    return _parse(document)


@lru_cache(maxsize=1024)
def _parse_text(document: str) -> tuple[Statement, ...]:
    """A policy read as text, parsed once: post-apply reviews each role's policies against
    every key, and the statements are immutable."""
    try:
        doc = json.loads(document)
    except json.JSONDecodeError as exc:
        raise PolicyParseError(f"policy is not valid json: {exc.msg.lower()}") from None
    return tuple(_parse(doc))


def _parse(doc: Any) -> list[Statement]:
    if not isinstance(doc, Mapping):
        raise PolicyParseError(f"policy must be a json object, got {type(doc).__name__}")
    raw = doc.get("Statement", [])
    items = raw if isinstance(raw, list) else [raw]
    out: list[Statement] = []
    for i, st in enumerate(items):
        if not isinstance(st, Mapping):
            raise PolicyParseError(f"Statement[{i}] must be an object")
        conds: list[Condition] = []
        cblock = st.get("Condition") or {}
        if isinstance(cblock, Mapping):
            for op, kv in cblock.items():
                if isinstance(kv, Mapping):
                    for k, v in kv.items():
                        conds.append(Condition(str(op).lower(), str(k).lower(), _strings(v)))
        not_principal = "NotPrincipal" in st
        not_action = "NotAction" in st
        out.append(Statement(
            index=i, sid=st.get("Sid") if isinstance(st.get("Sid"), str) else None,
            effect=str(st.get("Effect", "")),
            principals=_principals(st.get("NotPrincipal" if not_principal else "Principal")),
            not_principal=not_principal,
            actions=tuple(a.lower() for a in _strings(st.get("NotAction" if not_action
                                                             else "Action"))),
            not_action=not_action,
            resources=_strings(st.get("Resource")),
            conditions=tuple(conds)))
    return out


# ---- principals -> separation-of-duties roles ----

_ROLE_NAME = re.compile(r"^keyplane-(?P<env>[a-z0-9-]+?)-(?P<role>"
                        + "|".join(re.escape(r) for r in ROLES) + r")$")
_USER_NAME = re.compile(r"^keyplane-(?P<env>[a-z0-9-]+?)-user-(?P<workload>[a-z0-9-]+)$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):")
_REF = re.compile(r"^\$\{((?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][\w-]*)(?:\.[\w.\[\]\"]+)?\}$")
ACCOUNT_ROOT = "account-root"


def role_from_name(name: str) -> str | None:
    """The keyplane role a role name stands for (`keyplane-prod-key-admin` -> key-admin)."""
    m = _ROLE_NAME.match(name)
    if m:
        return m.group("role")
    if _USER_NAME.match(name):
        return ROLE_KEY_USER
    return None


def account_of(value: str) -> str | None:
    """The account a principal ARN (or bare account id) belongs to."""
    if re.fullmatch(r"\d{12}", value):
        return value
    m = _ARN_ACCOUNT.match(value)
    return m.group(1) if m else None


def principal_role(principal: Principal, res: Resource, index: Index) -> Any:
    """The keyplane role of an AWS principal; ACCOUNT_ROOT, None (other) or UNKNOWN."""
    value = principal.value
    if principal.kind != "AWS" or value == "*":
        return None
    if "${" in value:
        m = _REF.match(value)
        if not m:
            return UNKNOWN
        targets = [t for t in index.by_base.get(m.group(1), ()) if t.source == res.source]
        if not targets:
            return UNKNOWN
        target = targets[0]
        if target.context.role:
            return target.context.role
        name = target.get("name")
        return role_from_name(name) if isinstance(name, str) else UNKNOWN
    if re.fullmatch(r"\d{12}", value) or value.endswith(":root"):
        return ACCOUNT_ROOT
    if ":role/" in value:
        return role_from_name(value.rsplit("/", 1)[-1])
    return None


def is_admin(role: Any) -> bool:
    """Whether a principal_role() result is the key-admin role."""
    return role is not UNKNOWN and role == ROLE_KEY_ADMIN


# ---- comparing a deployed policy with the synthesized one ----

# What a synthesized reference that only apply can resolve reads as: it matches any text.
UNRESOLVED = "${?}"

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


# ---- who can use or administer a KMS key (the post-apply access review) ----

# KMS actions (lowercase) that use key material or hand it on (a grant).
USE_ACTIONS = frozenset({"kms:sign", "kms:decrypt", "kms:encrypt", "kms:generatedatakey",
                         "kms:generatedatakeywithoutplaintext", "kms:generatedatakeypair",
                         "kms:generatedatakeypairwithoutplaintext", "kms:generatemac",
                         "kms:reencryptfrom", "kms:reencryptto", "kms:derivesharedsecret",
                         "kms:creategrant"})
# Use that produces something only the key holder could (a signature, a plaintext, a MAC).
SENSITIVE_USE = frozenset({"kms:sign", "kms:decrypt", "kms:generatemac",
                           "kms:derivesharedsecret"})
# KMS actions that change the key, its policy or its life.
ADMIN_ACTIONS = frozenset({"kms:putkeypolicy", "kms:schedulekeydeletion", "kms:disablekey",
                           "kms:creategrant", "kms:updatekeydescription", "kms:enablekey",
                           "kms:disablekeyrotation", "kms:cancelkeydeletion"})
KEY_ACTIONS = USE_ACTIONS | ADMIN_ACTIONS


@dataclass(frozen=True)
class KeyAccess:
    """What a key policy allows: principal -> KMS actions (after Deny statements); and the
    statements that allow any principal with no condition on the caller (their Sids)."""

    allowed: dict[str, set[str]]
    wildcards: tuple[str, ...]


def _deny_applies(stmt: Statement, who: str, account: str) -> bool:
    """Whether a Deny statement denies `who` whatever the request.

    A Deny whose conditions test anything but the caller's principal ARN applies only to some
    requests: the action stays possible, so it takes nothing away here.
    """
    root = f"arn:aws:iam::{account}:root"
    named = {p.value for p in stmt.principals if p.kind == "AWS"}
    if not stmt.not_principal and not named & {"*", root, account, who}:
        return False
    for cond in stmt.conditions:
        if cond.key != PRINCIPAL_ARN:
            return False
        hit = any(fnmatch.fnmatchcase(who, v) for v in cond.values)
        if cond.operator in _PIN_OPS:
            if not hit:
                return False
        elif cond.operator in _NOT_PIN_OPS:
            if hit:
                return False
        else:
            return False
    return True


def key_access(statements: list[Statement], account: str) -> KeyAccess:
    """Who a key policy lets use or administer the key, and its wildcard statements.

    An Allow for `*` (or the bare account) pinned by `aws:PrincipalArn` counts for the pinned
    ARNs, else for `*`; so does the account root pinned that way (IAM delegation to named
    principals). Deny statements take actions away from the principals they always apply to.
    """
    allowed: dict[str, set[str]] = {}
    wildcards: list[str] = []
    root = f"arn:aws:iam::{account}:root"
    for stmt in statements:
        if not stmt.allow:
            continue
        acts = stmt.actions_in(KEY_ACTIONS)
        pinned = stmt.principal_arn_pins()
        names = ["*"] if stmt.not_principal else \
            [p.value for p in stmt.principals if p.kind == "AWS"]
        for p in names:
            if p in ("*", account):
                if not stmt.scopes_callers():
                    wildcards.append(stmt.sid or "no sid")
                targets = list(pinned) if pinned else ["*"]
            elif p == root and pinned:
                targets = list(pinned)
            else:
                targets = [p]
            for t in targets:
                allowed.setdefault(t, set()).update(acts)
    denies = [s for s in statements if not s.allow]
    for who, acts in allowed.items():
        for stmt in denies:
            if _deny_applies(stmt, who, account):
                acts -= stmt.actions_in(KEY_ACTIONS)
    return KeyAccess({k: v for k, v in allowed.items() if v}, tuple(wildcards))


def identity_access(statements: list[Statement], resource: str) -> set[str]:
    """The KMS actions an identity (IAM) policy allows on `resource` (its Allow statements)."""
    out: set[str] = set()
    for stmt in statements:
        if stmt.allow and any(fnmatch.fnmatchcase(resource, r) for r in stmt.resources):
            out |= stmt.actions_in(KEY_ACTIONS)
    return out
