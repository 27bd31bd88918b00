"""The GCP half of an environment: Cloud KMS key rings and keys, IAM, audit trail, alerts.

What is built is decided in `keyplane.desired.gcp` (pure); `GcpEnvironment` renders it and
is imported lazily, so importing this package loads neither cdktn nor the Google bindings.
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
