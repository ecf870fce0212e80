"""The words of a shared cabinet's news, shared by the Telegram and mail renderings, in
the member's language. Telegram takes them HTML-escaped, mail as plain text."""

from __future__ import annotations

from bot.i18n import text
from texts import plural
from workflows.outbox.kinds import Kind
from workflows.sharing.cabinet_notices import CabinetNotice

EVENTS = {
    Kind.CABINET_DOCUMENT: "document",
    Kind.CABINET_JOINED: "joined",
    Kind.CABINET_LEFT: "left",
}
"""The part of a message's key that names what happened."""


def colleagues(notice: CabinetNotice) -> str:
    """Whom the news is about, as plain text: 'Rita', or 'Rita and 2 other colleagues'
    when more of the cabinet received the document in the same share."""
    name = notice.colleague.name
    if notice.others <= 0:
        return name
    return plural(notice.recipient.language, "cabinet.colleagues", notice.others, name=name)


def chat_message(notice: CabinetNotice) -> str:
    """The news as Telegram shows it (HTML)."""
    return _text(notice, f"cabinet.{EVENTS[notice.kind]}", escape=True)


def mail_subject(notice: CabinetNotice) -> str:
    return _text(notice, f"cabinet.email.{EVENTS[notice.kind]}.subject", escape=False)


def mail_body(notice: CabinetNotice, *, link: str | None) -> str:
    """The news as a mail tells it, with the personal link that opens the document when
    the member may open it."""
    body = _text(notice, f"cabinet.email.{EVENTS[notice.kind]}.body", escape=False)
    if link is None:
        return body
    opening = text(notice.recipient.language, "cabinet.email.open", escape=False, link=link)
    return f"{body}\n{opening}"


def _text(notice: CabinetNotice, key: str, *, escape: bool) -> str:
    return text(
        notice.recipient.language,
        key,
        escape=escape,
        org=notice.organization.name,
        name=notice.recipient.name,
        colleague=colleagues(notice),
        title=notice.document.title if notice.document is not None else "",
    )
