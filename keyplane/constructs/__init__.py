"""CDK Terrain constructs: they render the plans of `keyplane.desired` one to one.

Importing a construct module imports cdktn and a provider binding (seconds), so
only `keyplane synth` and the synth tests import this package's submodules.
"""

from keyplane.constructs.node import ensure_node

# jsii starts its Node runtime when cdktn is first imported: choose the supported Node
# before any construct module can import cdktn.
ensure_node()
