"""keyplane's rules, one per module: `rules/<area>/<rule_id>.py`, rule_id = module = function."""
