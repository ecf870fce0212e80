"""What the bot says: texts from the catalogues and inline keyboards. Callback data holds
ids only and always fits Telegram's 64 bytes."""

from __future__ import annotations

from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import LANGUAGES, catalogue, text
from workflows.inbox import NOTIFICATION_KINDS, InboxPage
from workflows.notices import ShareNotice

# Callback data prefixes.
DOWNLOAD = "dl"
OPEN = "op"
PAGE = "pg"
LANGUAGE = "lang"
NOTIFY = "nt"
RETURN_TO = "rt"


def when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def share_notice(notice: ShareNotice, *, link: str) -> tuple[str, InlineKeyboardMarkup]:
    lang = notice.recipient.language
    lines = [
        text(
            lang,
            "notice.document",
            org=notice.organization.name,
            title=notice.document.title,
            category=notice.document.category,
        )
    ]
    if notice.available_until:
        lines.append(text(lang, "notice.until", until=when(notice.available_until)))
    if notice.shared_by:
        lines.append(text(lang, "notice.from", staff=notice.shared_by))
    if notice.share.message:
        lines.append(text(lang, "notice.message", message=notice.share.message))
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(text(lang, "button.open"), url=link),
                InlineKeyboardButton(
                    text(lang, "button.download"), callback_data=f"{DOWNLOAD}:{notice.share.id}"
                ),
            ]
        ]
    )
    return "\n".join(lines), keyboard


def inbox_page(
    page: InboxPage, *, language: str, only_mine: bool, per_page: int
) -> tuple[str, InlineKeyboardMarkup]:
    header = (
        "documents.header_cabinet" if page.shared_cabinet and not only_mine else "documents.header"
    )
    if not page.items:
        return text(language, "documents.empty"), InlineKeyboardMarkup([])
    lines = [text(language, header, page=page.page, pages=page.pages)]
    rows: list[list[InlineKeyboardButton]] = []
    for number, item in enumerate(page.items, start=1 + (page.page - 1) * per_page):
        line = f"{number}. " + text(
            language,
            "documents.item",
            title=item.document.title,
            category=item.document.category,
            org=item.organization,
        )
        extra = []
        if not item.mine and item.addressee:
            extra.append(text(language, "documents.for", addressee=item.addressee))
        if item.shared_by:
            extra.append(text(language, "documents.from", staff=item.shared_by))
        if extra:
            line += " (" + ", ".join(extra) + ")"
        lines.append(line)
        rows.append(
            [
                InlineKeyboardButton(
                    f"{number}. {text(language, 'button.open', escape=False)}",
                    callback_data=f"{OPEN}:{item.share_id}",
                ),
                InlineKeyboardButton(
                    f"{number}. {text(language, 'button.download', escape=False)}",
                    callback_data=f"{DOWNLOAD}:{item.share_id}",
                ),
            ]
        )
    mine = int(only_mine)
    navigation = []
    if page.page > 1:
        navigation.append(
            InlineKeyboardButton(
                text(language, "button.previous", escape=False),
                callback_data=f"{PAGE}:{page.page - 1}:{mine}",
            )
        )
    if page.page < page.pages:
        navigation.append(
            InlineKeyboardButton(
                text(language, "button.next", escape=False),
                callback_data=f"{PAGE}:{page.page + 1}:{mine}",
            )
        )
    if navigation:
        rows.append(navigation)
    if page.shared_cabinet:
        toggle = "button.everyone" if only_mine else "button.only_mine"
        rows.append(
            [
                InlineKeyboardButton(
                    text(language, toggle, escape=False), callback_data=f"{PAGE}:1:{1 - mine}"
                )
            ]
        )
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    catalogue(code)["language.name"], callback_data=f"{LANGUAGE}:{code}"
                )
                for code in LANGUAGES
            ]
        ]
    )


def notifications_keyboard(language: str, prefs: dict[str, bool]) -> InlineKeyboardMarkup:
    rows = []
    for index, kind in enumerate(NOTIFICATION_KINDS):
        enabled = prefs.get(kind, True)
        state = text(language, "notifications.on" if enabled else "notifications.off", escape=False)
        label = text(language, f"notifications.kind.{kind}", escape=False)
        rows.append(
            [
                InlineKeyboardButton(
                    f"{'✅' if enabled else '⬜'} {label}: {state}",
                    callback_data=f"{NOTIFY}:{index}:{int(not enabled)}",
                )
            ]
        )
    return InlineKeyboardMarkup(rows)


def return_choice(choices: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """Buttons to pick which organisation a returned file is for (recipient ids)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(org, callback_data=f"{RETURN_TO}:{rid}")] for rid, org in choices]
    )
