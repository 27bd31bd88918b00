"""The single-flight lock of a drill target: one run per (environment, target) at a time.

The lock has an owner (the run id and who runs it) and a short lease that the run renews
as it works (a heartbeat: every drill step and every poll of a restore). A run that was
killed stops beating; one lease later (`LEASE_SECONDS`) the next run takes the lock over,
says so, and its journal adopts what the dead run left. Stores: DynamoDB conditional
writes (`keyplane.cloud.aws.drills.DynamoDbLock`) or, without AWS, a local file created
exclusively (`FileLock`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from keyplane.drills.errors import AlreadyRunningError, DrillSetupError
from keyplane.drills.ports import LockHolder, LockPort

# A live run renews its lease at least every LEASE_SECONDS / 5 (steps and restore polls come
# far more often); a holder silent for a whole lease is taken to be dead.
LEASE_SECONDS = 300.0
_BEAT_EVERY = LEASE_SECONDS / 5


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

    def renew(self, name: str, owner: str, *, expires_at: float) -> bool:
        """Rewrite the lease of our lock (atomically: a reader never sees half a file)."""
        path = self._path(name)
        holder = self._holder(path)
        if holder is None or holder.owner != owner:
            return False
        tmp = path.with_suffix(f".beat-{os.getpid()}")
        tmp.write_text(json.dumps({"owner": owner, "expires_at": expires_at}), encoding="utf-8")
        os.replace(tmp, path)
        return True

    def peek(self, name: str) -> LockHolder | None:
        """The holder written in the lock file, if any."""
        return self._holder(self._path(name))


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


@dataclass
class Lease:
    """A held lock: `beat()` renews it; `taken_over` names the dead holder it replaced."""

    store: LockPort
    name: str
    owner: str
    clock: Callable[[], float]
    last_beat: float
    taken_over: str | None = None

    def beat(self) -> None:
        """Renew the lease when a fifth of it has passed since the last renewal."""
        now = self.clock()
        if now - self.last_beat >= _BEAT_EVERY:
            self.store.renew(self.name, self.owner, expires_at=now + LEASE_SECONDS)
            self.last_beat = now


@contextmanager
def held(store: LockPort, *, env: str, target: str, owner: str,
         clock: Callable[[], float]) -> Iterator[Lease]:
    """Hold the lock of (env, target) for the body, renewed by `Lease.beat()`;
    AlreadyRunningError when a live run has it."""
    name = lock_name(env, target)
    now = clock()
    before = store.peek(name)
    holder = store.acquire(name, owner, now=now, expires_at=now + LEASE_SECONDS)
    if holder is not None:
        raise AlreadyRunningError(f"{target} of {env}", holder.owner,
                                  _iso(holder.expires_at - LEASE_SECONDS),
                                  _iso(holder.expires_at))
    lease = Lease(store=store, name=name, owner=owner, clock=clock, last_beat=now)
    if before is not None and before.owner != owner:
        lease.taken_over = (f"took over the lock of {before.owner}, whose heartbeat stopped "
                            f"after {_iso(before.expires_at - LEASE_SECONDS)}; its journal is "
                            "adopted")
    try:
        yield lease
    finally:
        store.release(name, owner)
