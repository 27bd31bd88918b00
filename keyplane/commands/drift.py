"""`keyplane drift ENV`: the deployed state against the synthesized stack, read-only."""

from __future__ import annotations

from typing import Any

import click

from keyplane.commands.post_apply import common_options, execute, known_drift_option


@click.command("drift")
@common_options
@known_drift_option
def drift(**kwargs: Any) -> None:
    """Compare the deployed state of ENV with the synthesized stack (or the inventory).

    Read-only. Exit 0 clean, 1 findings, 2 bad input or setup error, 3 incomplete.
    """
    execute(command="drift", sections=["drift"], **kwargs)
