"""Scaffolding while the post-apply jobs move into registered checks: the old constructor.

`Finding(check=..., message=...)` as the jobs wrote it, returning the one Finding.
Deleted once every check lives under keyplane/postapply/rules/.
"""

from __future__ import annotations

from typing import Any

from keyplane.findings import Finding as _Finding
from keyplane.findings import Severity, Status
from keyplane.postapply.report import Unknown

__all__ = ["Finding", "Severity", "Unknown"]


def Finding(*, check: str, severity: Severity, resource: str, message: str,
            **detail: Any) -> _Finding:
    """A FAIL finding of the one model, from the jobs' old keyword arguments."""
    return _Finding(rule_id=check, status=Status.FAIL, severity=severity, resource=resource,
                    reason=message, area=check.split(".", 1)[0], **detail)
