"""Staff name people, clients, groups and spaces as they know them; dates mean whole days in
the organisation's time zone; the history names the staff member who acted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, Office


def test_share_takes_a_recipient_group_or_space_by_name(
    cli: Cli, office: Office, pdf_file: Path
) -> None:
    cli.ok("upload", str(pdf_file), "--client", "Nordic Timber")
    cli.ok("group", "create", "Board")
    cli.ok("group", "add", "board", "Rita Recipient")
    cli.ok("space", "create", "Annual accounts", "--client", "nordic timber")
    cli.ok("space", "add-member", "Annual accounts", "rita@nordic.test")

    by_name = cli.json("share", "D-1", "--recipient", "rita recipient")
    by_group = cli.json("share", "D-1", "--group", "Board")
    by_space = cli.json("share", "D-1", "--space", "annual accounts")

    assert by_name["shares"][0]["recipient_id"] == office.recipient_id
    assert by_group["shares"][0]["created"] is False  # the same person, already holding it
    assert by_space["shares"][0]["kind"] == "space"


def test_an_ambiguous_name_lists_the_candidates_and_changes_nothing(
    cli: Cli, office: Office, pdf_file: Path
) -> None:
    cli.ok("recipient", "add", "Rita Recipient", "--client", "1", "--email", "r2@nordic.test")
    cli.ok("upload", str(pdf_file), "--client", "1")

    line = cli.fails("share", "D-1", "--recipient", "Rita Recipient")

    assert line == (
        "error: 'Rita Recipient' names 2 recipients: 1 Rita Recipient <rita@nordic.test>, "
        "2 Rita Recipient <r2@nordic.test>; give the id"
    )
    assert cli.count("share") == 0
    assert (
        cli.json("share", "D-1", "--recipient", "r2@nordic.test")["shares"][0]["recipient_id"] == 2
    )


def test_an_unknown_name_says_who_there_is(cli: Cli, office: Office, pdf_file: Path) -> None:
    cli.ok("upload", str(pdf_file), "--client", "1")

    assert cli.fails("share", "D-1", "--recipient", "Jane Client") == (
        "error: no recipient is called 'Jane Client' (recipients: 1 Rita Recipient "
        "<rita@nordic.test>)"
    )
    assert cli.fails("share", "D-1", "--space", "Panel") == (
        "error: no space is called 'Panel' (spaces: none yet)"
    )
    assert cli.fails("recipient", "block", "Jane") == (
        "error: no recipient is called 'Jane' (recipients: 1 Rita Recipient <rita@nordic.test>)"
    )


def test_another_organisations_client_is_not_found_by_id_or_by_name(
    cli: Cli, office: Office
) -> None:
    cli.ok("org", "create", "beta", "Beta Bank")
    other = cli.json("--org", "beta", "client", "add", "Beta Client")

    assert cli.fails("--org", "acme", "documents", "list", "--client", str(other["id"])) == (
        f"error: client {other['id']} not found"
    )
    assert cli.fails("--org", "acme", "documents", "list", "--client", "Beta Client").startswith(
        "error: no client is called 'Beta Client'"
    )


def test_a_date_means_the_end_of_that_day_in_the_organisations_time_zone(cli: Cli) -> None:
    cli.ok("org", "create", "waw", "Kancelaria", "--timezone", "Europe/Warsaw")
    cli.ok("client", "add", "Klient")
    recipient = cli.json(
        "recipient", "add", "Jan", "--client", "Klient", "--access-expires", "2027-06-30"
    )
    late = cli.json(
        "recipient", "add", "Ewa", "--client", "1", "--access-expires", "2027-06-30T17:00"
    )
    zoned = cli.json(
        "recipient", "add", "Ola", "--client", "1", "--access-expires", "2027-06-30T17:00Z"
    )

    assert recipient["access_expires_at"] == "2027-06-30T21:59:59+00:00"  # 23:59:59 CEST
    assert late["access_expires_at"] == "2027-06-30T15:00:00+00:00"
    assert zoned["access_expires_at"] == "2027-06-30T17:00:00+00:00"
    assert "the end of that day" in cli.ok("link", "--help").stdout


def test_the_history_names_the_staff_member_given_with_as(
    cli: Cli, office: Office, pdf_file: Path
) -> None:
    cli.ok("staff", "add", "Stella Staff", "--email", "stella@acme.test")
    cli.ok("--as", "stella@acme.test", "upload", str(pdf_file), "--client", "1")
    cli.ok("share", "D-1", "--recipient", "1", env={"INKPOST_STAFF": "Stella Staff"})

    events = cli.json("history", "D-1")

    assert [(e["actor_type"], e["actor_label"]) for e in events] == [
        ("staff", "Stella Staff"),
        ("staff", "Stella Staff"),
    ]


def test_unknown_and_blocked_staff_cannot_act(cli: Cli, office: Office, pdf_file: Path) -> None:
    cli.ok("staff", "add", "Stella Staff")
    cli.ok("staff", "block", "Stella Staff")

    assert cli.fails("--as", "Nobody", "upload", str(pdf_file), "--client", "1") == (
        "error: --as Nobody: no staff member is called 'Nobody' (staff members: 1 Stella Staff)"
    )
    assert cli.fails("--as", "1", "upload", str(pdf_file), "--client", "1") == (
        "error: staff member Stella Staff is blocked and cannot act"
    )
    assert cli.count("document") == 0


def test_lists_and_records_name_the_client(cli: Cli, office: Office, pdf_file: Path) -> None:
    [listed] = cli.json("recipient", "list")
    table = cli.ok("recipient", "list").stdout
    cli.ok("upload", str(pdf_file), "--client", "1")
    shown = cli.ok("documents", "show", "D-1").stdout

    assert listed["client"] == "Nordic Timber"
    assert "Nordic Timber" in table
    assert "No shares." in shown
    assert not any(line.strip() == "shares" for line in shown.splitlines())


@pytest.mark.parametrize("command", [["--help"], ["documents", "--help"]])
def test_library_warnings_never_reach_a_staff_members_terminal(
    command: list[str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inkpost", *command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert not (tmp_path / "inkpost-data").exists()


def _command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


def test_every_help_reads_as_prose_without_type_placeholders(cli: Cli) -> None:
    import typer.main

    from inkpost.cli import app

    paths = _command_paths(typer.main.get_command(app))
    assert len(paths) > 40
    for path in paths:
        shown = cli.ok(*path, "--help", env={"COLUMNS": "200"}).stdout
        for placeholder in ("<bool>", "<str>", "<int>", "<list"):
            assert placeholder not in shown, (path, placeholder)
    top = cli.ok("--help", env={"COLUMNS": "200"}).stdout
    assert "check the blob store and create the self-signed seal" in top
