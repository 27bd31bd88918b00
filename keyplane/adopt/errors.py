"""Refusals of `keyplane adopt`'s input: rules and escrow copies it cannot read.

Codes: KP201 a tier rule (`--tier-rule`, `--alias-prefix`, `--default-tier`), KP202 an
escrow copy (`--escrow`), KP203 the inventory would not load or plan with the adopted entries
(exit 2), KP204 `--write` refused because a read failed (exit 3: nothing is written).
"""

from __future__ import annotations

from keyplane.errors import UsageError

TIER_RULE_INVALID = "KP201"
ESCROW_INVALID = "KP202"
ENTRIES_REFUSED = "KP203"
NOT_WRITTEN_INCOMPLETE = "KP204"


class AdoptInputError(UsageError):
    """An option of `keyplane adopt` that cannot be read; exit 2, nothing read or written."""

    code = TIER_RULE_INVALID
