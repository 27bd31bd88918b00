"""keyplane's model: the inventory, the tier table, provider limits, rotation eligibility.

Pure: no I/O beyond reading YAML, no cloud SDK, no CDK library. The names below are
resolved on first use, so `keyplane check` (which needs the tier table, not the
pydantic inventory models) does not pay for importing them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Environment": "environment", "Generation": "environment",
    "GenerationState": "environment", "KeyDecl": "environment", "Workload": "environment",
    "Estate": "loader", "load_environment": "loader", "load_estate": "loader",
    "resolve_targets": "loader",
    "Cloud": "specs", "KeyFamily": "specs", "KeyUsage": "specs", "Origin": "specs",
    "rotation_eligibility": "specs",
    "TIERS": "tiers", "RotationMode": "tiers", "Tier": "tiers", "TierPolicy": "tiers",
    "policy_for": "tiers",
}

__all__ = [
    "TIERS", "Cloud", "Environment", "Estate", "Generation", "GenerationState", "KeyDecl",
    "KeyFamily", "KeyUsage", "Origin", "RotationMode", "Tier", "TierPolicy", "Workload",
    "load_environment", "load_estate", "policy_for", "resolve_targets", "rotation_eligibility",
]

if TYPE_CHECKING:
    from keyplane.model.environment import (
        Environment,
        Generation,
        GenerationState,
        KeyDecl,
        Workload,
    )
    from keyplane.model.loader import Estate, load_environment, load_estate, resolve_targets
    from keyplane.model.specs import Cloud, KeyFamily, KeyUsage, Origin, rotation_eligibility
    from keyplane.model.tiers import TIERS, RotationMode, Tier, TierPolicy, policy_for


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'keyplane.model' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"keyplane.model.{module}"), name)
    globals()[name] = value
    return value
