"""keyplane's command line: the composition root.

Commands live in `keyplane.commands.<name>` and are imported only when called,
so `keyplane validate` never pays for CDK Terrain, provider bindings or cloud SDKs.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from keyplane.errors import KeyplaneError
from keyplane.output import emit_error

# command name -> "module:attribute"; the module is imported on first use only.
COMMANDS: dict[str, str] = {
    "validate": "keyplane.commands.validate:validate",
    "rotation": "keyplane.commands.rotation:rotation",
    "drift": "keyplane.commands.drift:drift",
    "access-review": "keyplane.commands.access_review:access_review",
    "discover": "keyplane.commands.discover:discover",
    "adopt": "keyplane.commands.adopt:adopt",
    "post-apply": "keyplane.commands.post_apply:post_apply",
    "sandbox": "keyplane.commands.sandbox:sandbox",
    "check": "keyplane.commands.check:check",
    "synth": "keyplane.commands.synth:synth",
    "rotate": "keyplane.commands.rotate:rotate",
    "report": "keyplane.commands.report:report",
    "drill": "keyplane.commands.drill:drill",
    "keystore": "keyplane.commands.keystore:keystore",
    "csr": "keyplane.commands.csr:csr",
    "certs": "keyplane.commands.certs:certs",
    "incident": "keyplane.commands.incident:incident",
    "matrix": "keyplane.commands.matrix:matrix",
    "estate": "keyplane.commands.estate:estate",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported when they are invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keyplane")
def cli() -> None:
    """keyplane: declare every private key once, by tier; synthesize, gate, validate, drill."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point: exit 0 ok, 1 findings, 2 bad input, 3 incomplete; never a traceback."""
    try:
        code = cli.main(args=argv, prog_name="keyplane", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyplaneError as exc:
        emit_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: a one-line error, not a traceback
        if os.environ.get("KEYPLANE_DEBUG"):
            raise
        click.echo(f"keyplane: internal error: {type(exc).__name__}: {exc} "
                   "(set KEYPLANE_DEBUG=1 for a traceback)", err=True)
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
