"""Audit events to CloudWatch Logs (one log stream per run)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keyplane.audit.events import AuditEvent, AuditSinkError


class CloudWatchLogsSink:
    """Writes each event as one log event; the stream is named by the run id."""

    def __init__(self, client: Any, log_group: str) -> None:
        self.client = client
        self.log_group = log_group
        self._stream: str | None = None

    def ensure_writable(self) -> None:
        """The group must exist (keyplane never creates it: it is part of the audit estate)."""
        try:
            pages = self.client.get_paginator("describe_log_groups").paginate(
                logGroupNamePrefix=self.log_group)
            names = {g["logGroupName"] for page in pages for g in page.get("logGroups", [])}
        except (BotoCoreError, ClientError) as exc:
            raise AuditSinkError(f"cannot reach cloudwatch logs group {self.log_group}: "
                                 f"{exc}") from None
        if self.log_group not in names:
            raise AuditSinkError(f"cloudwatch logs group {self.log_group} does not exist; "
                                 "create it with the audit stack")

    def write(self, event: AuditEvent) -> None:
        """Create the run's stream on first use, then put the event."""
        try:
            if self._stream is None:
                stream = f"keyplane/{event.command}/{event.run_id}"
                try:
                    self.client.create_log_stream(logGroupName=self.log_group,
                                                  logStreamName=stream)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                        raise
                self._stream = stream
            millis = int(dt.datetime.fromisoformat(event.timestamp.replace("Z", "+00:00"))
                         .timestamp() * 1000)
            self.client.put_log_events(logGroupName=self.log_group, logStreamName=self._stream,
                                       logEvents=[{"timestamp": millis,
                                                   "message": event.to_json()}])
        except (BotoCoreError, ClientError) as exc:
            raise AuditSinkError(f"cannot write audit events to cloudwatch logs group "
                                 f"{self.log_group}: {exc}") from None
