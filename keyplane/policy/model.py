"""The one Resource model every input format is converted into, and the verdicts rules return.

The findings the gate makes of those verdicts are keyplane's one `Finding`
(`keyplane.findings`); `Finding`, `Status`, `Severity` and `Control` are re-exported here
so a rule imports what it uses from one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from keyplane.findings import Control, Finding, Severity, Status
from keyplane.model.tiers import Tier

__all__ = ["SENSITIVE", "UNKNOWN", "Action", "AttrPath", "Control", "Finding", "Resource",
           "Severity", "Status", "TierContext", "Verdict", "failed", "fold_actions",
           "not_applicable", "passed", "today", "unknown", "walk_paths"]

AttrPath = tuple[str | int, ...]


class _Unknown:
    """A value Terraform knows only after apply (or that is hidden): never a pass."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        # A rule that forgets to check for UNKNOWN must not read it as "set".
        raise TypeError("UNKNOWN has no truth value; check `is UNKNOWN` first")


UNKNOWN: Any = _Unknown()


class _Sensitive:
    """Stands in for a value the plan marks sensitive: the value itself never enters the model."""

    _instance: _Sensitive | None = None

    def __new__(cls) -> _Sensitive:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(sensitive)"


SENSITIVE: Any = _Sensitive()


class Action(StrEnum):
    """What a plan does to a resource (Terraform's `change.actions`, folded into one word)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    NO_OP = "no-op"
    READ = "read"
    FORGET = "forget"


_ACTIONS = {a.value: a for a in Action}


def fold_actions(actions: list[str] | tuple[str, ...]) -> Action | None:
    """Terraform's action list -> one Action; ["delete","create"] and its reverse are replace."""
    acts = tuple(actions)
    if not acts:
        return None
    if set(acts) == {"delete", "create"}:
        return Action.REPLACE
    if len(acts) == 1 and acts[0] in _ACTIONS:
        return _ACTIONS[acts[0]]
    raise ValueError(f"unknown plan actions {list(acts)}")


@dataclass(frozen=True, slots=True)
class TierContext:
    """What the resource's tags (AWS) or labels (GCP) say about where it belongs."""

    env: str | None = None
    tier: Tier | None = None
    tier_raw: str | None = None  # the tag's value, kept when it is not a known tier
    key: str | None = None
    generation: str | None = None
    created_on: str | None = None
    role: str | None = None
    declared_accounts: frozenset[str] = frozenset()  # cross-account access the inventory declares
    inherited_from: str | None = None  # address whose tags this context came from


