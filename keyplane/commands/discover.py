"""`keyplane discover ENV`: unmanaged keys in the account or project, with draft entries."""

from __future__ import annotations

from typing import Any

import click

from keyplane.commands.post_apply import common_options, execute


@click.command("discover")
@common_options
def discover(**kwargs: Any) -> None:
    """List keys in ENV's account or project that keyplane does not manage, with draft entries.

    Read-only. Exit 0 clean, 1 findings, 2 bad input or setup error, 3 incomplete.
    """
    execute(command="discover", sections=["discover"], **kwargs)
