"""Inkpost: the composition root — settings, the CLI and the process that runs everything."""

__version__ = "0.1.0"
