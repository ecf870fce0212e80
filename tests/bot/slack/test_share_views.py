"""The share modal, its options and its outcome as Block Kit that Slack accepts; reading the
submitted form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.slack import blocks
from bot.slack.features.sharing.sharing import _Form
from bot.slack.features.sharing.views import (
    DOCUMENT,
    GROUPS,
    MESSAGE,
    RECIPIENTS,
    SPACES,
    Outcome,
    document_option,
    share_modal,
    shared_message,
)
from storage.models import Document, Group, Space
from tests.fakes.slack_api import find_element
from tests.fakes.slack_blocks import check_message_blocks, check_view
from workflows.people.groups import GroupSummary
from workflows.people.spaces import SpaceSummary

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _document(number: int = 3, title: str = "Fee table") -> Document:
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


def _groups(count: int) -> list[GroupSummary]:
    return [GroupSummary(Group(id=n, org_id=1, name=f"Group {n}"), n) for n in range(1, count + 1)]


def _spaces(count: int) -> list[SpaceSummary]:
    return [SpaceSummary(Space(id=n, org_id=1, name=f"Space {n}"), 1) for n in range(1, count + 1)]


def _element(view: dict[str, Any], action_id: str) -> dict[str, Any] | None:
    found = find_element(view["blocks"], action_id)
    return found[1] if found else None


def test_the_modal_is_a_valid_view_with_the_document_chosen() -> None:
    view = share_modal(document=_document(), groups=_groups(2), spaces=_spaces(1))

    assert check_view(view) == []
    picker = _element(view, DOCUMENT)
    assert picker is not None and picker["initial_option"]["value"] == "D-3"
    groups = _element(view, GROUPS)
    assert groups is not None and groups["type"] == "multi_static_select"
    assert [o["text"]["text"] for o in groups["options"]] == [
        "Group 1 (1 person)",
        "Group 2 (2 people)",
    ]


def test_without_groups_or_spaces_their_fields_are_left_out() -> None:
    view = share_modal(document=None, groups=[], spaces=[])

    assert check_view(view) == []
    assert _element(view, GROUPS) is None and _element(view, SPACES) is None
    picker = _element(view, DOCUMENT)
    assert picker is not None and "initial_option" not in picker


def test_more_groups_than_a_select_holds_are_searched_instead() -> None:
    view = share_modal(document=None, groups=_groups(101), spaces=_spaces(100))

    assert check_view(view) == []
    groups, spaces = _element(view, GROUPS), _element(view, SPACES)
    assert groups is not None and groups["type"] == "multi_external_select"
    assert spaces is not None and len(spaces["options"]) == 100


def test_long_titles_are_cut_to_the_option_limit() -> None:
    option = document_option(_document(title="x" * 300))

    assert len(option["text"]["text"]) == 75 and option["value"] == "D-3"


def test_the_outcome_counts_targets_and_lists_who_was_skipped() -> None:
    outcome = Outcome(
        _document(title="Fee <table>"),
        recipients=3,
        groups=1,
        group_people=12,
        spaces=1,
        already=1,
        skipped=[f"recipient R{n} is blocked" for n in range(12)],
        message="Please sign",
    )

    message = shared_message(outcome)

    assert (
        message["text"] == "Shared D-3 Fee <table> with 3 recipients, 1 group (12 people), 1 space"
    )
    assert check_message_blocks(message["blocks"]) == []
    shown = str(message["blocks"])
    assert "Fee &lt;table&gt;" in shown and "…and 2 more" in shown
    assert "1 recipient already had it" in shown and "Please sign" in shown


def test_an_outcome_stopped_part_way_says_why() -> None:
    outcome = Outcome(_document(), spaces=0, failure="space 4 not found")

    message = shared_message(outcome)

    assert (
        message["text"] == "D-3 Fee table was not shared; then sharing stopped: space 4 not found"
    )
    assert check_message_blocks(message["blocks"]) == []


def test_search_results_stay_within_fifty_blocks_with_their_buttons() -> None:
    found = [_document(number) for number in range(1, 31)]

    message = blocks.found_message("fee", found)

    assert check_message_blocks(message["blocks"]) == []
    assert len(message["blocks"]) <= 50
    assert str(message["blocks"]).count(blocks.FOUND_SHARE) == blocks.MAX_FOUND
    assert "6 more not shown" in str(message["blocks"])


def _state(action_id: str, block_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {block_id: {action_id: entry}}


def test_a_choice_that_is_not_an_id_is_an_error_on_its_field() -> None:
    picked = {"selected_options": [{"text": {"type": "plain_text", "text": "x"}, "value": "x"}]}
    form = _Form(_state(RECIPIENTS, "recipients", picked))

    assert form.ids(RECIPIENTS, "recipient") == []
    assert form.errors == {"recipients": "That choice is not a recipient; pick again"}


def test_a_message_longer_than_a_share_holds_is_an_error_on_its_field() -> None:
    form = _Form(_state(MESSAGE, "message", {"type": "plain_text_input", "value": "x" * 2001}))

    form.message()

    assert form.errors == {"message": "The message is longer than 2000 characters"}
