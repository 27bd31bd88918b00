"""Errors of the estate-wide commands (`keyplane matrix` and the shard selector; codes KP92x).

Every one is bad input (exit 2): the message names the option, what was given and what is
allowed, so a CI log shows the fix without a traceback.
"""

from __future__ import annotations

from keyplane.errors import KeyplaneError

ESTATE_ERROR = "KP920"  # the base code; every raise below names a narrower one
BAD_CHOICE = "KP921"  # --for, --tier or --format outside its allowed values
BAD_SHARD_COUNT = "KP922"  # --shards is not a whole number in 1..256
BAD_SHARD = "KP923"  # a shard selector that is not i/N with 1 <= i <= N
BAD_DATE = "KP924"  # --today is not a date (yyyy-mm-dd)
EVIDENCE_DIR_MISSING = "KP925"  # an --evidence-dir that does not exist or is a file
EVIDENCE_UNREADABLE = "KP926"  # a drill evidence record that cannot be read
ESTATE_TOO_LARGE = "KP927"  # more targets than a two-level matrix can run
OPTION_NOT_APPLICABLE = "KP928"  # an option that does not apply to this --for, or contradicts another
# KP929 is reserved for the estate package.


class EstateError(KeyplaneError):
    """An estate-wide command was given something it cannot use (exit 2)."""

    code = ESTATE_ERROR


class ShardError(EstateError):
    """A shard selector (`i/N`) or shard count is malformed or out of range (exit 2)."""

    code = BAD_SHARD
