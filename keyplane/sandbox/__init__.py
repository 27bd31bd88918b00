"""The local sandbox: moto's server application behind a small fault-injecting HTTP front, and
gRPC fakes of the Google APIs keyplane calls (Cloud KMS, Logging, Monitoring, Resource Manager,
CA Service).

A playground and a test bed for keyplane's post-apply commands; never a deploy.
Only the sandbox hosts servers; clients live in `keyplane.cloud`.
"""

from __future__ import annotations


def missing_extra() -> str | None:
    """Why the sandbox cannot run (moto's server or werkzeug is not installed), or None."""
    try:
        import moto.server  # noqa: F401
        import werkzeug  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None
