"""Stack names: an environment's stacks and its drill account's stack map back to it."""

from __future__ import annotations

import pytest

from keyplane.model.specs import Cloud
from keyplane.model.stacks import drill_stack_name, split_stack_name, stack_name


@pytest.mark.parametrize(("name", "expected"), [
    (stack_name("prod", Cloud.AWS), ("prod", Cloud.AWS)),
    (stack_name("prod-eu", Cloud.GCP), ("prod-eu", Cloud.GCP)),
    (drill_stack_name("prod"), ("prod", Cloud.AWS)),
    ("-aws-drill", ("-aws-drill", None)),
    ("audit-drill", ("audit-drill", None)),
])
def test_split_stack_name(name: str, expected: tuple[str, Cloud | None]) -> None:
    assert split_stack_name(name) == expected
