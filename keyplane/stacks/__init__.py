"""One Terraform stack per environment, composed from keyplane's constructs.

Importing this package points jsii at a supported Node before cdktn loads.
"""

from keyplane.constructs.node import ensure_node

ensure_node()
