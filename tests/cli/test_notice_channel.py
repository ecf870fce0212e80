"""The Slack channel that gets an organisation's staff notices, set from the command line."""

from __future__ import annotations

from tests.cli.conftest import Cli


def test_an_organisation_is_created_with_a_notice_channel_and_edited(cli: Cli) -> None:
    created = cli.json("org", "create", "acme", "Acme Law", "--slack-channel", "C0NOTICES")
    assert created["slack_channel"] == "C0NOTICES"
    assert "C0NOTICES" in cli.ok("org", "list").stdout

    moved = cli.json("org", "edit", "--slack-channel", "C0ELSEWHERE")
    cleared = cli.json("org", "edit", "--slack-channel", "")

    assert moved["slack_channel"] == "C0ELSEWHERE"
    assert cleared["slack_channel"] is None
    assert [o["slack_channel"] for o in cli.json("org", "list")] == [None]


def test_a_bad_notice_channel_is_refused_and_creates_nothing(cli: Cli) -> None:
    line = cli.fails("org", "create", "acme", "Acme Law", "--slack-channel", "#general")

    assert line == (
        "error: '#general' is not a Slack channel id: use the id from the channel's "
        "details, like C0123ABCD"
    )
    assert cli.count("organization") == 0


def test_editing_needs_something_to_change_and_a_good_channel(cli: Cli) -> None:
    cli.ok("org", "create", "acme", "Acme Law", "--slack-channel", "C0NOTICES")

    assert cli.fails("org", "edit") == (
        "error: say what to change: --slack-channel C0123ABCD, --active-content allow, "
        "--contact-email office@example.com or --contact-phone '+46 8 123 456 78'"
    )
    assert cli.fails("org", "edit", "--slack-channel", "general").startswith(
        "error: 'general' is not a Slack channel id"
    )
    assert [o["slack_channel"] for o in cli.json("org", "list")] == ["C0NOTICES"]
