"""The pull-request gate: synth and plan JSON -> Resources -> tier-aware rules -> findings.

Pure: imports no cloud SDK and no CDK library; reads the tier table and provider
limits from `keyplane.model` and repeats none of their numbers.
"""
