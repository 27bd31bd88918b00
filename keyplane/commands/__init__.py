"""keyplane's subcommands, one module each, imported lazily by `keyplane.cli`."""
