"""Block Kit pieces every part of the Slack app builds with: text objects, blocks, buttons,
select options, input blocks and the modal around them, and the errors a modal shows.

Each piece cuts its text to the length Slack accepts there, so a long name never makes
Slack refuse a whole message or view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Block = dict[str, Any]
View = dict[str, Any]
Errors = dict[str, str]
"""Refusals to show under a modal's input blocks, keyed by block_id."""

MAX_MRKDWN = 3000
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75
MAX_OPTIONS = 100
"""Slack shows at most 100 options in a select."""
MAX_LABEL = 2000
MAX_HINT = 2000
MAX_PLACEHOLDER = 150
MAX_MODAL_TEXT = 24
"""A modal's title and its submit and close buttons."""
MAX_PROBLEMS = 3
"""Problems named under one field; the rest are counted."""


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, its end marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, limit: int | None = None) -> Block:
    """A plain_text object, cut to ``limit`` when given."""
    return {"type": "plain_text", "text": text if limit is None else clip(text, limit)}


def section(text: str, accessory: Block | None = None) -> Block:
    """A section of mrkdwn text (escape what users typed), with an element at its side."""
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_MRKDWN)}}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def context_block(text: str) -> Block:
    """A line of small mrkdwn text."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_MRKDWN)}]}


def button(
    action_id: str,
    label: str,
    value: str,
    *,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    block: Block = {
        "type": "button",
        "action_id": action_id,
        "text": plain(label, MAX_BUTTON_TEXT),
        "value": value,
    }
    if style:
        block["style"] = style
    if confirm:
        block["confirm"] = confirm
    return block


def actions(elements: Sequence[Block]) -> Block:
    """A row of buttons or menus."""
    return {"type": "actions", "elements": list(elements)}


def option(text: str, value: str) -> Block:
    """A select option, its text cut to the 75 characters Slack allows."""
    return {"text": plain(text, MAX_OPTION_TEXT), "value": value}


def placeholder(text: str) -> Block:
    return plain(text, MAX_PLACEHOLDER)


def input_block(
    block_id: str,
    label: str,
    element: Block,
    *,
    optional: bool = False,
    hint: str | None = None,
) -> Block:
    """An input block around ``element``; its errors and values are keyed by ``block_id``."""
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, MAX_LABEL),
        "optional": optional,
        "element": element,
    }
    if hint:
        block["hint"] = plain(hint, MAX_HINT)
    return block


def modal_view(
    callback_id: str,
    *,
    title: str,
    blocks: Sequence[Block],
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str | None = None,
) -> View:
    """A modal view; without ``submit`` it only shows (a loading state, a notice).

    ``private_metadata`` comes back with the submission: what the modal is about.
    """
    view: View = {"type": "modal", "callback_id": callback_id, "title": _modal_text(title)}
    if submit is not None:
        view["submit"] = _modal_text(submit)
    view["close"] = _modal_text(close)
    if private_metadata is not None:
        view["private_metadata"] = private_metadata
    view["blocks"] = list(blocks)
    return view


def _modal_text(text: str) -> Block:
    return plain(text, MAX_MODAL_TEXT)


def sentence(message: str) -> str:
    """A workflow's refusal as a field error or line of its own: capitalised."""
    return message[:1].upper() + message[1:]


def joined(problems: Sequence[str], most: int = MAX_PROBLEMS) -> str:
    """Several problems as one field error: the first ``most``, and how many more."""
    shown = "; ".join(problems[:most])
    more = len(problems) - most
    return sentence(shown + (f"; and {more} more" if more > 0 else ""))
