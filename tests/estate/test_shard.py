"""The shard selector: `i/N` parsing with coded errors, and a split that is stable, complete,
balanced, and moves as little as possible when N grows."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from keyplane.estate.errors import BAD_SHARD, ShardError
from keyplane.estate.shard import (
    MAX_SHARDS,
    parse_shard,
    partition,
    select_shard,
    shard_of,
)
from tests.conftest import REPO

KEYS = [f"env{i:04d}/{cloud}/{region}" for i in range(2000)
        for cloud, region in (("aws", "us-east-1"), ("gcp", "us-east1"))]


@pytest.mark.parametrize(("spec", "expected"), [
    ("1/1", (1, 1)), ("2/5", (2, 5)), ("5/5", (5, 5)), (f"1/{MAX_SHARDS}", (1, MAX_SHARDS)),
    ("007/10", (7, 10)),
])
def test_parse_shard_reads_i_of_n(spec: str, expected: tuple[int, int]) -> None:
    assert parse_shard(spec) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("0/3", "shard i must be between 1 and N (3), got 0 in '0/3'"),
    ("4/3", "shard i must be between 1 and N (3), got 4 in '4/3'"),
    ("1/0", f"shard N must be between 1 and {MAX_SHARDS}, got 0 in '1/0'"),
    (f"1/{MAX_SHARDS + 1}", f"shard N must be between 1 and {MAX_SHARDS}, got {MAX_SHARDS + 1} "
                            f"in '1/{MAX_SHARDS + 1}'"),
    ("a/b", f"shard must be i/N with whole numbers 1 <= i <= N <= {MAX_SHARDS}, got 'a/b'"),
    ("-1/3", f"shard must be i/N with whole numbers 1 <= i <= N <= {MAX_SHARDS}, got '-1/3'"),
    ("1/3 ", f"shard must be i/N with whole numbers 1 <= i <= N <= {MAX_SHARDS}, got '1/3 '"),
    ("2", f"shard must be i/N with whole numbers 1 <= i <= N <= {MAX_SHARDS}, got '2'"),
    ("1/2/3", f"shard must be i/N with whole numbers 1 <= i <= N <= {MAX_SHARDS}, got '1/2/3'"),
    ("", f"shard must be i/N with whole numbers 1 <= i <= N <= {MAX_SHARDS}, got ''"),
    ("9" * 5000 + "/1", f"shard must be i/N with whole numbers 1 <= i <= N <= {MAX_SHARDS}, "
                        f"got '{'9' * 5000}/1'"),
])
def test_fails_on_a_malformed_or_out_of_range_shard(spec: str, message: str) -> None:
    with pytest.raises(ShardError) as info:
        parse_shard(spec)
    assert info.value.code == BAD_SHARD == "KP923"
    assert info.value.message == message
    assert info.value.exit_code == 2


def test_the_error_names_the_option_it_came_from() -> None:
    with pytest.raises(ShardError, match=r"^--shard i must be between 1 and N \(2\), got 3"):
        select_shard(["a"], "3/2", key=str, option="--shard")


def test_every_item_is_in_exactly_one_shard_and_select_agrees_with_partition() -> None:
    for count in (1, 2, 3, 7, 256):
        groups = partition(KEYS, count, key=str)
        assert len(groups) == count
        assert sorted(k for g in groups for k in g) == sorted(KEYS)
        for i in sorted({1, (count + 1) // 2, count}):
            assert select_shard(KEYS, f"{i}/{count}", key=str) == groups[i - 1]


def test_a_shard_keeps_the_given_order() -> None:
    reversed_keys = list(reversed(KEYS))
    chosen = select_shard(reversed_keys, "2/3", key=str)
    assert chosen == [k for k in reversed_keys if k in set(chosen)]
    assert chosen == list(reversed(select_shard(KEYS, "2/3", key=str)))


def test_adding_items_moves_no_other_item() -> None:
    before = {k: shard_of(k, 5) for k in KEYS[:1000]}
    grown = ["new-env/aws/eu-west-1", *KEYS[:1000], "zz/gcp/europe-west1"]
    after = partition(grown, 5, key=str)
    assert {k: i for i, g in enumerate(after, start=1) for k in g if k in before} == before


def test_one_more_shard_only_moves_items_into_the_new_shard() -> None:
    # jump consistent hash: from N to N+1 buckets a key either stays or moves to bucket N+1,
    # and about 1/(N+1) of them move (a modulo split would move most of them elsewhere)
    for count in (1, 3, 8, 40):
        moved = 0
        for key in KEYS:
            old, new = shard_of(key, count), shard_of(key, count + 1)
            assert new in (old, count + 1), (key, old, new)
            moved += new != old
        expected = len(KEYS) / (count + 1)
        assert abs(moved - expected) < 0.25 * expected, (count, moved, expected)


def test_shards_are_balanced() -> None:
    sizes = Counter(shard_of(k, 8) for k in KEYS)
    mean = len(KEYS) / 8
    assert set(sizes) == set(range(1, 9))
    assert max(abs(n - mean) for n in sizes.values()) < 0.15 * mean


def test_the_split_does_not_depend_on_the_process_or_its_hash_seed() -> None:
    probe = ("from keyplane.estate.shard import shard_of\n"
             "print([shard_of(f'env{i}/aws/us-east-1', 7) for i in range(50)])")
    outputs = {subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              cwd=REPO, env={"PYTHONHASHSEED": seed, "PATH": ""},
                              check=True).stdout for seed in ("0", "1", "12345")}
    assert outputs == {str([shard_of(f"env{i}/aws/us-east-1", 7) for i in range(50)]) + "\n"}


def test_the_assignment_is_a_compatibility_contract() -> None:
    # CI layouts pin `--shards N` and jobs name shards i/N: changing the hash would move every
    # target of every estate to another shard, so these values may change only on purpose.
    assert [shard_of("prod/aws/us-east-1", n) for n in (1, 2, 3, 7, 256)] == [1, 1, 1, 1, 160]
    assert [shard_of("staging/gcp/us-east1", n) for n in (1, 2, 3, 7, 256)] == [1, 2, 2, 5, 230]
