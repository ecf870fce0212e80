"""`inkpost staff limit`: an administrator walls a member off to named clients; acting as
that member (`--as`), the CLI lists, finds and touches nothing of any other client."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli, Office


@pytest.fixture
def walled(cli: Cli, office: Office, pdf_file: Path) -> dict[str, str]:
    """Wanda, limited to Nordic Timber; Acme Holdings has a document (D-2) and a person."""
    cli.ok("client", "add", "Acme Holdings")
    cli.ok("recipient", "add", "Anders Acme", "--client", "Acme Holdings")
    cli.ok("staff", "add", "Wanda Wall", "--email", "wanda@acme.test")
    cli.ok("upload", str(pdf_file), "--client", "Nordic Timber", "--title", "Timber fees")
    cli.ok("upload", str(pdf_file), "--client", "Acme Holdings", "--title", "Acme fees")
    said = cli.ok("staff", "limit", "Wanda Wall", "--client", "Nordic Timber").stdout
    assert said.strip() == "Staff member 1 Wanda Wall now sees only Nordic Timber."
    return {"INKPOST_STAFF": "wanda@acme.test"}


def test_the_staff_list_shows_who_is_walled_to_which_clients(
    cli: Cli, walled: dict[str, str]
) -> None:
    [wanda] = cli.json("staff", "list")

    assert wanda["clients"] == ["Nordic Timber"]
    table = cli.ok("staff", "list").stdout
    assert "Nordic Timber" in table
    [event] = cli.query("SELECT details FROM auditevent WHERE action = 'staff.limited'")
    assert "Wanda Wall" in str(event[0])


def test_acting_as_a_walled_member_lists_only_their_clients(
    cli: Cli, walled: dict[str, str]
) -> None:
    clients = cli.ok("client", "list", "--json", env=walled).stdout
    documents = cli.ok("documents", "list", "--json", env=walled).stdout
    people = cli.ok("recipient", "list", "--json", env=walled).stdout

    assert "Nordic Timber" in clients and "Acme" not in clients
    assert "Timber fees" in documents and "Acme fees" not in documents
    assert "Rita Recipient" in people and "Anders" not in people
    assert "Acme fees" in cli.ok("documents", "list").stdout  # the operator sees everything


def test_another_clients_things_are_refused_as_not_found(
    cli: Cli, walled: dict[str, str], office: Office, pdf_file: Path
) -> None:
    shares = cli.count("share")

    assert cli.fails("documents", "show", "D-2", env=walled) == "error: document D-2 not found"
    assert cli.fails("history", "D-2", env=walled) == "error: document D-2 not found"
    assert cli.fails("share", "D-1", "--recipient", "Anders Acme", env=walled) == (
        "error: no recipient is called 'Anders Acme' (recipients: 1 Rita Recipient "
        "<rita@nordic.test>)"
    )
    assert cli.fails("upload", str(pdf_file), "--client", "Acme Holdings", env=walled) == (
        "error: no client is called 'Acme Holdings' (clients: 1 Nordic Timber)"
    )
    assert cli.count("share") == shares and cli.count("document") == 2


def test_what_spans_every_client_is_refused_to_a_walled_member(
    cli: Cli, walled: dict[str, str]
) -> None:
    assert cli.fails("client", "add", "New Co", env=walled) == (
        "error: only staff who see every client may add clients"
    )
    assert cli.fails("outbox", "list", env=walled) == (
        "error: only staff who see every client may see the delivery queue"
    )
    assert cli.fails("staff", "limit", "Wanda Wall", "--all-clients", env=walled) == (
        "error: only administrators may change which clients staff see"
    )


def test_limits_are_checked_and_lifted(cli: Cli, walled: dict[str, str]) -> None:
    assert cli.fails("staff", "limit", "Wanda Wall") == (
        "error: Invalid value: give --client (one or more) or --all-clients"
    )
    assert cli.fails("staff", "limit", "Wanda Wall", "--client", "Nobody Inc").startswith(
        "error: no client is called 'Nobody Inc'"
    )
    cli.ok("staff", "add", "Bo Boss", "--role", "admin")
    assert cli.fails("staff", "limit", "Bo Boss", "--client", "Nordic Timber") == (
        "error: Bo Boss is an administrator and sees every client"
    )

    said = cli.ok("staff", "limit", "Wanda Wall", "--all-clients").stdout
    assert said.strip() == "Staff member 1 Wanda Wall now sees every client."
    assert "Acme fees" in cli.ok("documents", "list", env=walled).stdout


def test_a_notice_channel_is_named_when_a_member_is_walled(cli: Cli, office: Office) -> None:
    cli.ok("org", "edit", "--slack-channel", "C0NOTICES")
    cli.ok("staff", "add", "Wanda Wall")

    result = cli.ok("staff", "limit", "Wanda Wall", "--client", "Nordic Timber")

    assert result.stderr.strip() == (
        "warning: staff notices about every client go to the Slack channel C0NOTICES: "
        "keep Wanda Wall out of it"
    )
