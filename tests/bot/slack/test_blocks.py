"""Workflow results as Block Kit messages that Slack accepts."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.slack import blocks
from bot.slack.features.status import KIND_LABELS
from storage.models import AuditEvent, Document
from tests.fakes.slack_blocks import check_message_blocks
from workflows.outbox.kinds import Kind

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _document(number: int = 12, title: str = "Fee <table> & co") -> Document:
    return Document(
        org_id=1,
        number=number,
        client_id=1,
        title=title,
        category="fee table",
        filename="f.pdf",
        media_type="application/pdf",
        size=1,
        sha256="0" * 64,
        blob_key="k",
        created_at=AT,
    )


def _event(seq: int, action: str = "document.added") -> AuditEvent:
    return AuditEvent(
        org_id=1,
        seq=seq,
        at=AT,
        actor_type="staff",
        actor_label="Stella Staff",
        action=action,
        prev_hash="",
        hash="",
    )


def test_every_message_is_valid_block_kit() -> None:
    messages = [
        blocks.help_message([("help", "this list", "/inkpost help")], "intro"),
        blocks.refusal("document D-1 not found"),
        blocks.link_message(_document(), url="https://x.test/d/t", expires_at=AT, share_id=3),
        blocks.revoked_message(3, by="Stella"),
        blocks.history_message(_document(), [_event(1), _event(2, "link.created")]),
        blocks.history_message(_document(), []),
        blocks.found_message("fee", [_document(1), _document(2)]),
        blocks.found_message("zeppelin", []),
    ]

    for message in messages:
        assert message["text"]
        assert check_message_blocks(message["blocks"]) == []


def test_titles_are_escaped_for_mrkdwn() -> None:
    message = blocks.found_message("fee", [_document()])

    assert "Fee &lt;table&gt; &amp; co" in str(message["blocks"])


def test_long_history_shows_the_latest_events_and_says_how_many_are_hidden() -> None:
    events = [_event(n) for n in range(1, 101)]

    message = blocks.history_message(_document(), events)

    assert check_message_blocks(message["blocks"]) == []
    assert "60 earlier events not shown" in str(message["blocks"])


def test_refusal_starts_with_a_capital() -> None:
    assert blocks.refusal("you are blocked")["text"] == "You are blocked"


def test_every_kind_of_delivery_has_a_name_in_the_failed_list() -> None:
    assert set(KIND_LABELS) == set(Kind)
