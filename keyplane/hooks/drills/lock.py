"""The single-flight lock of a drill target: one run per (environment, target) at a time.

The lock has an owner (the run id and who runs it) and an expiry (the drill's deadline
plus a margin), so a killed run frees its target without an operator. Stores: DynamoDB
conditional put (`keyplane.cloud.aws.drills.DynamoDbLock`) or, without AWS, a local
file created exclusively (`FileLock`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from keyplane.hooks.drills.errors import AlreadyRunningError, DrillSetupError
from keyplane.hooks.drills.ports import LockHolder, LockPort


def lock_name(env: str, target: str) -> str:
    """The lock's name for (environment, target)."""
    return f"{env}/{target}"


class FileLock:
    """Locks as files created with O_EXCL; an expired lock is replaced by rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        return self.root / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".lock")

    def acquire(self, name: str, owner: str, *, now: float, expires_at: float
                ) -> LockHolder | None:
        """Create the lock file, or take it over when its holder's lease has expired."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DrillSetupError(f"cannot create the lock directory {self.root}: "
                                  f"{exc.strerror or exc}") from None
        path = self._path(name)
        body = json.dumps({"owner": owner, "expires_at": expires_at})
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                holder = self._holder(path)
                if holder is not None and holder.expires_at > now:
                    return holder
                # expired (or unreadable): move it aside atomically, then retry the create
                stale = path.with_suffix(f".stale-{os.getpid()}")
                try:
                    os.replace(path, stale)
                    stale.unlink(missing_ok=True)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
            return None
        holder = self._holder(path)
        return holder or LockHolder(owner="unknown", expires_at=expires_at)

    @staticmethod
    def _holder(path: Path) -> LockHolder | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return LockHolder(owner=str(data["owner"]), expires_at=float(data["expires_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def release(self, name: str, owner: str) -> None:
        """Remove the lock file if it is still ours."""
        path = self._path(name)
        holder = self._holder(path)
        if holder is not None and holder.owner == owner:
            path.unlink(missing_ok=True)


@contextmanager
def held(store: LockPort, *, env: str, target: str, owner: str, now: float,
         ttl_seconds: float) -> Iterator[None]:
    """Hold the lock of (env, target) for the body; AlreadyRunningError when another run has it."""
    name = lock_name(env, target)
    holder = store.acquire(name, owner, now=now, expires_at=now + ttl_seconds)
    if holder is not None:
        until = dt.datetime.fromtimestamp(holder.expires_at, tz=dt.UTC)
        raise AlreadyRunningError(f"{target} of {env}", holder.owner,
                                  until.isoformat(timespec="seconds").replace("+00:00", "Z"))
    try:
        yield
    finally:
        store.release(name, owner)
