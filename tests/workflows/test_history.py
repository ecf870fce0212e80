"""History events in words: a sentence per action, readable words for anything else."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from storage.models import AuditEvent
from workflows.documents.history import DESCRIBERS, Directory, Person, describe

REPR = re.compile(r"[{}\[\]']|\bTrue\b|\bFalse\b|\bNone\b")


def _event(action: str, details: dict[str, Any], **fields: Any) -> AuditEvent:
    return AuditEvent(
        org_id=1,
        seq=1,
        at=datetime(2027, 1, 5, 9, 0, tzinfo=UTC),
        actor_type="system",
        action=action,
        details=details,
        prev_hash="0" * 64,
        hash="1" * 64,
        **fields,
    )


def test_an_unknown_action_reads_as_key_value_words() -> None:
    event = _event(
        "space.member_added",
        {
            "space_id": 3,
            "name": "Board",
            "recipient_ids": [1, 2],
            "notify": True,
            "muted": False,
            "parties": [{"name": "Jane Client", "role": "signer"}, {"name": "Bob"}],
            "sealed": {"D-4": "ab" * 32},
            "ends": "2027-12-31T23:59:59+00:00",
            "empty": [],
        },
    )

    assert describe(event) == (
        "Space member added; space id: 3; name: Board; recipient ids: 1, 2; notify: yes; "
        "muted: no; parties: Jane Client (signer), Bob; sealed: D-4 (abababababab…); "
        "ends: 31 Dec 2027"
    )


def test_details_a_sentence_does_not_tell_follow_it() -> None:
    event = _event(
        "link.created",
        {"expires_at": None, "max_downloads": 3, "notify_unused": False, "note": "for the audit"},
        share_id=7,
    )

    assert describe(event) == (
        "Link created, never expires, at most 3 downloads (share 7); note: for the audit"
    )


def test_moments_are_told_in_the_organisations_time_zone() -> None:
    warsaw = Directory(timezone="Europe/Warsaw")
    whole_day = _event(
        "document.shared", {"space": "Board", "expires_at": "2027-12-31T22:59:59+00:00"}
    )
    afternoon = _event(
        "document.shared", {"space": "Board", "expires_at": "2027-06-30T15:30:00+00:00"}
    )

    assert describe(whole_day, warsaw) == "Shared with space Board until 31 Dec 2027"
    assert describe(afternoon, warsaw) == "Shared with space Board until 30 Jun 2027, 17:30 CEST"
    assert describe(afternoon) == "Shared with space Board until 30 Jun 2027, 15:30 UTC"


def test_people_are_named_with_their_email_when_the_store_knows_them() -> None:
    known = Directory(people={5: Person("Jane Client", "jane@acme.test")}, groups={2: "Board"})
    shared = _event(
        "document.shared", {"recipient_id": 5, "recipient": "Jane Client", "group_id": 2}
    )
    fetched = _event("document.downloaded", {"channel": "telegram", "on_behalf_of": 5}, share_id=9)

    assert describe(shared, known) == (
        "Shared with Jane Client (jane@acme.test) through group Board, with no end date"
    )
    assert describe(fetched, known) == (
        "Downloaded in Telegram on behalf of Jane Client (jane@acme.test) (share 9)"
    )
    assert describe(fetched) == "Downloaded in Telegram on behalf of recipient 5 (share 9)"


@pytest.mark.parametrize(
    ("count", "said"), [(1, "first"), (2, "2nd"), (3, "3rd"), (11, "11th"), (22, "22nd")]
)
def test_downloads_are_counted_in_words(count: int, said: str) -> None:
    event = _event("document.downloaded", {"download": count}, share_id=1, ip="192.0.2.1")

    assert describe(event) == f"Downloaded for the {said} time (share 1), from 192.0.2.1"


def test_details_of_an_unexpected_shape_still_read_as_words() -> None:
    event = _event("document.shared", {"space": "Board", "expires_at": 20271231}, share_id=2)

    assert describe(event) == "Document shared (share 2); space: Board; expires at: 20271231"


@pytest.mark.parametrize("action", sorted(DESCRIBERS))
def test_every_describer_copes_with_details_it_did_not_expect(action: str) -> None:
    for details in ({}, {"request": "S-1", "party": None, "extra": {"a": [True, None]}}):
        said = describe(_event(action, details, share_id=4))
        assert said and not REPR.search(said), said
