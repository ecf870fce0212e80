"""Block Kit of sharing: the share modal, the options its pickers offer, the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.slack.blocks import Message, escape, when
from bot.slack.views import (
    MAX_OPTIONS,
    View,
    context_block,
    input_block,
    modal_view,
    option,
    placeholder,
    section,
)
from storage.models import Document, Recipient
from workflows.people.groups import GroupSummary
from workflows.people.spaces import SpaceSummary

CALLBACK = "share"
DOCUMENT = "share_document"
RECIPIENTS = "share_recipients"
GROUPS = "share_groups"
SPACES = "share_spaces"
MESSAGE = "share_message"
DAYS = "share_days"
DATE = "share_date"
ACROSS = "share_across_clients"
ACROSS_LABEL = "Share outside the document's client"
BLOCK_OF = {
    DOCUMENT: "document",
    RECIPIENTS: "recipients",
    GROUPS: "groups",
    SPACES: "spaces",
    MESSAGE: "message",
    DAYS: "days",
    DATE: "date",
    ACROSS: "across",
}
"""The input block holding each element: errors are keyed by block, values by both."""
MAX_MESSAGE = 2000
MAX_DAYS = 3650
TITLE = "Share a document"


def document_option(document: Document) -> dict[str, Any]:
    return option(f"{document.ref} {document.title}", document.ref)


def recipient_option(recipient: Recipient, refusal: str | None) -> dict[str, Any]:
    """``refusal`` says why they cannot receive documents now; the label shows it."""
    label = recipient.name
    if recipient.email:
        label += f" · {recipient.email}"
    if refusal:
        label += " (blocked)" if recipient.status == "blocked" else " (access ended)"
    return option(label, str(recipient.id))


def group_option(summary: GroupSummary) -> dict[str, Any]:
    people = "person" if summary.members == 1 else "people"
    return option(f"{summary.group.name} ({summary.members} {people})", str(summary.group.id))


def space_option(summary: SpaceSummary) -> dict[str, Any]:
    people = "member" if summary.members == 1 else "members"
    return option(f"{summary.space.name} ({summary.members} {people})", str(summary.space.id))


def loading_modal() -> View:
    """What shows while the organisation's groups and spaces are read."""
    loading = section(":hourglass_flowing_sand: Loading recipients, groups and spaces…")
    return modal_view(CALLBACK, title=TITLE, blocks=[loading])


def _input(
    action_id: str, label: str, element: dict[str, Any], *, optional: bool, hint: str | None = None
) -> dict[str, Any]:
    element = {"action_id": action_id, **element}
    return input_block(BLOCK_OF[action_id], label, element, optional=optional, hint=hint)


def _multi_picker(action_id: str, options: list[dict[str, Any]], prompt: str) -> dict[str, Any]:
    """All options at once when Slack can show them; otherwise searched as the user types."""
    if len(options) <= MAX_OPTIONS:
        return {
            "type": "multi_static_select",
            "placeholder": placeholder(prompt),
            "options": options,
        }
    return {
        "type": "multi_external_select",
        "placeholder": placeholder(f"{prompt} (type a name)"),
        "min_query_length": 1,
    }


