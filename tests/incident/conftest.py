"""Incident tests call the real CLI; the command is registered here until keyplane/cli.py
names it (then this is a no-op)."""

from __future__ import annotations

import pytest

from keyplane.cli import COMMANDS


@pytest.fixture(autouse=True)
def _incident_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "incident", "keyplane.commands.incident:incident")
