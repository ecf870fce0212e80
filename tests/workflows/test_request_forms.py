"""Parties as staff type them: `Name <email>`, `Name, +phone`, `Name, @telegram`, per line."""

from __future__ import annotations

import re

import pytest

from workflows.errors import InvalidInput
from workflows.signing.creation import NewParty
from workflows.signing.forms import parse_contact, parse_people


def test_a_name_may_carry_several_contacts() -> None:
    party = parse_contact(
        " Anna Berg <anna@firm.test>, +46 70 123 45 67, @anna_berg ", role="signer"
    )

    assert party == NewParty(
        role="signer",
        name="Anna Berg",
        email="anna@firm.test",
        phone="+46 70 123 45 67",
        telegram_username="anna_berg",
    )
    assert parse_contact("Bo, bo@firm.test", role="viewer").email == "bo@firm.test"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Anna Berg", "give Anna Berg's email, phone or Telegram username"),
        ("<anna@firm.test>", "start with the person's name"),
        ("Anna <>", "the angle brackets hold no email address"),
        ("Anna anna@firm.test>", "write the email in angle brackets"),
        ("Anna,, +4670", "a contact is missing between two commas"),
        ("Anna, firm", "'firm' is not an email address, a phone number"),
        ("Anna, a@x.test, b@x.test", "give one email address per person"),
        ("Anna, +46 (0) abc", "'+46 (0) abc' is not a phone number"),
        ("Anna, @ab", "'@ab' is not a Telegram username"),
        ("A" * 201 + ", +46701234567", "a party's name is longer than 200 characters"),
    ],
)
def test_what_cannot_be_read_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        parse_contact(text, role="signer")


def test_lines_take_a_role_prefix_and_problems_name_their_line() -> None:
    people = parse_people(
        "Carl <carl@client.test>\n\n  Approver: Dora, +46701234567\nviewer:Vic, @vic_view\n"
        "signer Eva\nowner: Fred <f@x.test>"
    )

    assert [(p.role, p.name) for p in people.parties] == [
        ("signer", "Carl"),
        ("approver", "Dora"),
        ("viewer", "Vic"),
    ]
    assert people.problems == [
        "line 5 “signer Eva”: give signer Eva's email, phone or Telegram username: "
        "“Name <email>”, “Name, +phone” or “Name, @telegram”",
        "line 6 “owner: Fred <f@x.test>”: 'owner:' is not a role; use signer:, approver: or "
        "viewer:",
    ]
