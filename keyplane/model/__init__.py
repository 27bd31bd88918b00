"""keyplane's model: the inventory, the tier table, provider limits, rotation eligibility.

Pure: no I/O beyond reading YAML, no cloud SDK, no CDK library.
"""

from keyplane.model.environment import Environment, Generation, GenerationState, KeyDecl, Workload
from keyplane.model.loader import Estate, load_environment, load_estate, resolve_targets
from keyplane.model.specs import Cloud, KeyFamily, KeyUsage, Origin, rotation_eligibility
from keyplane.model.tiers import TIERS, RotationMode, Tier, TierPolicy, policy_for

__all__ = [
    "TIERS",
    "Cloud",
    "Environment",
    "Estate",
    "Generation",
    "GenerationState",
    "KeyDecl",
    "KeyFamily",
    "KeyUsage",
    "Origin",
    "RotationMode",
    "Tier",
    "TierPolicy",
    "Workload",
    "load_environment",
    "load_estate",
    "policy_for",
    "resolve_targets",
    "rotation_eligibility",
]
