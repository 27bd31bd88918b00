"""`keyplane rotation ENV`: deployed rotation settings against the declaration and the tier."""

from __future__ import annotations

from typing import Any

import click

from keyplane.commands.post_apply import common_options, execute


@click.command("rotation")
@common_options
def rotation(**kwargs: Any) -> None:
    """Check the deployed rotation settings of ENV against the declaration and the tier.

    Read-only. Exit 0 clean, 1 findings, 2 bad input or setup error, 3 incomplete.
    """
    execute(command="rotation", sections=["rotation"], **kwargs)
