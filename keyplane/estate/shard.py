"""Stable shards: which of N shards an item belongs to, from a hash of its own key.

An estate too large for one CI job matrix (GitHub runs at most 256 jobs per matrix) is split
into N shards, and each shard is run by its own job or its own second-level matrix. Two
properties make that safe to schedule:

- an item's shard depends only on its key and N, never on the other items, so adding an
  environment never moves an unrelated one, and every job that selects shard i of N from the
  same list (`keyplane matrix --shard`, a bulk run's `--shard i/N`) gets the same items;
- the hash is a jump consistent hash (Lamping and Veach, "A Fast, Minimal Memory, Consistent
  Hash Algorithm", 2014, arXiv:1406.2294) over SHA-256 of the key, so going from N to N+1
  shards moves only about 1/(N+1) of the items, and Python's per-process `hash()` salt
  plays no part.

Pure: no I/O, no state.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from keyplane.estate.errors import ShardError

T = TypeVar("T")

# Two levels of GitHub matrix (256 shards of 256 jobs) run at most 65,536 jobs; no CI layout
# keyplane documents needs more shards than that.
MAX_SHARDS = 256 * 256

_SELECTOR = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")
_MULTIPLIER = 2862933555777941757  # the 64-bit LCG of the jump consistent hash paper
_MASK = (1 << 64) - 1


def parse_shard(spec: str, *, option: str = "shard") -> tuple[int, int]:
    """`"2/5"` -> (2, 5); ShardError (KP923) names `option`, the value and the allowed range."""
    m = _SELECTOR.fullmatch(spec)
    if m is None:
        raise ShardError(f"{option} must be i/N with whole numbers 1 <= i <= N <= {MAX_SHARDS}, "
                         f"got {spec!r}")
    index, count = int(m.group(1)), int(m.group(2))
    check_count(count, option=option, spec=spec)
    if not 1 <= index <= count:
        raise ShardError(f"{option} i must be between 1 and N ({count}), got {index} in {spec!r}")
    return index, count


def check_count(count: int, *, option: str = "shard count", spec: str | None = None) -> int:
    """`count` when it is a usable number of shards (1..MAX_SHARDS); ShardError otherwise."""
    if not 1 <= count <= MAX_SHARDS:
        where = f" in {spec!r}" if spec is not None else ""
        raise ShardError(f"{option} N must be between 1 and {MAX_SHARDS}, got {count}{where}")
    return count


def _jump(key: int, buckets: int) -> int:
    """The jump consistent hash of a 64-bit key into 0..buckets-1 (the paper's listing)."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _MULTIPLIER + 1) & _MASK
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_of(key: str, count: int) -> int:
    """The shard (1..count) that `key` belongs to when the items are split into `count`."""
    check_count(count)
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return _jump(int.from_bytes(digest[:8], "big"), count) + 1


def select_shard(items: Iterable[T], shard: str, *, key: Callable[[T], str],
                 option: str = "shard") -> list[T]:
    """The items of shard `shard` ("i/N"), in their given order; `key` names an item stably
    (e.g. `environment/cloud/region`), so the same item lands in the same shard every run.
    A malformed `shard` is a ShardError (KP923) that names `option` (e.g. `--shard`)."""
    index, count = parse_shard(shard, option=option)
    return [item for item in items if shard_of(key(item), count) == index]


def partition(items: Iterable[T], count: int, *, key: Callable[[T], str]) -> list[list[T]]:
    """Every shard at once: element i-1 holds the items of shard i/count, in their given
    order (the same split `select_shard` makes, one shard at a time)."""
    check_count(count)
    out: list[list[T]] = [[] for _ in range(count)]
    for item in items:
        out[shard_of(key(item), count) - 1].append(item)
    return out
