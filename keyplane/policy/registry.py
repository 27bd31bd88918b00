"""Rules: metadata by decorator, discovery of every rule module, and lookup by type."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keyplane.model.tiers import Tier, TierPolicy
from keyplane.policy.model import Control, Resource, Severity, Verdict

if TYPE_CHECKING:
    import datetime as dt

    from keyplane.policy.index import Index

DOCS_URL = "https://github.com/keyplane/keyplane/blob/main/docs/rules.md"
ANY_TYPE = "*"


@dataclass(frozen=True)
class RuleContext:
    """What a rule may read besides its resource: the tier's controls and the other resources."""

    policy: TierPolicy | None
    tier: Tier | None
    index: Index
    today: dt.date
    covered_types: frozenset[str] = frozenset()


RuleFunc = Callable[[Resource, RuleContext], Verdict | None]


@dataclass(frozen=True)
class Rule:
    """One rule: its id, area, title (the desired state), default severity, control and doc."""

    rule_id: str
    area: str
    title: str
    severity: Severity
    resource_types: frozenset[str]
    func: RuleFunc
    doc: str
    module: str
    needs_tier: bool = True
    guardrail: bool = True
    inputs: frozenset[str] = field(default_factory=lambda: frozenset({"synth", "plan"}))
    include_deleted: bool = False
    control: Control | None = None  # the tier table's control it proves (every @rule says)

    @property
    def help_uri(self) -> str:
        """The rule's section of docs/rules.md."""
        return f"{DOCS_URL}#{self.rule_id}"

    @property
    def summary(self) -> str:
        """The first paragraph of the docstring: the invariant."""
        return self.doc.split("\n\n", 1)[0].replace("\n", " ").strip()


_REGISTRY: dict[str, Rule] = {}
_DISCOVERED: list[bool] = []


def rule(*, title: str, severity: Severity, control: Control, types: tuple[str, ...],
         needs_tier: bool = True, guardrail: bool = True,
         inputs: tuple[str, ...] = ("synth", "plan"),
         include_deleted: bool = False) -> Callable[[RuleFunc], RuleFunc]:
    """Declare a rule: the function's name is its id and its module's name; its docstring its doc."""
    def wrap(func: RuleFunc) -> RuleFunc:
        module = func.__module__
        parts = module.split(".")
        area = parts[-2] if len(parts) >= 2 else ""
        _REGISTRY[func.__name__] = Rule(
            rule_id=func.__name__, area=area, title=title, severity=severity,
            resource_types=frozenset(types), func=func, doc=inspect.cleandoc(func.__doc__ or ""),
            module=module, needs_tier=needs_tier, guardrail=guardrail,
            inputs=frozenset(inputs), include_deleted=include_deleted, control=control)
        return func
    return wrap


def discover() -> dict[str, Rule]:
    """Import every module under keyplane.policy.rules and return the rules, by id."""
    if not _DISCOVERED:
        import keyplane.policy.rules as pkg

        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}."):
            if not info.ispkg:
                importlib.import_module(info.name)
        _DISCOVERED.append(True)
    return dict(sorted(_REGISTRY.items()))

