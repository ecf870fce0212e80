"""What the bot says: texts from the catalogues and inline keyboards. Callback data holds
ids only and always fits Telegram's 64 bytes."""

from __future__ import annotations

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButton,
    MenuButtonCommands,
    MenuButtonWebApp,
    WebAppInfo,
)

from bot import cabinet_texts, sign_texts
from bot.i18n import LANGUAGES, catalogue, text, when
from bot.sign_texts import SignLinks
from workflows.outbox.kinds import Kind
from workflows.sharing.cabinet_notices import CabinetNotice
from workflows.sharing.inbox import NOTIFICATION_KINDS, InboxPage
from workflows.sharing.notices import AccessNotice, ShareNotice
from workflows.signing.party_notices import SignNotice

# Callback data prefixes.
DOWNLOAD = "dl"
OPEN = "op"
PAGE = "pg"
LANGUAGE = "lang"
NOTIFY = "nt"
RETURN_TO = "rt"
APPROVE = "sa"
REJECT = "sr"


def share_notice(notice: ShareNotice, *, link: str) -> tuple[str, InlineKeyboardMarkup]:
    """A document shared with the recipient or, closer to its end, the reminder to open it,
    with the buttons to open and download it."""
    lang = notice.recipient.language
    if notice.kind == Kind.AVAILABILITY_ENDING and notice.available_until is not None:
        reminder = text(
            lang,
            "remind.availability",
            org=notice.organization.name,
            title=notice.document.title,
            until=when(notice.available_until, lang, organization=notice.organization),
        )
        return reminder, _share_buttons(notice, link)
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
        until = when(notice.available_until, lang, organization=notice.organization)
        lines.append(text(lang, "notice.until", until=until))
    if notice.shared_by:
        lines.append(text(lang, "notice.from", staff=notice.shared_by))
    if notice.share.message:
        lines.append(text(lang, "notice.message", message=notice.share.message))
    return "\n".join(lines), _share_buttons(notice, link)


def _share_buttons(notice: ShareNotice, link: str) -> InlineKeyboardMarkup:
    lang = notice.recipient.language
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(text(lang, "button.open"), url=link),
                InlineKeyboardButton(
                    text(lang, "button.download"), callback_data=f"{DOWNLOAD}:{notice.share.id}"
                ),
            ]
        ]
    )


def access_notice(notice: AccessNotice) -> str:
    """'Your access ends soon': words only, there is nothing to press."""
    lang = notice.recipient.language
    return text(
        lang,
        "remind.access_ending",
        org=notice.organization.name,
        until=when(notice.expires_at, lang, organization=notice.organization),
    )


def cabinet_notice(
    notice: CabinetNotice, *, link: str | None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """News of the recipient's shared cabinet; for a colleague's new document, the button
    that opens it (``link``) when the recipient may open it."""
    body = cabinet_texts.chat_message(notice)
    if link is None:
        return body, None
    label = text(notice.recipient.language, "button.open", escape=False)
    return body, InlineKeyboardMarkup([[InlineKeyboardButton(label, url=link)]])


def inbox_page(
    page: InboxPage, *, language: str, only_mine: bool, per_page: int, app: str | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """A page of the chat's documents; with ``app``, a last button opens the whole portal
    as a Mini App."""
    header = (
        "documents.header_cabinet" if page.shared_cabinet and not only_mine else "documents.header"
    )
    portal = [[_portal_button(language, app)]] if app else []
    if not page.items:
        return text(language, "documents.empty"), InlineKeyboardMarkup(portal)
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
    return "\n".join(lines), InlineKeyboardMarkup(rows + portal)


def portal_app(public_url: str) -> str | None:
    """The portal as a Mini App: only when served over HTTPS, where Telegram opens them."""
    base = public_url.rstrip("/")
    return f"{base}/me/telegram" if base.startswith("https://") else None


def portal_menu_button(public_url: str, language: str) -> MenuButton:
    """The chat's menu button: the portal, else the list of commands."""
    app = portal_app(public_url)
    if app is None:
        return MenuButtonCommands()
    return MenuButtonWebApp(text(language, "portal.telegram.button", escape=False), WebAppInfo(app))


def _portal_button(language: str, app: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text(language, "portal.telegram.button", escape=False), web_app=WebAppInfo(url=app)
    )


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


def sign_notice(
    notice: SignNotice, *, links: SignLinks | None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A signing notice: the heading in bold, its lines, and for an invitation the buttons
    of the party's role (approvers decide right here; signers open their page)."""
    body = "\n".join(
        [
            f"<b>{sign_texts.heading(notice, escape=True)}</b>",
            *sign_texts.lines(notice, escape=True),
        ]
    )
    if links is None:
        return body, None
    lang = notice.language
    if notice.kind not in (Kind.SIGN_INVITE, Kind.SIGN_REMINDER):
        return body, InlineKeyboardMarkup(
            [[_page_button(text(lang, "button.open", escape=False), links)]]
        )
    if notice.party.role == "signer":
        return body, InlineKeyboardMarkup(
            [[_page_button(text(lang, "button.review_sign", escape=False), links)]]
        )
    review = [_page_button(text(lang, "button.review", escape=False), links)]
    if notice.party.role != "approver":
        return body, InlineKeyboardMarkup([review])
    party_id = notice.party.id
    decide = [
        InlineKeyboardButton(
            text(lang, "button.approve", escape=False), callback_data=f"{APPROVE}:{party_id}"
        ),
        InlineKeyboardButton(
            text(lang, "button.reject", escape=False), callback_data=f"{REJECT}:{party_id}"
        ),
    ]
    return body, InlineKeyboardMarkup([decide, review])


def _page_button(label: str, links: SignLinks) -> InlineKeyboardButton:
    """Opens the party's page: inside Telegram as a Mini App when there is one."""
    if links.app is not None:
        return InlineKeyboardButton(label, web_app=WebAppInfo(url=links.app))
    return InlineKeyboardButton(label, url=links.page)
