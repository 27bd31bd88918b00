"""Incident records in a local directory: `<evidence dir>/incidents/`, never overwritten.

The drill evidence directory's history reads only its own top-level `*.json` records, so
incident records in their own subdirectory never disturb it. A record is written to a
temporary file, fsynced and hard-linked to its name: `link` fails when the name exists, so an
earlier record can never be replaced. The S3 variant is `keyplane.cloud.aws.incident`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from keyplane.audit.evidence import prove_writable, write_once

INCIDENTS = "incidents"


def record_name(started_at: str, incident_id: str, run_id: str, key: str, generation: int) -> str:
    """`<time>-<incident>-<run>-incident-<key>-g<N>.json`: sortable (give `started_at` to the
    microsecond: runs of one incident can start within one second), unique per run."""
    stamp = re.sub(r"[^0-9TZ]", "", started_at)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
    run = "" if run_id == incident_id else f"-{run_id}"
    return f"{stamp}-{incident_id}{run}-incident-{safe}-g{generation}.json"


class LocalIncidentStore:
    """Incident records as JSON files under `<root>/incidents/`."""

    def __init__(self, root: Path) -> None:
        self.root = root / INCIDENTS
        self.where = str(self.root)

    def ensure_writable(self) -> None:
        """Create the directory and prove a file can be created in it."""
        prove_writable(self.root, "incident records")

    def put(self, name: str, record: dict[str, Any]) -> str:
        """Write atomically; EvidenceError rather than replace an existing record."""
        return str(write_once(self.root, name, record, what="incident records",
                              record="incident record"))
