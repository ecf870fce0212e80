"""How clients reach the organisation, set from the command line: on creation, edited,
cleared, shown in the list; bad values are refused with one line and change nothing."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Cli


def test_an_organisation_is_created_with_contacts_and_they_are_listed(cli: Cli) -> None:
    created = cli.json(
        "org", "create", "acme", "Acme Law",
        "--contact-email", "office@acme.test", "--contact-phone", "+46 8 123 456 78",
    )  # fmt: skip

    assert (created["contact_email"], created["contact_phone"]) == (
        "office@acme.test",
        "+46 8 123 456 78",
    )
    table = cli.ok("org", "list").stdout
    assert "Contact email" in table and "office@acme.test" in table
    assert "+46 8 123 456 78" in table
    events = cli.query("SELECT details FROM auditevent WHERE action = 'organization.created'")
    assert "office@acme.test" in str(events[0][0])


def test_contacts_are_edited_one_at_a_time_and_cleared_with_an_empty_value(cli: Cli) -> None:
    cli.ok("org", "create", "acme", "Acme Law", "--contact-email", "office@acme.test")

    phoned = cli.json("org", "edit", "--contact-phone", "(08) 555 12 34")
    moved = cli.json("org", "edit", "--contact-email", "desk@acme.test")
    cleared = cli.json("org", "edit", "--contact-email", "")

    assert (phoned["contact_email"], phoned["contact_phone"]) == (
        "office@acme.test",
        "(08) 555 12 34",
    )
    assert moved["contact_email"] == "desk@acme.test"
    assert (cleared["contact_email"], cleared["contact_phone"]) == (None, "(08) 555 12 34")
    events = cli.query("SELECT count(*) FROM auditevent WHERE action = 'organization.contacts_set'")
    assert events[0][0] == 3
    assert "Updated organisation acme" in cli.ok("org", "edit", "--contact-phone", "").stdout


@pytest.mark.parametrize(
    ("option", "value", "line"),
    [
        (
            "--contact-email",
            "office at acme",
            "error: 'office at acme' is not an email address clients can write to: "
            "use one like office@example.com",
        ),
        (
            "--contact-phone",
            "call 555-1234",
            "error: 'call 555-1234' is not a phone number: use digits, spaces, +, -, ( and ), "
            "up to 32 characters, like +46 8 123 456 78",
        ),
    ],
)
def test_a_bad_contact_is_refused_and_changes_nothing(
    cli: Cli, option: str, value: str, line: str
) -> None:
    assert cli.fails("org", "create", "acme", "Acme Law", option, value) == line
    assert cli.count("organization") == 0

    cli.ok("org", "create", "acme", "Acme Law", "--slack-channel", "C0NOTICES")
    events = cli.count("auditevent")

    assert cli.fails("org", "edit", "--slack-channel", "C0ELSEWHERE", option, value) == line

    [org] = cli.json("org", "list")
    assert (org["slack_channel"], org["contact_email"], org["contact_phone"]) == (
        "C0NOTICES",
        None,
        None,
    )
    assert cli.count("auditevent") == events