def share_modal(
    *,
    document: Document | None,
    groups: Sequence[GroupSummary],
    spaces: Sequence[SpaceSummary],
) -> View:
    """The form: one document; recipients, groups and spaces; a message; an expiry."""
    picker: dict[str, Any] = {
        "type": "external_select",
        "placeholder": placeholder("Type a reference or words of the title"),
        "min_query_length": 0,
    }
    if document is not None:
        picker["initial_option"] = document_option(document)
    blocks = [
        _input(DOCUMENT, "Document", picker, optional=False),
        _input(
            RECIPIENTS,
            "Recipients",
            {
                "type": "multi_external_select",
                "placeholder": placeholder("Type a name"),
                "min_query_length": 0,
            },
            optional=True,
            hint="Pick at least one recipient, group or space.",
        ),
    ]
    if groups:
        choices = [group_option(g) for g in groups]
        blocks.append(
            _input(GROUPS, "Groups", _multi_picker(GROUPS, choices, "Groups"), optional=True)
        )
    if spaces:
        choices = [space_option(s) for s in spaces]
        blocks.append(
            _input(SPACES, "Spaces", _multi_picker(SPACES, choices, "Spaces"), optional=True)
        )
    blocks += [
        _input(
            MESSAGE,
            "Message",
            {"type": "plain_text_input", "multiline": True, "max_length": MAX_MESSAGE},
            optional=True,
            hint="Shown to the recipients with the document.",
        ),
        _input(
            DAYS,
            "Access ends after (days)",
            {
                "type": "number_input",
                "is_decimal_allowed": False,
                "min_value": "1",
                "max_value": str(MAX_DAYS),
            },
            optional=True,
            hint="Leave this and the date empty for access without an end.",
        ),
        _input(
            DATE,
            "…or at the end of",
            {"type": "datepicker", "placeholder": placeholder("Pick a date")},
            optional=True,
        ),
        _input(
            ACROSS,
            "Other clients",
            {"type": "checkboxes", "options": [option(ACROSS_LABEL, "yes")]},
            optional=True,
            hint="Only on purpose: a document goes to its own client's people unless this "
            "is ticked, and the history records that it went elsewhere.",
        ),
    ]
    return modal_view(CALLBACK, title=TITLE, submit="Share", blocks=blocks)


@dataclass
class Outcome:
    """What one submission of the form shared, counted for the person who sent it."""

    document: Document
    recipients: int = 0
    already: int = 0
    """Recipients picked directly who already had the document; nothing new for them."""
    groups: int = 0
    group_people: int = 0
    spaces: int = 0
    skipped: list[str] = field(default_factory=list)
    expires_at: datetime | None = None
    message: str | None = None
    failure: str | None = None
    """Why sharing stopped part way (something changed after the form was checked)."""


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _targets(outcome: Outcome) -> str:
    parts = []
    if outcome.recipients:
        parts.append(_count(outcome.recipients, "recipient", "recipients"))
    if outcome.groups:
        people = _count(outcome.group_people, "person", "people")
        parts.append(f"{_count(outcome.groups, 'group', 'groups')} ({people})")
    if outcome.spaces:
        parts.append(_count(outcome.spaces, "space", "spaces"))
    return ", ".join(parts)


def shared_message(outcome: Outcome) -> Message:
    """'Shared D-3 Fee table with 3 recipients, 1 group (12 people), 1 space', and what
    else the sender should know: who already had it, who was skipped and why."""
    document = outcome.document
    targets = _targets(outcome)
    title = f"*{document.ref}* {escape(document.title)}"
    if targets:
        text = f"Shared {document.ref} {document.title} with {targets}"
        heading = f":white_check_mark: Shared {title} with {targets}"
    else:
        text = f"{document.ref} {document.title} was not shared"
        heading = f":warning: {title} was not shared"
    blocks = [section(heading)]
    if outcome.failure:
        text += f"; then sharing stopped: {outcome.failure}"
        blocks.append(section(f":warning: Sharing stopped: {escape(outcome.failure)}"))
    notes = []
    if outcome.already:
        notes.append(f"{_count(outcome.already, 'recipient', 'recipients')} already had it")
    if outcome.expires_at:
        notes.append(f"access ends {when(outcome.expires_at)}")
    if outcome.message:
        notes.append(f"message: “{escape(outcome.message[:200])}”")
    if notes:
        blocks.append(context_block(" · ".join(notes)))
    shown = outcome.skipped[:10]
    if shown:
        more = len(outcome.skipped) - len(shown)
        lines = "\n".join(f"• {escape(reason)}" for reason in shown)
        if more:
            lines += f"\n…and {more} more"
        blocks.append(context_block(f"Skipped:\n{lines}"))
    return {"text": text, "blocks": blocks}
