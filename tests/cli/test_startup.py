"""What `inkpost` imports before it answers: `--help` none of the command modules or heavy
libraries, a command only what it uses; and the root's list of commands agrees with the
commands themselves."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inkpost.cli.root import COMMANDS, load_command
from inkpost.sample_pdf import make_pdf
from tests.cli.conftest import Cli, Office

# Each of these costs a staff command a noticeable share of its start-up.
HEAVY = (
    "pyhanko",
    "fontTools",
    "pypdfium2",
    "PIL",
    "aiohttp",
    "telegram",
    "slack_sdk",
    "slack_bolt",
    "jinja2",
    "alembic",
    "minio",
)
# What `documents list` has no use for: the upload's progress bars, the sharing commands,
# the message catalogues (Babel) and, on SQLite, the PostgreSQL driver.
NOT_FOR_LISTING = (
    "rich.progress",
    "inkpost.cli.sharing",
    "workflows.sharing.sharing",
    "texts",
    "babel",
)
ROOT = Path(__file__).resolve().parents[2]


def loaded_after(args: list[str], env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Run `inkpost ARGS` in a fresh interpreter; its exit code and every module it loaded."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from inkpost.cli import app
        code = app({args!r}, prog_name="inkpost", standalone_mode=False)
        sys.__stderr__.write("\\n" + json.dumps([code, sorted(sys.modules)]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
        timeout=120,
    )
    code, modules = json.loads(result.stderr.strip().splitlines()[-1])
    return code, modules


def heavy_in(modules: list[str]) -> list[str]:
    return [name for name in modules if name.split(".")[0] in HEAVY]


def test_help_imports_no_command_module_and_no_heavy_library() -> None:
    code, modules = loaded_after(["--help"])

    assert code == 0
    assert heavy_in(modules) == []
    commands = {lazy.module for lazy in COMMANDS.values()}
    assert sorted(commands & set(modules)) == []
    for library in ("sqlalchemy", "pydantic", "storage", "workflows", "bot", "web_sign"):
        assert library not in modules, library


def test_a_bare_inkpost_shows_the_same_help_without_importing_commands() -> None:
    code, modules = loaded_after([])

    assert code == 2
    assert not {lazy.module for lazy in COMMANDS.values()} & set(modules)
    assert heavy_in(modules) == []


def test_documents_list_imports_no_signing_messaging_or_migration_library(
    cli: Cli, office: Office, tmp_path: Path
) -> None:
    pdf = tmp_path / "fees.pdf"
    pdf.write_bytes(make_pdf("Fee table", pages=1))
    cli.ok("upload", str(pdf), "--client", "Nordic Timber")
    env = {
        "INKPOST_DATA_DIR": str(cli.data_dir),
        "INKPOST_DATABASE_URL": cli.database_url,
    }

    code, modules = loaded_after(["documents", "list", "--json"], env=env)

    assert code == 0, modules
    assert heavy_in(modules) == []
    assert "inkpost.cli.documents" in modules
    assert "inkpost.cli.audit" not in modules
    assert sorted(set(NOT_FOR_LISTING) & set(modules)) == []
    if cli.database_url.startswith("sqlite"):
        assert "asyncpg" not in modules


def collector_after(calls: str) -> dict[str, list[object]]:
    """Run ``calls`` (lines calling ``app`` and ``seen(name)``) in a fresh interpreter; for
    each name, whether the cyclic collector was on and how many objects were frozen."""
    script = "import gc, json, sys\nfrom inkpost.cli import app\nstates = {}\n"
    script += "def seen(name):\n    states[name] = [gc.isenabled(), gc.get_freeze_count()]\n"
    script += textwrap.dedent(calls)
    script += 'sys.__stderr__.write("\\n" + json.dumps(states))\n'
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    states: dict[str, list[object]] = json.loads(result.stderr.strip().splitlines()[-1])
    return states


def test_only_a_command_the_process_ends_with_keeps_its_imports_from_the_collector() -> None:
    states = collector_after(
        """
        seen("before")
        app(["org", "--help"], prog_name="inkpost", standalone_mode=False)
        seen("after a command")
        app(["staff", "--help"], prog_name="inkpost", standalone_mode=False, process_ends=True)
        seen("after the command the process ends with")
        """
    )

    assert states["before"] == [True, 0]
    assert states["after a command"] == [True, 0]
    on, frozen = states["after the command the process ends with"]
    assert on is True
    assert isinstance(frozen, int) and frozen > 10_000


def test_a_group_is_imported_only_for_its_own_commands() -> None:
    code, modules = loaded_after(["org", "--help"])

    assert code == 0
    assert "inkpost.cli.organizations" in modules
    others = {lazy.module for lazy in COMMANDS.values()} - {"inkpost.cli.organizations"}
    assert sorted(others & set(modules)) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_root_help_summarises_each_command_by_its_own_first_paragraph(name: str) -> None:
    command = load_command(name, COMMANDS[name])

    assert command.name == name
    first = inspect.cleandoc(command.help or "").split("\n\n")[0]
    assert COMMANDS[name].summary == " ".join(first.split())


def test_the_root_help_lists_every_command_in_the_table_order(cli: Cli) -> None:
    shown = cli.ok("--help").stdout
    positions = [shown.index(f"│ {name} ") for name in COMMANDS]

    assert positions == sorted(positions)
    for lazy in COMMANDS.values():
        assert lazy.summary[:60] in shown
