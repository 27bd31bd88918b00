"""CDK Terrain constructs, built only from model objects.

Importing a construct module imports cdktn and a provider binding (seconds), so
only `keyplane synth` and the synth tests import this package's submodules.
"""
