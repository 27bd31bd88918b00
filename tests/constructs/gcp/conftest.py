"""Fixtures for the GCP construct tests (the environments live in `gcp_envs`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keyplane.constructs.node import ensure_node
from keyplane.model import Environment
from tests.constructs.gcp.gcp_envs import HAND_MADE, build

# jsii starts Node when cdktn is first imported: point it at the supported one first.
ensure_node()


@pytest.fixture(scope="session")
def env_builder() -> Callable[[dict[str, Any]], Environment]:
    """`build` as a fixture, for module-scoped fixtures."""
    return build


@pytest.fixture(scope="session")
def hand_made() -> dict[str, Callable[[], dict[str, Any]]]:
    """The hand-made environment documents, by name."""
    return HAND_MADE
