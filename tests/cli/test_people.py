"""Organisations, staff, clients, recipients, groups and spaces from the command line."""

from __future__ import annotations

from tests.cli.conftest import Cli, Office


def test_an_organisation_is_created_with_its_slack_team_and_listed(cli: Cli) -> None:
    created = cli.json("org", "create", "acme", "Acme Law", "--slack-team", "T0ACME")

    assert created["slug"] == "acme" and created["slack_team_id"] == "T0ACME"
    listed = cli.json("org", "list")
    assert [(o["slug"], o["name"], o["slack_team_id"]) for o in listed] == [
        ("acme", "Acme Law", "T0ACME")
    ]
    table = cli.ok("org", "list").stdout
    assert "Acme Law" in table and "T0ACME" in table
    line = cli.fails("org", "create", "other", "Other", "--slack-team", "T0ACME")
    assert line == "error: Slack team T0ACME already belongs to an organisation"
    assert cli.fails("org", "create", "Not A Slug!", "X").startswith(
        "error: 'not a slug!' is not a valid organisation slug"
    )
    assert cli.count("organization") == 1


def test_staff_are_added_listed_blocked_and_unblocked(cli: Cli) -> None:
    cli.ok("org", "create", "acme", "Acme Law")
    stella = cli.json(
        "staff",
        "add",
        "Stella Staff",
        "--email",
        "stella@acme.test",
        "--role",
        "admin",
        "--slack-user",
        "U0STELLA",
    )

    assert (stella["role"], stella["status"]) == ("admin", "active")
    cli.ok("staff", "block", str(stella["id"]))
    assert [s["status"] for s in cli.json("staff", "list")] == ["blocked"]
    assert cli.fails("staff", "block", str(stella["id"])) == (
        "error: staff member Stella Staff is already blocked"
    )
    cli.ok("staff", "unblock", str(stella["id"]))
    assert [s["status"] for s in cli.json("staff", "list")] == ["active"]
    assert cli.fails("staff", "block", "99") == "error: staff member 99 not found"
    assert cli.fails("staff", "add", "Bob", "--role", "owner") == (
        "error: role must be one of admin, member, not 'owner'"
    )


def test_clients_and_recipients(cli: Cli) -> None:
    cli.ok("org", "create", "acme", "Acme Law")
    cabinet = cli.json("client", "add", "Nordic Timber", "--shared-cabinet")
    plain = cli.json("client", "add", "Baltic Bricks")

    assert cabinet["shared_cabinet"] is True and plain["shared_cabinet"] is False
    assert [c["name"] for c in cli.json("client", "list")] == ["Nordic Timber", "Baltic Bricks"]
    assert cli.fails("client", "add", "nordic timber") == (
        "error: a client named 'nordic timber' already exists"
    )

    rita = cli.json(
        "recipient",
        "add",
        "Rita Recipient",
        "--client",
        "nordic timber",
        "--email",
        "rita@nordic.test",
        "--language",
        "sv",
        "--access-expires",
        "2099-01-31",
    )
    assert rita["client_id"] == cabinet["id"] and rita["language"] == "sv"
    assert rita["access_expires_at"] == "2099-01-31T23:59:59+00:00"
    cli.ok("recipient", "add", "Bo Bricks", "--client", str(plain["id"]))
    by_client = cli.json("recipient", "list", "--client", str(plain["id"]))
    assert [r["name"] for r in by_client] == ["Bo Bricks"]
    assert cli.fails("recipient", "add", "X", "--client", "Nobody Inc").startswith(
        "error: no client is called 'Nobody Inc'"
    )
    assert cli.fails("recipient", "add", "X", "--client", "1", "--email", "nope") == (
        "error: 'nope' is not an email address"
    )


