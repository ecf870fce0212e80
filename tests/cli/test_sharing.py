"""Sharing, links, revoking and the history they leave, from the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.conftest import PUBLIC_URL, Cli, Office
from workflows.errors import Gone, NotAllowed

URL = re.compile(re.escape(PUBLIC_URL) + r"/d/([A-Za-z0-9_-]+)")


@pytest.fixture
def uploaded(cli: Cli, office: Office, pdf_file: Path) -> str:
    cli.ok("upload", str(pdf_file), "--category", "fee table", "--client", str(office.client_id))
    return "D-1"


def _token(text: str) -> str:
    match = URL.search(text)
    assert match, text
    return match.group(1)


def test_a_link_prints_a_url_that_opens_until_it_is_revoked(cli: Cli, uploaded: str) -> None:
    result = cli.ok("link", uploaded, "--max-downloads", "2", "--expires", "2099-01-01")

    url = result.stdout.strip().splitlines()[-1]
    assert URL.fullmatch(url), result.stdout
    assert "downloads 2" in result.stdout and "expires 2099-01-01 23:59 UTC" in result.stdout
    found = cli.resolve(_token(url))
    assert (found.document.ref, found.share.max_downloads) == ("D-1", 2)

    share_id = found.share.id
    assert f"Revoked share {share_id} (link)." in cli.ok("revoke", str(share_id)).stdout
    with pytest.raises(Gone):
        cli.resolve(_token(url))
    assert cli.fails("revoke", str(share_id)) == f"error: share {share_id} was already revoked"
    shares = cli.json("documents", "show", uploaded)["shares"]
    assert [(s["id"], s["state"]) for s in shares] == [(share_id, "revoked")]


def test_sharing_with_a_recipient_a_group_and_a_space(
    cli: Cli, office: Office, uploaded: str
) -> None:
    rid = str(office.recipient_id)
    personal = cli.json("share", uploaded, "--recipient", rid, "--message", "Our fees")
    [first] = personal["shares"]
    assert first["created"] and first["kind"] == "recipient"
    found = cli.resolve(_token(first["url"]))
    assert found.recipient is not None and found.recipient.id == office.recipient_id

    again = cli.ok("share", uploaded, "--recipient", rid)
    assert f"Already shared with recipient {rid} (share {first['share_id']})" in again.stdout

    other = cli.json("recipient", "add", "Olle Other", "--client", str(office.client_id))
    group = cli.json("group", "create", "Board")
    cli.ok("group", "add", str(group["id"]), rid, str(other["id"]))
    cli.ok("recipient", "block", str(other["id"]))
    grouped = cli.json("share", uploaded, "--group", str(group["id"]))
    assert [s["created"] for s in grouped["shares"]] == [False]
    assert grouped["skipped"] == ["recipient Olle Other is blocked"]

    space = cli.json("space", "create", "Board room", "--client", str(office.client_id))
    cli.ok("space", "add-member", str(space["id"]), rid)
    spaced = cli.ok("share", uploaded, "--space", str(space["id"]), "--expires", "2099-01-01")
    assert f"Shared with space {space['id']}" in spaced.stdout
    kinds = [s["kind"] for s in cli.json("documents", "show", uploaded)["shares"]]
    assert kinds == ["recipient", "space"]


def test_refused_shares_are_one_line_and_change_nothing(
    cli: Cli, office: Office, uploaded: str
) -> None:
    rid = str(office.recipient_id)
    cli.ok("recipient", "block", rid)

    assert cli.fails("share", uploaded, "--recipient", rid) == (
        "error: cannot share: recipient Rita Recipient is blocked"
    )
    assert cli.fails("share", "D-42", "--recipient", rid) == "error: document D-42 not found"
    assert cli.fails("share", uploaded) == (
        "error: name exactly one of --recipient, --group or --space"
    )
    assert cli.fails("share", uploaded, "--recipient", rid, "--space", "1") == (
        "error: name exactly one of --recipient, --group or --space"
    )
    assert cli.fails("share", uploaded, "--space", "9") == "error: space 9 not found"
    assert cli.fails("link", uploaded, "--expires", "2001-01-01") == (
        "error: the expiry must be in the future"
    )
    assert cli.fails("link", uploaded, "--expires", "tomorrow").startswith(
        "error: Invalid value for '--expires': 'tomorrow' is not an ISO 8601 date"
    )
    assert cli.fails("link", uploaded, "--max-downloads", "0") == (
        "error: the download limit must be at least 1"
    )
    assert cli.fails("revoke", "77") == "error: share 77 not found"
    assert cli.count("share") == 0


def test_a_blocked_recipients_personal_link_stops_opening(
    cli: Cli, office: Office, uploaded: str
) -> None:
    [share] = cli.json("share", uploaded, "--recipient", str(office.recipient_id))["shares"]
    cli.ok("recipient", "block", str(office.recipient_id))

    with pytest.raises(NotAllowed):
        cli.resolve(_token(share["url"]))


def test_history_shows_what_happened_to_a_document(cli: Cli, office: Office, uploaded: str) -> None:
    cli.ok("share", uploaded, "--recipient", str(office.recipient_id))
    link = cli.json("link", uploaded)
    cli.ok("revoke", str(link["share_id"]))

    events = cli.json("history", uploaded)
    assert [e["action"] for e in events] == [
        "document.added",
        "document.shared",
        "link.created",
        "share.revoked",
    ]
    assert events[1]["details"]["recipient"] == "Rita Recipient"
    assert all(e["actor_type"] == "system" for e in events)
    assert all(e["actor_label"].startswith("operator ") for e in events)
    table = cli.ok("history", "d1").stdout
    assert "History of D-1" in table
    for column in ("When", "Actor", "Action", "Details"):
        assert column in table
    for action in ("document.added", "document.shared", "link.created", "share.revoked"):
        assert action in table
    assert "Shared with Rita Recipient (rita@nordic.test), with no end date (share 1)" in table


def test_links_follow_the_served_port_unless_a_public_url_is_set(cli: Cli, uploaded: str) -> None:
    result = cli.ok("link", uploaded, env={"INKPOST_PUBLIC_URL": None, "INKPOST_PORT": "9123"})

    assert result.stdout.strip().splitlines()[-1].startswith("http://127.0.0.1:9123/d/")


def test_a_document_goes_to_another_clients_people_only_on_purpose(
    cli: Cli, office: Office, uploaded: str
) -> None:
    nordic = cli.json("client", "add", "Nordic Family Trust")
    theirs = cli.json("recipient", "add", "Nils Nordic", "--client", str(nordic["id"]))
    lobby = cli.json("space", "create", "Lobby")
    mixed = cli.json("group", "create", "Everyone")
    cli.ok("group", "add", str(mixed["id"]), str(office.recipient_id), str(theirs["id"]))

    refused = cli.fails("share", uploaded, "--recipient", str(theirs["id"]))
    no_client = cli.fails("share", uploaded, "--space", str(lobby["id"]))
    mixing = cli.fails("share", uploaded, "--group", str(mixed["id"]), "--across-clients")

    assert refused == (
        f"error: {uploaded} belongs to Nordic Timber, and Nils Nordic is a recipient of Nordic "
        "Family Trust; add --across-clients to share it anyway"
    )
    assert no_client.endswith(
        "space Lobby belongs to no client; add --across-clients to share it anyway"
    )
    assert cli.json("history", uploaded)[-1]["action"] != "document.shared"
    assert mixing.startswith("error: group Everyone mixes people of several clients (")
    shared = cli.json("share", uploaded, "--recipient", str(theirs["id"]), "--across-clients")
    [made] = shared["shares"]
    [event] = [e for e in cli.json("history", uploaded) if e["action"] == "document.shared"]
    assert event["details"]["across_clients"] == "Nordic Family Trust" and made["created"]
    history = cli.ok("history", uploaded).stdout
    assert "outside the document's client on purpose (Nordic Family Trust)" in history
