"""The console script's entry point: what a staff member's terminal shows before the CLI runs.

Libraries warn about their own internals (cryptography deprecating DSA when pyHanko merely
imports it, for one). Such a warning says nothing to the person at the terminal, so it is
silenced before the CLI's modules are imported; Inkpost's own warnings still show. With
``--debug``, ``INKPOST_DEBUG=1`` or any ``-W``/``PYTHONWARNINGS`` of the user's, nothing is
silenced.
"""

from __future__ import annotations

import os
import sys
import warnings

OWN_MODULES = r"(inkpost|bot|workflows|storage|web_sign|web_api|texts)(\.|$)"


def quiet_library_warnings(argv: list[str]) -> None:
    """Hide warnings attributed to third-party modules unless the user asked for them."""
    debug = os.environ.get("INKPOST_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    if sys.warnoptions or debug or "--debug" in argv:
        return
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=OWN_MODULES)


def no_pydantic_plugins() -> None:
    """Tell pydantic that Inkpost uses none of its plugins, unless the environment names
    some: looking for them reads the metadata of every installed package, about 14 ms of
    every command's start-up."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def main() -> None:
    """The ``inkpost`` console script and ``python -m inkpost``."""
    quiet_library_warnings(sys.argv[1:])
    no_pydantic_plugins()
    from inkpost.cli import main as run_cli

    run_cli()