def test_a_recipient_is_edited_field_by_field(cli: Cli, office: Office) -> None:
    rid = str(office.recipient_id)

    edited = cli.json(
        "recipient",
        "edit",
        rid,
        "--phone",
        "+46 70 123 45 67",
        "--access-expires",
        "2099-06-01T12:00+02:00",
        "--name",
        "Rita R.",
    )
    assert edited["phone"] == "+46 70 123 45 67" and edited["name"] == "Rita R."
    assert edited["email"] == "rita@nordic.test"
    assert edited["access_expires_at"] == "2099-06-01T10:00:00+00:00"

    cleared = cli.json("recipient", "edit", rid, "--access-expires", "never", "--email", "")
    assert cleared["access_expires_at"] is None and cleared["email"] is None
    assert cleared["phone"] == "+46 70 123 45 67"

    assert (
        cli.fails("recipient", "edit", rid) == "error: nothing to change: give at least one field"
    )
    assert cli.fails("recipient", "edit", rid, "--access-expires", "soon").startswith(
        "error: Invalid value for '--access-expires': 'soon' is not an ISO 8601 date"
    )
    assert cli.fails("recipient", "edit", rid, "--access-expires", "2001-01-01") == (
        "error: access expiry must be in the future"
    )
    assert cli.fails("recipient", "edit", rid, "--language", "xx") == (
        "error: language must be one of en, pl, ru, sv, not 'xx'"
    )


def test_a_recipient_is_blocked_and_unblocked(cli: Cli, office: Office) -> None:
    rid = str(office.recipient_id)

    assert "is now blocked" in cli.ok("recipient", "block", rid).stdout
    assert [r["status"] for r in cli.json("recipient", "list")] == ["blocked"]
    assert (
        cli.fails("recipient", "block", rid) == "error: recipient Rita Recipient is already blocked"
    )
    cli.ok("recipient", "unblock", rid)
    assert [r["status"] for r in cli.json("recipient", "list")] == ["invited"]


def test_groups_collect_recipients(cli: Cli, office: Office) -> None:
    group = cli.json("group", "create", "Board")
    other = cli.json("recipient", "add", "Olle Other", "--client", str(office.client_id))

    result = cli.ok("group", "add", str(group["id"]), str(office.recipient_id), str(other["id"]))
    assert "Added 2 recipient(s)" in result.stdout
    again = cli.ok("group", "add", str(group["id"]), str(office.recipient_id))
    assert "Added 0 recipient(s) to group 1 (1 already in it)" in again.stdout
    assert cli.json("group", "list") == [{"id": group["id"], "name": "Board", "members": 2}]
    assert cli.fails("group", "create", "board") == "error: a group named 'board' already exists"
    assert cli.fails("group", "add", "99", "1") == "error: group 99 not found"


def test_spaces_have_members_and_deleting_one_removes_lonely_members(
    cli: Cli, office: Office
) -> None:
    space = cli.json("space", "create", "Board room", "--client", "Nordic Timber")
    sid, rid = str(space["id"]), str(office.recipient_id)

    cli.ok("space", "add-member", sid, rid)
    assert cli.fails("space", "add-member", sid, rid) == (
        "error: Rita Recipient is already a member of Board room"
    )
    assert [s["members"] for s in cli.json("space", "list")] == [1]
    assert [r["id"] for r in cli.json("space", "members", sid)] == [office.recipient_id]
    cli.ok("space", "remove-member", sid, rid)
    assert cli.json("space", "members", sid) == []
    cli.ok("space", "add-member", sid, rid)

    refused = cli("space", "delete", sid, input="n\n")
    assert refused.exit_code == 1 and cli.json("space", "list") != []
    deleted = cli.json("space", "delete", sid, "--yes")
    assert deleted == {
        "space_id": space["id"],
        "revoked_shares": 0,
        "removed_recipients": ["Rita Recipient"],
    }
    assert cli.json("space", "list") == []
    assert cli.json("recipient", "list") == []
    assert [r["status"] for r in cli.json("recipient", "list", "--all")] == ["deleted"]
    assert cli.fails("space", "delete", sid, "--yes") == f"error: space {sid} not found"
