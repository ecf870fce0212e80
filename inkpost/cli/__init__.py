"""The `inkpost` command: one module per command group, the root command in ``root``."""

from inkpost.cli.root import app, main

__all__ = ["app", "main"]