@dataclass(slots=True)
class Resource:
    """One managed resource of a synthesized stack or a plan, whatever the input format was.

    `values` never holds a sensitive value (those are SENSITIVE) and, for plans, never
    a value known only after apply (those paths are in `unknown`). In synth JSON an
    interpolation such as `${aws_kms_key.k.arn}` stays in `values` as written (so its
    target can be resolved) but reads as UNKNOWN through `get`.
    """

    address: str
    type: str
    name: str
    provider: str
    values: Mapping[str, Any]
    source: str
    input_kind: str  # "synth" | "plan"
    unknown: frozenset[AttrPath] = frozenset()
    sensitive: frozenset[AttrPath] = frozenset()
    action: Action | None = None
    construct_path: str | None = None
    module: str | None = None
    stack: str | None = None
    prevent_destroy: bool | None = None  # None: the input does not say (plan JSON)
    refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # attr -> addresses
    context: TierContext = field(default_factory=TierContext)
    # plans only: the tier context of the state before the change (None: created, or synth)
    prior_context: TierContext | None = None

    @property
    def uid(self) -> str:
        """Unique within a run: stacks of one cdktf.out reuse addresses, files may too."""
        return f"{self.source}|{self.stack or ''}|{self.address}"

    @property
    def base_address(self) -> str:
        """The address without a trailing instance key (`aws_kms_key.k[0]` -> `aws_kms_key.k`)."""
        addr = self.address
        if addr.endswith("]"):
            cut = addr.rfind("[")
            if cut > 0:
                return addr[:cut]
        return addr

    @property
    def tier(self) -> Tier | None:
        """The tier from the resource's own or inherited tags."""
        return self.context.tier

    def get(self, *path: str | int, default: Any = None) -> Any:
        """The value at `path`, UNKNOWN when only known after apply or sensitive, else `default`.

        A string key applied to a one-element list steps into it: Terraform renders nested
        blocks as lists in plans and cdktn as objects in synth JSON; rules see one shape.
        """
        node: Any = self.values
        real: list[str | int] = []
        unknown = self.unknown
        for step in path:
            if isinstance(step, str) and isinstance(node, list):
                if len(node) != 1:
                    return default
                node = node[0]
                real.append(0)
                if unknown and tuple(real) in unknown:
                    return UNKNOWN
            if isinstance(node, Mapping):
                if step not in node:
                    return UNKNOWN if unknown and (*real, step) in unknown else default
                node = node[step]
            elif isinstance(node, list) and isinstance(step, int):
                if not -len(node) <= step < len(node):
                    return default
                node = node[step]
            else:
                return default
            real.append(step)
            if unknown and tuple(real) in unknown:
                return UNKNOWN
        if node is SENSITIVE or node is UNKNOWN:
            return UNKNOWN
        if isinstance(node, str) and "${" in node:
            return UNKNOWN
        if node is None:
            return UNKNOWN if unknown and tuple(real) in unknown else default
        return node

    def raw(self, *path: str | int) -> Any:
        """The value at `path` as written (a `${...}` reference stays a string), or None."""
        node: Any = self.values
        for step in path:
            if isinstance(step, str) and isinstance(node, list) and len(node) == 1:
                node = node[0]
            if isinstance(node, Mapping):
                node = node.get(step)
            elif isinstance(node, list) and isinstance(step, int) and -len(node) <= step < len(node):
                node = node[step]
            else:
                return None
        return node

    def is_set(self, *path: str | int) -> bool | None:
        """Whether the attribute is given at all (a reference counts); None when unknowable."""
        value = self.raw(*path)
        if value is None or value == "" or value == [] or value == {}:
            if not self.unknown:
                return False
            real = tuple(path)
            if any(p[0] == real[0] and (p[: len(real)] == real or real[: len(p)] == p)
                   for p in self.unknown if p):
                return None
            return False
        return True

    def blocks(self, *path: str | int) -> list[Any]:
        """A nested block (or list of blocks) as a list, whether rendered as object or list."""
        value = self.raw(*path)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        return [value]


@dataclass(slots=True)
class Verdict:
    """What a rule says about one resource; the engine turns it into a Finding."""

    status: Status
    reason: str
    attribute: str | None = None


def passed(reason: str, attribute: str | None = None) -> Verdict:
    """A PASS verdict."""
    return Verdict(Status.PASS, reason, attribute)


def failed(reason: str, attribute: str | None = None) -> Verdict:
    """A FAIL verdict."""
    return Verdict(Status.FAIL, reason, attribute)


def unknown(reason: str, attribute: str | None = None) -> Verdict:
    """An UNKNOWN verdict: the value is known only after apply or is hidden."""
    return Verdict(Status.UNKNOWN, reason, attribute)


def not_applicable(reason: str, attribute: str | None = None) -> Verdict:
    """A NOT_APPLICABLE verdict."""
    return Verdict(Status.NOT_APPLICABLE, reason, attribute)


def walk_paths(tree: Any, prefix: AttrPath = ()) -> Iterator[AttrPath]:
    """Every path whose leaf is `true` in a Terraform `after_unknown`/`*_sensitive` mirror."""
    if tree is True:
        yield prefix
    elif isinstance(tree, Mapping):
        for k, v in tree.items():
            yield from walk_paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from walk_paths(v, (*prefix, i))


def today() -> dt.date:
    """Today's date (UTC); the engine context carries it so tests can pin it."""
    return dt.datetime.now(dt.UTC).date()
