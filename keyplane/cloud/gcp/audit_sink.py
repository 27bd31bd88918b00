"""Audit events to Cloud Logging (entries.write), one structured entry per event."""

from __future__ import annotations

import re
from typing import Any

from keyplane.audit.events import AuditEvent, AuditSinkError

API = "https://logging.googleapis.com"
_LOG_NAME = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/logs/[A-Za-z0-9_./%-]{1,512}$")
_SCOPE = "https://www.googleapis.com/auth/logging.write"
_SEVERITY = {"ok": "INFO", "started": "INFO", "skipped": "INFO", "finding": "WARNING",
             "unknown": "WARNING", "failed": "ERROR", "error": "ERROR"}


class CloudLoggingSink:
    """Writes events with the Logging API's `entries:write` (dry run for the writability check)."""

    def __init__(self, session: Any, log_name: str, *, endpoint: str = API,
                 timeout: float = 10.0) -> None:
        if not _LOG_NAME.match(log_name):
            raise AuditSinkError(f"cloud logging log must look like projects/PROJECT/logs/NAME, "
                                 f"got {log_name!r}")
        self.session = session
        self.log_name = log_name
        self.url = f"{endpoint.rstrip('/')}/v2/entries:write"
        self.timeout = timeout

    @classmethod
    def build(cls, *, log_name: str, endpoint: str | None = None) -> CloudLoggingSink:
        """Application Default Credentials; a local endpoint (tests) is called without auth."""
        if endpoint and endpoint.startswith("http://"):
            import requests

            return cls(requests.Session(), log_name, endpoint=endpoint)
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        try:
            credentials, _ = google.auth.default(scopes=[_SCOPE])
        except Exception as exc:
            raise AuditSinkError(f"cannot set up gcp credentials for cloud logging: "
                                 f"{exc}") from None
        return cls(AuthorizedSession(credentials), log_name)

    def _post(self, body: dict[str, Any]) -> None:
        try:
            response = self.session.post(self.url, json=body, timeout=self.timeout)
        except Exception as exc:
            raise AuditSinkError(f"cannot reach cloud logging for {self.log_name}: "
                                 f"{exc}") from None
        if response.status_code != 200:
            raise AuditSinkError(f"cloud logging refused audit events for {self.log_name}: "
                                 f"http {response.status_code}")

    def ensure_writable(self) -> None:
        """A dry-run write: permission and log name are checked, nothing is stored."""
        self._post({"logName": self.log_name, "resource": {"type": "global"},
                    "entries": [{"jsonPayload": {"probe": True}}], "dryRun": True})

    def write(self, event: AuditEvent) -> None:
        """One entry, labelled with the run id and command so runs can be queried."""
        self._post({"logName": self.log_name, "resource": {"type": "global"},
                    "labels": {"keyplane_run_id": event.run_id, "keyplane_command": event.command},
                    "entries": [{"jsonPayload": {**event.__dict__},
                                 "severity": _SEVERITY.get(event.outcome, "DEFAULT"),
                                 "timestamp": event.timestamp}]})
