"""The sandbox's state file (`.keyplane/sandbox.json`): endpoints and pid of a running sandbox."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from keyplane.documents import DocumentError, loads
from keyplane.output import write_atomic
from keyplane.postapply.errors import SANDBOX_FAILED, HookSetupError

DEFAULT_STATE_FILE = Path(".keyplane/sandbox.json")
STATE_ENV_VAR = "KEYPLANE_SANDBOX_STATE"


def state_path(path: Path | None = None) -> Path:
    """The state file: `path`, else $KEYPLANE_SANDBOX_STATE, else .keyplane/sandbox.json."""
    if path is not None:
        return path
    env = os.environ.get(STATE_ENV_VAR)
    return Path(env) if env else DEFAULT_STATE_FILE


@dataclass(frozen=True, kw_only=True)
class SandboxState:
    """Where a running sandbox listens."""

    aws_endpoint: str
    gcp_endpoint: str
    pid: int
    latency_ms: float = 0.0
    projects: tuple[str, ...] = ()

    def write(self, path: Path) -> None:
        """Write the state file atomically."""
        data = asdict(self)
        data["projects"] = list(self.projects)
        data["note"] = "keyplane local sandbox: a playground, not a deploy"
        write_atomic(path, json.dumps(data, indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> SandboxState:
        """Read the state file; a clear error when no sandbox is running.

        The pid is checked before anyone signals it: `os.kill(0, ...)` would signal this
        process's whole group and `os.kill(-1, ...)` every process the user owns.
        """
        try:
            data = loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HookSetupError(f"no sandbox state at {path}; start one with "
                                 "`keyplane sandbox up --background`", code=SANDBOX_FAILED) from None
        except DocumentError as exc:
            raise _unreadable(path, exc.where()) from None
        except (OSError, ValueError) as exc:
            raise _unreadable(path, str(exc)) from None
        if not isinstance(data, dict):
            raise _unreadable(path, f"expected a json object, got {type(data).__name__}")
        for name in ("aws_endpoint", "gcp_endpoint"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise _unreadable(path, f"{name} must be a non-empty string")
        pid = data.get("pid")
        if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= _PID_MAX:
            raise _unreadable(path, f"pid must be a process id (1 to {_PID_MAX}), got {_shown(pid)}")
        if pid == os.getpid():
            raise _unreadable(path, f"pid {pid} is this keyplane process: the state file is "
                                    "stale (its sandbox is gone and the pid was reused)")
        latency = data.get("latency_ms", 0.0)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or \
                not math.isfinite(latency) or latency < 0:
            raise _unreadable(path, "latency_ms must be a number of milliseconds, got "
                                    f"{_shown(latency)}")
        projects = data.get("projects", [])
        if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
            raise _unreadable(path, "projects must be a list of project ids")
        return cls(aws_endpoint=data["aws_endpoint"], gcp_endpoint=data["gcp_endpoint"],
                   pid=pid, latency_ms=float(latency), projects=tuple(projects))


_PID_MAX = 2**31 - 1  # what os.kill accepts; 0 and negative pids name process groups


def _shown(value: object) -> str:
    """A value in a message: a short repr of a scalar, the type of anything else."""
    if value is None or isinstance(value, bool | int | float | str):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return type(value).__name__


def _unreadable(path: Path, why: str) -> HookSetupError:
    return HookSetupError(f"sandbox state {path} is unreadable: {why}", code=SANDBOX_FAILED)
