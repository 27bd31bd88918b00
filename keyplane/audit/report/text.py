"""Text helpers shared by the renderers: scrubbed, bounded prose, whole identifiers, human dates."""

from __future__ import annotations

import datetime as dt

from keyplane.audit.events import scrub

MAX_TEXT = 300  # a finding's message is one sentence; anything longer is cut, never a document


def clean(value: object, limit: int = MAX_TEXT) -> str:
    """`value` as one line, without anything shaped like secret material, at most `limit` chars.

    For prose only (messages, reasons, descriptions). The inputs are redacted already;
    this is the second lock on the door.
    """
    text = " ".join(scrub(str(value)).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def whole(value: object) -> str:
    """An identifier (principal, ARN, path, address, rule id) as one line, scrubbed, never cut.

    A cut identifier names nothing, or worse, names another principal
    (`.../AWSReserv…`), so the renderers wrap these instead of shortening them.
    """
    return " ".join(scrub(str(value)).split())


def days_phrase(days: int | None) -> str:
    """`in 12 d`, `today`, `3 d ago`."""
    if days is None:
        return ""
    if days == 0:
        return "today"
    return f"in {days} d" if days > 0 else f"{-days} d ago"


def age_days(created: dt.date | None, as_of: dt.date) -> int | None:
    """Days from `created` to `as_of`."""
    return None if created is None else (as_of - created).days
