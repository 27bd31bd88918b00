"""The one error tree of cloud calls: what an adapter raises when an SDK call fails.

The post-apply readers (`keyplane.postapply.ports`) and the drill adapters
(`keyplane.drills.ports`) translate boto3 and google-api-core failures into these
classes, so callers tell the cases apart by type, never by a provider's string:
throttled (try again later), denied, not found, expired credentials (stop the run),
and for drills a key in the wrong state or a key that is missing. Pure: no SDK import.
"""

from __future__ import annotations


class CloudCallError(Exception):
    """A cloud call failed; carries the operation, the provider's code and message, the Region."""

    kind = "failed"

    def __init__(self, operation: str, code: str, message: str = "", *,
                 region: str | None = None) -> None:
        super().__init__(f"{operation}: {code}{': ' + message if message else ''}")
        self.operation = operation
        self.code = code
        self.message = message
        self.region = region

    def describe(self) -> str:
        """One line for a report: `ListGrants throttled (ThrottlingException) in us-east-1`."""
        where = f" in {self.region}" if self.region else ""
        return f"{self.operation} {self.kind} ({self.code}){where}"


class Throttled(CloudCallError):
    """Throttled or unavailable after the adapter's bounded retries: try again later."""

    kind = "throttled"


class AccessDenied(CloudCallError):
    """The caller may not make this call on this resource or in this Region."""

    kind = "denied"


class NotFound(CloudCallError):
    """The resource does not exist (any more)."""

    kind = "not found"


class CredentialsExpired(CloudCallError):
    """The credentials expired mid-run: stop, and keep what was done."""

    kind = "credentials expired"


class KeyStateError(CloudCallError):
    """The key (or version) is disabled, pending deletion or import: a key-state failure."""

    kind = "key state"


class KeyMissingError(KeyStateError, NotFound):
    """The key, replica, version (or the object a drill reads) does not exist."""

    kind = "missing"
