"""Block Kit for the directory: lists of recipients, groups, spaces and clients, and the
modals that add and change them. They share one list shape (state, pages, pager, the
row menus), so they stay together though that makes this module longer than most.

A list message carries its own state (which list, which page, which search words) in the
values of its buttons, because Slack sends an ephemeral message's buttons back without the
message itself. Modals carry the same state and the list's response_url in
``private_metadata``, so the list can be redrawn once the modal is saved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.slack.blocks import Message, escape
from bot.slack.views import (
    MAX_OPTION_TEXT,
    actions,
    button,
    context_block,
    input_block,
    modal_view,
    option,
    placeholder,
    plain,
    section,
)
from storage.models import Client, Group, Recipient, Space
from storage.rows import id_of
from workflows.people.linking import INVITE_LIFETIME, Invited
from workflows.people.recipients import LANGUAGES, Holdings
from workflows.people.spaces import Memberships

T = TypeVar("T")

RECIPIENT_MENU = "dir_recipient_menu"
RECIPIENT_ADD = "dir_recipient_add"
RECIPIENT_DELETE = "dir_recipient_delete"
BACK_TO_LIST = "dir_back_to_list"
PAGE_PREVIOUS = "dir_page_previous"
PAGE_NEXT = "dir_page_next"
COLLECTION_ADD = "dir_collection_add"
COLLECTION_MEMBERS = "dir_collection_members"
COLLECTION_DELETE = "dir_collection_delete"
CLIENT_ADD = "dir_client_add"
CLIENT_EDIT = "dir_client_edit"

PICK_CLIENT = "dir_pick_client"
PICK_RECIPIENTS = "dir_pick_recipients"
PICK_MEMBERS = "dir_pick_members"
PICK_SPACES = "dir_pick_spaces"
PICK_GROUPS = "dir_pick_groups"

RECIPIENT_FORM = "dir_recipient_form"
PLACES_FORM = "dir_places_form"
COLLECTION_FORM = "dir_collection_form"
MEMBERS_FORM = "dir_members_form"
CLIENT_FORM = "dir_client_form"

NAME, CLIENT, EMAIL, PHONE, LANGUAGE, EXPIRY = (
    "name",
    "client",
    "email",
    "phone",
    "language",
    "expiry",
)
MEMBERS, ADD_MEMBERS, REMOVE_MEMBERS = "members", "add_members", "remove_members"
SPACES, GROUPS, CABINET = "spaces", "groups", "cabinet"
SHARED = "shared"

LISTS = ("recipients", "groups", "spaces", "clients")
PAGE_SIZES = {"recipients": 40, "groups": 20, "spaces": 20, "clients": 40}
"""Rows per message: a recipient or client takes one block, a group or space two; Slack
shows at most 50 blocks."""
MAX_WORDS = 50
"""Search words kept in a button's value; an overflow option's value holds 150 characters."""
MENU_ACTIONS = {"edit": "Edit", "invite": "Send invitation", "places": "Spaces and groups"}
DELETE_ACTION = ("delete", "Delete…")
"""Offered to administrators only."""


@dataclass(frozen=True)
class ListState:
    """Which list a message shows: its kind, page (from 1) and search words."""

    kind: str
    page: int = 1
    words: str = ""

    def value(self, **extra: Any) -> str:
        return _compact({"l": self.kind, "p": self.page, "q": self.words, **extra})

    def at(self, page: int) -> ListState:
        return ListState(self.kind, page, self.words)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and where it sits in the whole."""

    items: Sequence[T]
    number: int
    pages: int
    total: int
    first: int
    """The position of the first item shown, from 1."""


