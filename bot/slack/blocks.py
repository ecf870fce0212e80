"""Workflow results as Block Kit: each function returns a message (``text`` + ``blocks``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.slack.views import actions, button, context_block, section, sentence
from storage.models import AuditEvent, Document, Share

Message = dict[str, Any]
REVOKE_LINK = "revoke_link"
WATCH_LINK = "watch_link"
FOUND_SHARE = "found_share"
FOUND_LINK = "found_link"
FOUND_HISTORY = "found_history"
MAX_LINES = 40
"""Events or results shown in one message; Slack allows 50 blocks."""
MAX_FOUND = 24
"""Search results shown in one message: each takes a section and a row of buttons."""


def when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def escape(text: str) -> str:
    """Text as Slack mrkdwn shows it literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def help_message(usages: Sequence[tuple[str, str, str]], intro: str | None = None) -> Message:
    """One line per ``(usage, what, example)``."""
    lines = [f"`/inkpost {usage}` {what} (e.g. `{example}`)" for usage, what, example in usages]
    blocks = [section("\n".join(lines))]
    if intro:
        blocks.insert(0, section(escape(intro)))
    names = ", ".join(usage.split(" ")[0] for usage, _, _ in usages)
    return {"text": f"Inkpost commands: {names}", "blocks": blocks}


def refusal(message: str) -> Message:
    text = sentence(message)
    return {"text": text, "blocks": [section(f":warning: {escape(text)}")]}


def link_message(
    document: Document, *, url: str, expires_at: datetime | None, share_id: int
) -> Message:
    expiry = f"expires {when(expires_at)}" if expires_at else "does not expire"
    title = f"*{document.ref}* {escape(document.title)}"
    return {
        "text": f"Link to {document.ref}: {url} ({expiry})",
        "blocks": [
            section(f"{title}\n<{url}>"),
            context_block(f"Anyone with the link can view and download; it {expiry}."),
            actions(
                [
                    button(WATCH_LINK, "Tell me if unused", str(share_id)),
                    button(REVOKE_LINK, "Revoke", str(share_id), style="danger"),
                ]
            ),
        ],
    }


def watched_message(share: Share) -> Message:
    assert share.expires_at is not None
    text = (
        f"You will hear if link {share.id} expires on {when(share.expires_at)} "
        "without being opened or downloaded."
    )
    return {"text": text, "blocks": [section(f":bell: {escape(text)}")]}


def revoked_message(share_id: int, *, by: str) -> Message:
    text = f"Link {share_id} revoked by {by}; it no longer opens."
    return {"text": text, "blocks": [section(f":no_entry: {escape(text)}")]}


def _action_label(action: str) -> str:
    return action.replace(".", " ").replace("_", " ")


def history_message(document: Document, events: Sequence[AuditEvent]) -> Message:
    heading = f"History of *{document.ref}* {escape(document.title)}"
    shown = events[-MAX_LINES:]
    blocks = [section(heading)]
    if len(events) > len(shown):
        blocks.append(context_block(f"{len(events) - len(shown)} earlier events not shown"))
    for event in shown:
        who = escape(event.actor_label or event.actor_type)
        blocks.append(context_block(f"*{when(event.at)}* · {who} · {_action_label(event.action)}"))
    if not events:
        blocks.append(context_block("No events yet."))
    return {"text": f"History of {document.ref}: {len(events)} events", "blocks": blocks}


def found_message(words: str, documents: Sequence[Document]) -> Message:
    if not documents:
        text = f"Nothing found for “{words}”."
        return {"text": text, "blocks": [section(escape(text))]}
    blocks = [section(f"{len(documents)} found for “{escape(words)}”")]
    for document in documents[:MAX_FOUND]:
        blocks.append(
            section(
                f"*{document.ref}* {escape(document.title)}\n"
                f"{escape(document.category)} · {document.created_at:%Y-%m-%d}"
            )
        )
        blocks.append(_found_buttons(document.ref))
    if len(documents) > MAX_FOUND:
        blocks.append(
            context_block(f"{len(documents) - MAX_FOUND} more not shown; add words to narrow")
        )
    return {"text": f"{len(documents)} documents found for “{words}”", "blocks": blocks}


def _found_buttons(ref: str) -> Message:
    """Share, Link and History for one search result; each button's value is its reference."""
    labels = ((FOUND_SHARE, "Share"), (FOUND_LINK, "Link"), (FOUND_HISTORY, "History"))
    return actions([button(action_id, label, ref) for action_id, label in labels])
