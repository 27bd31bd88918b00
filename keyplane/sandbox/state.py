"""The sandbox's state file (`.keyplane/sandbox.json`): endpoints and pid of a running sandbox."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from keyplane.hooks.errors import SANDBOX_FAILED, HookSetupError
from keyplane.output import write_atomic

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
        """Read the state file; a clear error when no sandbox is running."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(aws_endpoint=str(data["aws_endpoint"]),
                       gcp_endpoint=str(data["gcp_endpoint"]), pid=int(data["pid"]),
                       latency_ms=float(data.get("latency_ms", 0.0)),
                       projects=tuple(data.get("projects", ())))
        except FileNotFoundError:
            raise HookSetupError(f"no sandbox state at {path}; start one with "
                                 "`keyplane sandbox up --background`", code=SANDBOX_FAILED) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HookSetupError(f"sandbox state {path} is unreadable: {exc}",
                                 code=SANDBOX_FAILED) from None
