"""`keyplane adopt`: unmanaged keys become inventory entries whose first plan imports them.

Pure: `rules` maps a discovered key to a tier (tag and alias-prefix rules the user passes,
else a suggestion marked for review); `mapping` turns each key read by the post-apply
collector into an entry with an `adopt` block, the in-place changes its tier demands, and
the reasons it needs review or cannot be adopted without replacing a key. No SDK, no cdktn:
the command (`keyplane.commands.adopt`) reads the cloud and writes the YAML.
"""

from keyplane.adopt.errors import AdoptInputError
from keyplane.adopt.mapping import AdoptionPlan, KeyAdoption, plan_adoption
from keyplane.adopt.rules import TierChoice, TierRules

__all__ = ["AdoptInputError", "AdoptionPlan", "KeyAdoption", "TierChoice", "TierRules",
           "plan_adoption"]
