"""The GCP half of an environment: Cloud KMS key rings and keys, IAM, audit trail, alerts.

`GcpEnvironment` is imported lazily so that `keyplane.model.gcp_locations`,
`.errors` and `.plan` stay importable without cdktn or the Google bindings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keyplane.constructs.gcp.environment import GcpEnvironment

__all__ = ["GcpEnvironment"]


def __getattr__(name: str) -> Any:
    """Import the construct (and with it cdktn and the Google bindings) on first use."""
    if name == "GcpEnvironment":
        from keyplane.constructs.gcp.environment import GcpEnvironment

        return GcpEnvironment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
