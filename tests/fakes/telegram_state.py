"""What the fake Bot API remembers: chats and their messages, files, queued updates, the
flood-control windows, and the records tests assert on.

``BotState`` holds it and offers the operations both sides need: the Bot API methods
(``tests.fakes.telegram_methods``) and the simulated users of ``FakeTelegramApi``. Every
change calls ``notify`` so that long polls and ``wait_for`` wake up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import mimetypes
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.telegram_wire import JSON, ApiError
from tests.fakes.watching import Watched

UPLOAD_LIMIT = 50 * 1024 * 1024
DOWNLOAD_LIMIT = 20 * 1024 * 1024
DEFAULT_GROUP_MEMBER_ID = 4242
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "callback_query",
        "inline_query",
        "chosen_inline_result",
        "my_chat_member",
        "chat_join_request",
    }
)


class ManualClock:
    """A monotonic clock that moves only when told; pass it as ``clock=``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's documented broadcast limits; ``None`` in their place disables one."""

    overall_per_second: int | None = 30
    private_chat_per_second: int | None = 1
    group_chat_per_minute: int | None = 20


@dataclass(frozen=True)
class TgUser:
    """A simulated Telegram user."""

    id: int
    first_name: str = "Test"
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"

    def to_dict(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


@dataclass
class StoredFile:
    """A file the fake holds: uploaded by the bot or sent by a user."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str

    def as_document(self) -> JSON:
        doc: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.file_name is not None:
            doc["file_name"] = self.file_name
        if self.mime_type is not None:
            doc["mime_type"] = self.mime_type
        return doc


@dataclass
class SentMessage:
    """One successful call by which the bot created or changed a message."""

    method: str
    chat_id: int
    message_id: int
    payload: JSON
    """The Message object as returned to the bot."""
    at: float
    """The fake's clock when the call was accepted."""
    document: StoredFile | None = None
    parse_mode: str | None = None

    @property
    def text(self) -> str | None:
        return self.payload.get("text")

    @property
    def caption(self) -> str | None:
        return self.payload.get("caption")

    @property
    def reply_markup(self) -> JSON | None:
        return self.payload.get("reply_markup")

    @property
    def reply_to_message_id(self) -> int | None:
        reply = self.payload.get("reply_to_message")
        return reply["message_id"] if reply else None

    @property
    def buttons(self) -> list[JSON]:
        """The inline keyboard's buttons, row by row, flattened."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]


@dataclass(frozen=True)
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    at: float


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    status: int
    params: JSON
    description: str | None
    at: float
    abandoned: bool = False
    """The caller had hung up before the answer (a poll its own bot cut short)."""


@dataclass(frozen=True)
class WebhookDelivery:
    update_id: int
    status: int | None
    """HTTP status the webhook answered; None when it could not be reached."""
    error: str | None


@dataclass
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class Queued:
    update: JSON
    forced: bool = False
    """A deliberate duplicate: delivered once even though its update_id was confirmed."""


class BotState(Watched):
    """Everything one fake bot has seen and holds, and the rules that bind it."""

    def __init__(
        self,
        *,
        token: str,
        bot_username: str,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        flood_limits: FloodLimits | None = FloodLimits(),  # noqa: B008 - frozen, shared safely
        max_upload_bytes: int = UPLOAD_LIMIT,
        max_download_bytes: int = DOWNLOAD_LIMIT,
    ) -> None:
        self.token = token
        self.clock = clock
        """Monotonic seconds for flood control and ``at`` stamps; swap in a ManualClock."""
        self.wall_clock = wall_clock
        """Unix seconds for message ``date`` fields."""
        self.flood_limits = flood_limits
        """Set to None to switch flood control off."""
        self.max_upload_bytes = max_upload_bytes
        self.max_download_bytes = max_download_bytes
        self.bot_user: JSON = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Inkpost Test",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.sent: list[SentMessage] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.requests: list[LoggedRequest] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.internal_errors: list[Exception] = []
        """Exceptions the fake raised while answering; the fixture fails the test on any."""
        self.chat_actions: list[tuple[int, str]] = []
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        """setMyCommands by (scope as JSON, language_code)."""
        self.menu_buttons: dict[int | None, JSON] = {}
        self.webhook: Webhook | None = None
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.closing = False
        self._chats: dict[int, JSON] = {}
        self._blocked: set[int] = set()
        self._messages: dict[tuple[int, int], JSON] = {}
        self._next_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._file_paths: dict[str, StoredFile] = {}
        self._callback_queries: dict[str, JSON] = {}
        self._answered: set[str] = set()
        self._pending: list[Queued] = []
        self._update_ids = itertools.count(10_000)
        self._poll_generation = 0
        self._flood_all: deque[float] = deque()
        self._flood_chat: dict[int, deque[float]] = {}
        self._changed = asyncio.Event()

    # -- chats and messages

    def register_chat(
        self, chat_id: int, *, user: TgUser | None = None, title: str | None = None
    ) -> JSON:
        """Make a chat known, as if someone in it had written to the bot."""
        if chat_id not in self._chats:
            if chat_id > 0:
                person = user or TgUser(id=chat_id)
                chat: JSON = {"id": chat_id, "type": "private", "first_name": person.first_name}
                if person.username:
                    chat["username"] = person.username
            else:
                kind = "supergroup" if str(chat_id).startswith("-100") else "group"
                chat = {"id": chat_id, "type": kind, "title": title or f"Group {-chat_id}"}
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: sends to the chat answer 403 until they write again."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def chat(self, chat_id: int) -> JSON | None:
        return self._chats.get(chat_id)

    def is_blocked(self, chat_id: int) -> bool:
        return chat_id in self._blocked

    def new_message(self, chat: JSON, sender: JSON, extra: JSON) -> JSON:
        """A message in ``chat`` with the chat's next id; ``None`` values in ``extra`` are left
        out, as Telegram leaves out empty fields."""
        message_id = self._next_message_id.get(chat["id"], 1)
        self._next_message_id[chat["id"]] = message_id + 1
        message = {
            "message_id": message_id,
            "from": sender,
            "chat": dict(chat),
            "date": int(self.wall_clock()),
            **{key: value for key, value in extra.items() if value is not None},
        }
        self._messages[(chat["id"], message_id)] = message
        return message

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """The message as it is now (after edits); None if unknown or deleted."""
        return self._messages.get((chat_id, message_id))

    def forget_message(self, chat_id: int, message_id: int) -> None:
        del self._messages[(chat_id, message_id)]

    @property
    def bot_sender(self) -> JSON:
        keys = ("id", "is_bot", "first_name", "username")
        return {key: self.bot_user[key] for key in keys}

    def record(self, method: str, message: JSON, **extra: Any) -> JSON:
        """Note a message the bot created or changed, as it is now; returns the message."""
        self.sent.append(
            SentMessage(
                method=method,
                chat_id=message["chat"]["id"],
                message_id=message["message_id"],
                payload=json_copy(message),
                at=self.clock(),
                **extra,
            )
        )
        return message

    # -- callback queries

    def remember_callback_query(self, query: JSON) -> None:
        self._callback_queries[query["id"]] = query

    def callback_query_open(self, query_id: str) -> bool:
        """Known, and not answered yet."""
        return query_id in self._callback_queries and query_id not in self._answered

    def close_callback_query(self, query_id: str) -> None:
        self._answered.add(query_id)

    # -- files

    def store_file(
        self, data: bytes, *, file_name: str | None, mime_type: str | None
    ) -> StoredFile:
        number = len(self._files) + 1
        suffix = mimetypes.guess_extension(mime_type or "") or ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"BQACAgIAAxkBAAI{secrets.token_urlsafe(24)}",
            file_unique_id=f"AgAD{secrets.token_urlsafe(8)}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"documents/file_{number}{suffix}",
        )
        self._files[stored.file_id] = stored
        self._file_paths[stored.file_path] = stored
        return stored

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def file_at(self, file_path: str) -> StoredFile | None:
        return self._file_paths.get(file_path)

    # -- updates

    def queue_update(self, body: JSON) -> JSON:
        """Queue any update body (``{"message": {...}}``); assigns and returns its update_id."""
        update = {"update_id": next(self._update_ids), **body}
        self._pending.append(Queued(update))
        self.notify()
        return update

    def queue_duplicate(self, update: JSON) -> JSON:
        """Deliver ``update`` again with the same update_id, as Telegram may on retries."""
        self._pending.append(Queued(update, forced=True))
        self.notify()
        return update

    @property
    def pending_updates(self) -> list[JSON]:
        return [queued.update for queued in self._pending]

    def confirm(self, offset: int | None) -> None:
        """getUpdates' ``offset``: forget the updates before it (or keep the last -offset)."""
        if offset is None:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [
                q for q in self._pending if q.forced or q.update["update_id"] >= offset
            ]

    def deliverable(self) -> list[Queued]:
        """The queued updates of the allowed types, oldest first (others are dropped)."""
        self._pending = [
            q for q in self._pending if set(q.update) - {"update_id"} <= self.allowed_updates
        ]
        return self._pending

    def next_pending(self) -> Queued | None:
        """The oldest queued update, whatever its type (a webhook gets them all)."""
        return self._pending[0] if self._pending else None

    def delivered(self, queued: Queued) -> None:
        """A webhook took the update."""
        with contextlib.suppress(ValueError):
            self._pending.remove(queued)

    def drop_pending(self) -> None:
        self._pending.clear()

    def new_poll(self) -> int:
        """A getUpdates call or a webhook replaces any long poll running; returns its number."""
        self._poll_generation += 1
        return self._poll_generation

    def poll_replaced(self, generation: int) -> bool:
        return generation != self._poll_generation

    # -- flood control

    def check_flood(self, chat_id: int) -> None:
        """Count one message to ``chat_id``, or answer 429 if the limits do not allow it."""
        limits = self.flood_limits
        if limits is None:
            return
        now = self.clock()
        waits: list[float] = []
        while self._flood_all and self._flood_all[0] <= now - 1:
            self._flood_all.popleft()
        if limits.overall_per_second and len(self._flood_all) >= limits.overall_per_second:
            waits.append(self._flood_all[0] + 1 - now)
        window, allowed = (
            (1.0, limits.private_chat_per_second)
            if chat_id > 0
            else (60.0, limits.group_chat_per_minute)
        )
        recent = self._flood_chat.setdefault(chat_id, deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        if allowed and len(recent) >= allowed:
            waits.append(recent[-allowed] + window - now)
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        self._flood_all.append(now)
        recent.append(now)


def json_copy(value: JSON) -> JSON:
    """A deep copy that is exactly what the wire would carry."""
    copied: JSON = json.loads(json.dumps(value))
    return copied
