"""How a client reaches the sandbox: loopback endpoints and per-account sandbox credentials.

Pure data and string functions, so the commands' wiring and the sandbox's own servers share
them without importing each other.
"""

from __future__ import annotations

from urllib.parse import urlparse

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
SANDBOX_SECRET = "keyplane-sandbox"  # moto does not check signatures; not a secret
SANDBOX_KEY_PREFIX = "KPSBX"


def sandbox_access_key(account_id: str) -> str:
    """The sandbox access key id that makes the sandbox answer as `account_id`."""
    return f"{SANDBOX_KEY_PREFIX}{account_id}"


def is_loopback(url: str | None) -> bool:
    """Whether `url` (or `host:port`) points at this machine."""
    if not url:
        return False
    host = urlparse(url if "://" in url else f"//{url}").hostname
    return host in LOOPBACK
