"""Setting up: `init`, `db upgrade`, settings, organisation selection, failure reporting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inkpost.cli import app
from storage import migrate
from tests.cli.conftest import Cli
from workflows.people import organizations


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir that does not exist yet; SQLite by default."""
    data_dir = tmp_path / "fresh-data"
    monkeypatch.setenv("INKPOST_DATA_DIR", str(data_dir))
    return data_dir


def test_init_creates_the_data_dir_and_reports_database_and_blob_store(fresh: Path) -> None:
    runner = CliRunner()

    first = runner.invoke(app, ["init"])

    assert first.exit_code == 0, first.stderr
    assert fresh.is_dir() and (fresh / "inkpost.db").is_file()
    assert f"sqlite+aiosqlite:///{fresh.resolve()}/inkpost.db" in first.stdout
    assert f"file store at {fresh.resolve()}/blobs" in first.stdout
    assert "Schema:         created" in first.stdout
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 0 and "already up to date" in again.stdout


def test_db_upgrade_says_whether_anything_was_applied(fresh: Path) -> None:
    runner = CliRunner()

    first = runner.invoke(app, ["db", "upgrade", "--json"])
    second = runner.invoke(app, ["db", "upgrade"])

    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout) == {
        "applied": True,
        "from": None,
        "to": migrate.head_revision(),
    }
    assert second.exit_code == 0 and "nothing applied" in second.stdout


def test_commands_before_init_say_what_to_run_and_create_nothing(fresh: Path) -> None:
    for command in (["org", "list"], ["documents", "list"], ["staff", "add", "Stella"]):
        result = CliRunner().invoke(app, command)

        assert result.exit_code == 2
        assert result.stderr.startswith("error: there is no Inkpost database at ")
        assert "run `inkpost init` first" in result.stderr
        assert result.stdout == ""
    assert not fresh.exists()


@pytest.mark.parametrize(
    "command", [["org", "list"], ["db", "upgrade"], ["api-key", "list"]], ids=" ".join
)
def test_a_database_out_of_reach_is_one_line_naming_it_without_its_password(
    command: list[str], fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INKPOST_DATABASE_URL", "postgresql+asyncpg://ink:s3cret@127.0.0.1:1/ink")

    result = CliRunner().invoke(app, command)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: postgresql at 127.0.0.1:1/ink: cannot connect ([Errno 111] Connect call "
        "failed ('127.0.0.1', 1)) — check INKPOST_DATABASE_URL and that the server is running\n"
    )


def test_commands_refuse_a_database_that_was_never_migrated(fresh: Path) -> None:
    fresh.mkdir()
    (fresh / "inkpost.db").touch()
    result = CliRunner().invoke(app, ["org", "list"])

    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "is not up to date: run `inkpost init` (or `inkpost db upgrade`)"
    )


def test_an_invalid_setting_is_one_line(cli: Cli) -> None:
    line = cli.fails("org", "list", env={"INKPOST_PORT": "eighty"})
    assert line.startswith("error: setting INKPOST_PORT is invalid")


def test_org_is_implicit_with_one_and_must_be_named_with_several(cli: Cli) -> None:
    line = cli.fails("staff", "list")
    assert line == "error: there is no organisation yet: run `inkpost org create`"
    cli.ok("org", "create", "acme", "Acme Law")
    cli.ok("staff", "add", "Stella Staff")
    assert [s["name"] for s in cli.json("staff", "list")] == ["Stella Staff"]

    cli.ok("org", "create", "beta", "Beta Bank")
    line = cli.fails("staff", "list")
    assert line == (
        "error: there are several organisations: name one with --org or INKPOST_ORG: "
        "acme (Acme Law), beta (Beta Bank)"
    )
    assert cli.json("--org", "beta", "staff", "list") == []
    result = cli.ok("staff", "list", "--json", env={"INKPOST_ORG": "acme"})
    assert [s["name"] for s in json.loads(result.stdout)] == ["Stella Staff"]
    assert cli.fails("--org", "nope", "staff", "list") == "error: organisation 'nope' not found"


def test_usage_errors_are_one_line_and_exit_2(cli: Cli) -> None:
    cli.ok("org", "create", "acme", "Acme Law")
    assert cli.fails("staff", "block", "seven") == (
        "error: no staff member is called 'seven' (staff members: none yet)"
    )
    assert cli.fails("org", "frobnicate").startswith("error: No such command 'frobnicate'")
    assert cli.fails("org", "create", "acme") == "error: Missing argument 'name'."


def test_unexpected_failure_is_one_line_and_the_traceback_only_with_debug(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(organizations, "list_organizations", broken)

    line = cli.fails("org", "list", code=1)
    assert line == "error: unexpected failure: RuntimeError: the disk is on fire"

    debug = cli("--debug", "org", "list")
    assert debug.exit_code == 1
    assert "Traceback (most recent call last)" in debug.stderr
    env_debug = cli("org", "list", env={"INKPOST_DEBUG": "1"})
    assert env_debug.exit_code == 1 and "Traceback" in env_debug.stderr