def paginate(items: Sequence[T], state: ListState) -> Page[T]:
    """The page the state asks for, or the last one when the list has shrunk since."""
    size = PAGE_SIZES[state.kind]
    pages = max(1, -(-len(items) // size))
    number = min(max(state.page, 1), pages)
    start = (number - 1) * size
    return Page(items[start : start + size], number, pages, len(items), start + 1)


@dataclass(frozen=True)
class Modal:
    """What a modal must remember: the list to redraw and the thing it changes."""

    state: ListState
    response_url: str = ""
    id: int | None = None
    kind: str = ""

    def dump(self) -> str:
        return _compact(
            {
                "l": self.state.value(),
                "u": self.response_url,
                "id": self.id,
                "k": self.kind,
            }
        )


def _compact(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# -- days of access ----------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def expiry_of(day: date, tz: ZoneInfo) -> datetime:
    """Access through ``day`` ends when the next day begins in the organisation's zone."""
    return datetime.combine(day + timedelta(days=1), time(), tz).astimezone(UTC)


def last_day(expires_at: datetime, tz: ZoneInfo) -> date:
    """The last day on which access still works: the inverse of `expiry_of`."""
    return (expires_at.astimezone(tz) - timedelta(microseconds=1)).date()


# -- small pieces -------------------------------------------------------------------------


def when_day(at: datetime | date) -> str:
    return at.strftime("%Y-%m-%d")


def notice_block(notice: str | None) -> list[Message]:
    return [context_block(f":information_source: {escape(notice)}")] if notice else []


def _pager(state: ListState, page: Page[Any], add: dict[str, Any] | None) -> list[Message]:
    elements = [add] if add else []
    if page.number > 1:
        elements.append(button(PAGE_PREVIOUS, "Previous", state.at(page.number - 1).value()))
    if page.number < page.pages:
        elements.append(button(PAGE_NEXT, "Next", state.at(page.number + 1).value()))
    blocks: list[Message] = [actions(elements)] if elements else []
    if page.pages > 1:
        last = page.first + len(page.items) - 1
        blocks.append(context_block(f"Page {page.number} of {page.pages} · {page.first}–{last}"))
    return blocks


def _heading(title: str, state: ListState, total: int) -> str:
    matching = f" matching “{escape(state.words)}”" if state.words else ""
    return f"*{title}*{matching} · {total}"


# -- recipients ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientRow:
    recipient: Recipient
    client: str


def channel_status(recipient: Recipient, now: datetime) -> str:
    """How the recipient can be reached now, as staff need to know before sharing."""
    if recipient.status == "blocked":
        return ":no_entry: Blocked"
    if recipient.access_expires_at is not None and recipient.access_expires_at <= now:
        return f":hourglass: Access ended {when_day(recipient.access_expires_at)}"
    if recipient.telegram_chat_id is not None:
        if recipient.telegram_active:
            return ":white_check_mark: Telegram linked"
        return ":warning: Telegram linked, but they blocked the bot"
    if recipient.invite_code_hash and recipient.invite_used_at is None:
        expires = recipient.invite_expires_at
        if expires is not None and expires > now:
            return f":envelope: Invited, link valid until {when_day(expires)}"
        return ":envelope: Invitation expired"
    if recipient.invite_sent_at is not None:
        return ":envelope: Invited by mail"
    return ":white_circle: Not invited"


def sent_at(moment: datetime, tz: ZoneInfo) -> str:
    """A moment on the organisation's clock, to the minute."""
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"


def _recipient_line(row: RecipientRow, now: datetime, tz: ZoneInfo) -> str:
    recipient = row.recipient
    details = [escape(row.client), channel_status(recipient, now)]
    details.append(escape(recipient.email) if recipient.email else "no email")
    if recipient.access_expires_at is not None and recipient.access_expires_at > now:
        details.append(f"access until {when_day(last_day(recipient.access_expires_at, tz))}")
    if recipient.invite_sent_at is not None:
        details.append(f"invitation last sent {sent_at(recipient.invite_sent_at, tz)}")
    return f"*{escape(recipient.name)}*\n" + " · ".join(details)


def _recipient_menu(recipient: Recipient, state: ListState, *, can_delete: bool) -> dict[str, Any]:
    recipient_id = id_of(recipient)
    choices = [*MENU_ACTIONS.items()]
    choices.insert(
        2, ("unblock", "Unblock") if recipient.status == "blocked" else ("block", "Block")
    )
    if can_delete:
        choices.append(DELETE_ACTION)
    return {
        "type": "overflow",
        "action_id": RECIPIENT_MENU,
        "options": [option(label, state.value(do=do, id=recipient_id)) for do, label in choices],
    }


def recipients_message(
    page: Page[RecipientRow],
    state: ListState,
    *,
    now: datetime,
    tz: ZoneInfo,
    notice: str | None = None,
    can_delete: bool = False,
) -> Message:
    blocks = [section(_heading("Recipients", state, page.total)), *notice_block(notice)]
    for row in page.items:
        menu = _recipient_menu(row.recipient, state, can_delete=can_delete)
        blocks.append(section(_recipient_line(row, now, tz), menu))
    if not page.items:
        blocks.append(
            context_block("No recipients match." if state.words else "No recipients yet.")
        )
    add = button(RECIPIENT_ADD, "Add recipient", state.value(), style="primary")
    blocks.extend(_pager(state, page, add))
    return {"text": f"{page.total} recipients", "blocks": blocks}


def recipient_modal(
    modal: Modal,
    *,
    recipient: Recipient | None,
    client: Client | None,
    language: str,
    expiry_day: date | None,
) -> Message:
    """Add (``recipient`` None) or edit a recipient; the client is chosen only when adding."""
    editing = recipient is not None
    blocks: list[Message] = [
        _text_input(NAME, "Name", recipient.name if recipient else None, max_length=200),
    ]
    if editing:
        blocks.append(context_block(f"Client: {escape(client.name if client else '?')}"))
    else:
        picker = {
            "type": "external_select",
            "action_id": PICK_CLIENT,
            "min_query_length": 0,
            "placeholder": placeholder("Type a client's name"),
        }
        blocks.append(input_block(CLIENT, "Client", picker))
    blocks += [
        _text_input(EMAIL, "Email", recipient.email if recipient else None, optional=True),
        _text_input(PHONE, "Phone", recipient.phone if recipient else None, optional=True),
        input_block(
            LANGUAGE,
            "Language",
            {
                "type": "static_select",
                "action_id": LANGUAGE,
                "options": [option(code, code) for code in LANGUAGES],
                "initial_option": option(language, language),
            },
        ),
        _date_input(expiry_day),
    ]
    return modal_view(
        RECIPIENT_FORM,
        title="Edit recipient" if editing else "New recipient",
        submit="Save" if editing else "Add",
        private_metadata=modal.dump(),
        blocks=blocks,
    )


def _text_input(
    block_id: str,
    label: str,
    initial: str | None,
    *,
    optional: bool = False,
    max_length: int = 320,
) -> Message:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block_id,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial
    return input_block(block_id, label, element, optional=optional)


def _date_input(initial: date | None) -> Message:
    element: dict[str, Any] = {"type": "datepicker", "action_id": EXPIRY}
    if initial is not None:
        element["initial_date"] = initial.isoformat()
    hint = (
        "The last day they may open documents, in the organisation's time zone. "
        "Leave empty for no end."
    )
    return input_block(EXPIRY, "Access until", element, optional=True, hint=hint)


def _multi_picker(
    block_id: str,
    label: str,
    action_id: str,
    initial: Sequence[dict[str, Any]] = (),
    *,
    hint: str | None = None,
) -> Message:
    element: dict[str, Any] = {
        "type": "multi_external_select",
        "action_id": action_id,
        "min_query_length": 0,
        "placeholder": placeholder("Type to search"),
    }
    if initial:
        element["initial_options"] = list(initial)
    return input_block(block_id, label, element, optional=True, hint=hint)


def places_modal(
    modal: Modal, *, recipient: Recipient, memberships: Memberships, admin: bool
) -> Message:
    """The spaces and groups of one recipient; only administrators change spaces."""
    spaces = [option(s.name, str(s.id)) for s in memberships.spaces]
    groups = [option(g.name, str(g.id)) for g in memberships.groups]
    blocks: list[Message] = [section(f"*{escape(recipient.name)}*")]
    if admin:
        blocks.append(
            _multi_picker(
                SPACES,
                "Spaces",
                PICK_SPACES,
                spaces,
                hint="Members of a space see everything shared to it.",
            )
        )
    else:
        names = ", ".join(escape(s.name) for s in memberships.spaces) or "none"
        blocks.append(context_block(f"Spaces: {names} (only administrators change spaces)"))
    blocks.append(_multi_picker(GROUPS, "Groups", PICK_GROUPS, groups))
    return modal_view(
        PLACES_FORM,
        title="Spaces and groups",
        submit="Save",
        private_metadata=modal.dump(),
        blocks=blocks,
    )


def invite_message(invite: Invited, *, link: str | None, telegram: bool) -> Message:
    """What became of an invitation: mailed (with a Telegram link too where ``telegram`` is
    set up), or a Telegram ``link`` to send by hand."""
    recipient = invite.recipient
    days = INVITE_LIFETIME.days
    if invite.mailed_to is not None:
        links = "their portal and Telegram" if telegram else "their portal"
        text = (
            f"Invitation for {recipient.name} is on its way to {invite.mailed_to}, with "
            f"one-time links to {links}, each valid for {days} days from when it goes out."
        )
        blocks = [
            section(
                f":envelope: Invitation for *{escape(recipient.name)}* is on its way to "
                f"{escape(invite.mailed_to)}."
            ),
            context_block(
                f"It holds one-time links to {links}, each valid for {days} days from when "
                "it goes out. Send it again from the menu if it does not arrive."
            ),
        ]
        return {"text": text, "blocks": blocks}
    until = f"{invite.expires_at:%Y-%m-%d %H:%M} UTC"
    unsent = f"No mail was sent: {invite.not_mailed}."
    text = (
        f"{unsent} Send {recipient.name} this link: it links their Telegram to Inkpost, once, "
        f"until {until}."
    )
    blocks = [
        section(
            f"Invitation for *{escape(recipient.name)}*: send them this link.\n<{link}>",
        ),
        context_block(
            f"{escape(unsent)} It works once, until {until}; an earlier invitation no longer works."
        ),
    ]
    return {"text": f"{text} {link}", "blocks": blocks}


def delete_prompt(recipient: Recipient, holdings: Holdings, state: ListState) -> Message:
    """Ask before deleting a recipient, or say why they cannot be deleted."""
    name = escape(recipient.name)
    back = button(BACK_TO_LIST, "Back to the list", state.value())
    if holdings.anything:
        held = ", ".join(holdings.reasons())
        text = f"{recipient.name} cannot be deleted: they hold {held}."
        blocks = [
            section(f"*{name}* cannot be deleted: they hold {escape(held)}."),
            context_block(
                "Block them instead: they then get and open nothing, and their history stays."
            ),
            actions([back]),
        ]
        return {"text": text, "blocks": blocks}
    confirm = {
        "title": plain("Delete this recipient?", 100),
        "text": plain(f"{recipient.name} will be gone for good; their history stays.", 300),
        "confirm": plain("Delete", 30),
        "deny": plain("Keep them", 30),
        "style": "danger",
    }
    delete = button(
        RECIPIENT_DELETE,
        "Delete",
        state.value(id=id_of(recipient)),
        style="danger",
        confirm=confirm,
    )
    return {
        "text": f"Delete {recipient.name}?",
        "blocks": [
            section(f"Delete *{name}*?"),
            context_block(
                "They hold nothing that must be kept. Their spaces and groups, portal "
                "sessions and delivered notifications go with them; their history stays."
            ),
            actions([delete, back]),
        ],
    }


# -- groups and spaces --------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionRow:
    """A group or a space with its size and the first few member names."""

    item: Group | Space
    members: int
    sample: Sequence[str]


def collections_message(
    kind: str,
    page: Page[CollectionRow],
    state: ListState,
    *,
    can_edit: bool,
    can_delete: bool,
    notice: str | None = None,
) -> Message:
    title = "Groups" if kind == "group" else "Spaces"
    blocks = [section(_heading(title, state, page.total)), *notice_block(notice)]
    for row in page.items:
        people = ", ".join(escape(n) for n in row.sample)
        more = f" and {row.members - len(row.sample)} more" if row.members > len(row.sample) else ""
        who = f"{people}{more}" if row.members else "no members yet"
        count = f"{row.members} member{'s' if row.members != 1 else ''}"
        blocks.append(section(f"*{escape(row.item.name)}* · {count}\n{who}"))
        buttons = []
        value = state.value(id=id_of(row.item))
        if can_edit:
            buttons.append(button(COLLECTION_MEMBERS, "Edit members", value))
        if can_delete:
            buttons.append(
                button(
                    COLLECTION_DELETE,
                    "Delete",
                    value,
                    style="danger",
                    confirm=_delete_confirm(kind, row.item.name),
                )
            )
        if buttons:
            blocks.append(actions(buttons))
    if not page.items:
        blocks.append(context_block(f"No {title.lower()} yet."))
    add = (
        button(COLLECTION_ADD, f"Add {kind}", state.value(), style="primary") if can_edit else None
    )
    blocks.extend(_pager(state, page, add))
    if not can_edit:
        blocks.append(context_block(f"Only administrators change {title.lower()}."))
    return {"text": f"{page.total} {title.lower()}", "blocks": blocks}


def _delete_confirm(kind: str, name: str) -> dict[str, Any]:
    if kind == "space":
        text = (
            f"Deleting {name} revokes what was shared to it and removes its members who "
            "belong to no other space. No document is deleted."
        )
    else:
        text = f"Deleting {name} keeps everything shared through it; only the group goes."
    return {
        "title": plain(f"Delete this {kind}?", 100),
        "text": plain(text, 300),
        "confirm": plain("Delete", 30),
        "deny": plain("Keep it", 30),
        "style": "danger",
    }


def collection_modal(modal: Modal) -> Message:
    kind = modal.kind
    return modal_view(
        COLLECTION_FORM,
        title=f"New {kind}",
        submit="Add",
        private_metadata=modal.dump(),
        blocks=[
            _text_input(NAME, "Name", None, max_length=200),
            _multi_picker(MEMBERS, "Members", PICK_RECIPIENTS),
        ],
    )


def members_modal(modal: Modal, *, name: str, members: int) -> Message:
    """Add and remove members: two pickers, so a large membership never has to fit in one."""
    return modal_view(
        MEMBERS_FORM,
        title=f"{modal.kind.capitalize()} members",
        submit="Save",
        private_metadata=modal.dump(),
        blocks=[
            section(f"*{escape(name)}* · {members} member{'s' if members != 1 else ''}"),
            _multi_picker(ADD_MEMBERS, "Add", PICK_RECIPIENTS),
            _multi_picker(REMOVE_MEMBERS, "Remove", PICK_MEMBERS),
        ],
    )


# -- clients ------------------------------------------------------------------------------


def clients_message(page: Page[Client], state: ListState, *, notice: str | None = None) -> Message:
    blocks = [section(_heading("Clients", state, page.total)), *notice_block(notice)]
    for client in page.items:
        cabinet = "shared cabinet" if client.shared_cabinet else "private cabinet"
        blocks.append(
            section(
                f"*{escape(client.name)}* · {cabinet}",
                button(CLIENT_EDIT, "Edit", state.value(id=id_of(client))),
            )
        )
    if not page.items:
        blocks.append(context_block("No clients yet."))
    blocks.extend(
        _pager(state, page, button(CLIENT_ADD, "Add client", state.value(), style="primary"))
    )
    return {"text": f"{page.total} clients", "blocks": blocks}


def client_modal(modal: Modal, client: Client | None) -> Message:
    shared = option("Shared cabinet", SHARED)
    shared["description"] = plain(
        "Its recipients see each other's documents and may sign for each other.", MAX_OPTION_TEXT
    )
    element: dict[str, Any] = {"type": "checkboxes", "action_id": CABINET, "options": [shared]}
    if client is not None and client.shared_cabinet:
        element["initial_options"] = [shared]
    return modal_view(
        CLIENT_FORM,
        title="Edit client" if client else "New client",
        submit="Save" if client else "Add",
        private_metadata=modal.dump(),
        blocks=[
            _text_input(NAME, "Name", client.name if client else None, max_length=200),
            input_block(CABINET, "Cabinet", element, optional=True),
        ],
    )
