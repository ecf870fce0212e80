"""Errors of the composition root, shared by the CLI and the server process."""

from __future__ import annotations


class UserError(Exception):
    """Something the person at the terminal got wrong that no workflow saw: a missing
    file, a bad date, options that do not go together, a setting that cannot work. Shown
    as one line, exit 2."""
