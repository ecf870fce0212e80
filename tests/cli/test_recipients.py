"""`inkpost recipient show` and `recipient delete`: a recipient who holds nothing goes, with
the history kept; anyone else is refused with what they hold and the way to block them."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli, Office


def test_show_tells_one_recipient_with_their_invitation(cli: Cli, office: Office) -> None:
    shown = cli.json("recipient", "show", "rita@nordic.test")

    assert shown["id"] == office.recipient_id and shown["client"] == "Nordic Timber"
    assert shown["invitation_last_sent"] is None
    assert "Recipient 1" in cli.ok("recipient", "show", "Rita Recipient").stdout
    assert cli.fails("recipient", "show", "99") == "error: recipient 99 not found"


def test_a_recipient_who_holds_nothing_is_deleted_and_the_history_stays(
    cli: Cli, office: Office
) -> None:
    bo = cli.json("recipient", "add", "Bo Bricks", "--client", "Nordic Timber")
    cli.ok("group", "create", "Board")
    cli.ok("group", "add", "Board", "Bo Bricks")
    events = cli.count("auditevent")

    said = cli.ok("recipient", "delete", "Bo Bricks").stdout

    assert said.strip() == f"Deleted recipient {bo['id']} Bo Bricks; their history stays."
    assert [r["name"] for r in cli.json("recipient", "list", "--all")] == ["Rita Recipient"]
    assert cli.count("groupmember") == 0
    assert cli.count("auditevent") == events + 1
    [(details,)] = cli.query("SELECT details FROM auditevent WHERE action = 'recipient.deleted'")
    assert "Bo Bricks" in str(details)
    cli.ok("audit", "verify")


def test_a_recipient_who_was_sent_a_document_is_refused_with_the_way_to_block(
    cli: Cli, office: Office, pdf_file: Path
) -> None:
    cli.ok("upload", str(pdf_file), "--category", "fee table", "--client", "Nordic Timber")
    cli.ok("share", "D-1", "--recipient", "Rita Recipient")

    line = cli.fails("recipient", "delete", "Rita Recipient")

    assert line == (
        "error: Rita Recipient cannot be deleted: they hold 1 share of a document, "
        "1 notification on its way; block them instead, so that they get and open nothing "
        "and their history stays (inkpost recipient block 'Rita Recipient')"
    )
    assert [r["name"] for r in cli.json("recipient", "list")] == ["Rita Recipient"]


def test_a_walled_member_cannot_delete_a_recipient_of_another_client(
    cli: Cli, office: Office
) -> None:
    cli.ok("client", "add", "Acme Holdings")
    anders = cli.json("recipient", "add", "Anders Acme", "--client", "Acme Holdings")
    cli.ok("staff", "add", "Wanda Wall", "--email", "wanda@acme.test")
    cli.ok("staff", "limit", "Wanda Wall", "--client", "Nordic Timber")
    wanda = {"INKPOST_STAFF": "wanda@acme.test"}

    line = cli.fails("recipient", "delete", str(anders["id"]), env=wanda)

    assert line == f"error: recipient {anders['id']} not found"
    assert "Anders Acme" in [r["name"] for r in cli.json("recipient", "list")]
