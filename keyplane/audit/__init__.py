"""Audit events (JSON lines) and the evidence report."""

from keyplane.audit.events import (
    AuditEvent,
    AuditLog,
    AuditSink,
    AuditSinkError,
    JsonLinesSink,
    MemorySink,
    new_run_id,
)

__all__ = ["AuditEvent", "AuditLog", "AuditSink", "AuditSinkError", "JsonLinesSink", "MemorySink",
           "new_run_id"]
