"""Shared helpers for the policy tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
# Every date-dependent rule is evaluated on this day, never on the machine's clock.
AS_OF = dt.date(2026, 6, 1)
