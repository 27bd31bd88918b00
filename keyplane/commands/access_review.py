"""`keyplane access-review ENV`: who can use and who can administer each key."""

from __future__ import annotations

from typing import Any

import click

from keyplane.commands.post_apply import common_options, execute


@click.command("access-review")
@common_options
def access_review(**kwargs: Any) -> None:
    """Review who can use and who can administer each key of ENV.

    Read-only. Exit 0 clean, 1 findings, 2 bad input or setup error, 3 incomplete.
    """
    execute(command="access-review", sections=["access-review"], **kwargs)
