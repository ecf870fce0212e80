"""A fake Telegram Bot API server that the real python-telegram-bot client talks to.

It listens on 127.0.0.1 and speaks the Bot API wire format: ``POST /bot<token>/<method>``
with JSON, url-encoded or multipart bodies (PTB sends the latter two), answers
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}``
with the same HTTP status, and serves downloads at ``GET /file/bot<token>/<file_path>``.
Point a bot at it with ``ApplicationBuilder().base_url(fake.base_url)
.base_file_url(fake.base_file_url)``: PTB appends the token to both.

It enforces Telegram's limits (text length after entity parsing, HTML and MarkdownV2
syntax, 64-byte callback data, one action per inline button, upload size, flood control
with 429 + ``retry_after`` on an injectable clock) and answers like Telegram for unknown
chats, blocked users and outages. Tests drive users with ``user_sends_text`` and friends
and assert on ``sent``, ``callback_answers`` and ``requests``.

This module is the server, its public API and the ``telegram_api`` fixture; the rest
lives beside it: ``telegram_wire`` (parameters and errors), ``telegram_formatting``
(HTML, MarkdownV2, keyboards), ``telegram_state`` (chats, files, updates, flood limits)
and ``telegram_methods`` (the Bot API methods).

Deviations, on purpose: webhooks may be plain HTTP on any port but only on loopback; URLs
given as ``document`` are refused (the fake is offline); legacy ``Markdown`` parse mode is
not supported; text length is counted in code points.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot

from tests.fakes.telegram_formatting import (
    BUTTON_ACTIONS,
    MAX_CALLBACK_DATA,
    check_reply_markup,
    parse_formatted,
    utf16_len,
)
from tests.fakes.telegram_methods import (
    CHAT_ACTIONS,
    MAX_CALLBACK_ANSWER,
    MAX_CAPTION,
    MAX_TEXT,
    BotMethods,
    Handler,
)
from tests.fakes.telegram_state import (
    DEFAULT_GROUP_MEMBER_ID,
    DEFAULT_UPDATE_TYPES,
    DOWNLOAD_LIMIT,
    UPLOAD_LIMIT,
    BotState,
    CallbackAnswer,
    FloodLimits,
    LoggedRequest,
    ManualClock,
    SentMessage,
    StoredFile,
    TgUser,
    WebhookDelivery,
    json_copy,
)
from tests.fakes.telegram_wire import JSON, LOOPBACK, ApiError, Params, read_params

__all__ = [
    "BUTTON_ACTIONS",
    "CHAT_ACTIONS",
    "DEFAULT_GROUP_MEMBER_ID",
    "DEFAULT_TOKEN",
    "DEFAULT_UPDATE_TYPES",
    "DOWNLOAD_LIMIT",
    "JSON",
    "LOOPBACK",
    "MAX_CALLBACK_ANSWER",
    "MAX_CALLBACK_DATA",
    "MAX_CAPTION",
    "MAX_TEXT",
    "UPLOAD_LIMIT",
    "ApiError",
    "CallbackAnswer",
    "FakeTelegramApi",
    "FloodLimits",
    "LoggedRequest",
    "ManualClock",
    "SentMessage",
    "StoredFile",
    "TgUser",
    "WebhookDelivery",
    "check_reply_markup",
    "parse_formatted",
    "telegram_api",
]

DEFAULT_TOKEN = "123456789:AAFakeTokenForInkpostTests_abcdefghij"


class FakeTelegramApi(BotState):
    """A Bot API server on 127.0.0.1 for one bot, with simulated users and inspection."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "inkpost_test_bot",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        flood_limits: FloodLimits | None = FloodLimits(),  # noqa: B008 - frozen, shared safely
        max_upload_bytes: int = UPLOAD_LIMIT,
        max_download_bytes: int = DOWNLOAD_LIMIT,
        webhook_retry_delay: float = 0.05,
    ) -> None:
        super().__init__(
            token=token,
            bot_username=bot_username,
            clock=clock,
            wall_clock=wall_clock,
            flood_limits=flood_limits,
            max_upload_bytes=max_upload_bytes,
            max_download_bytes=max_download_bytes,
        )
        self.webhook_retry_delay = webhook_retry_delay
        self._outages: deque[frozenset[str] | None] = deque()
        self._methods: dict[str, Handler] = BotMethods(self).handlers()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._port = 0

    # -- lifetime

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_upload_bytes + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._delivery = asyncio.create_task(self._deliver_webhooks(), name="fake-tg-webhooks")

    async def close(self) -> None:
        self.closing = True
        self.notify()
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegramApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url``: PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url``: PTB appends the token."""
        return f"{self.url}/file/bot"

    def bot(self) -> Bot:
        """A real PTB Bot pointed at this server (use it as ``async with``)."""
        return Bot(self.token, base_url=self.base_url, base_file_url=self.base_file_url)

    # -- behaviour switches (``block``, ``unblock`` and ``register_chat`` are BotState's)

    def outage(self, count: int, *, methods: tuple[str, ...] | None = None) -> None:
        """The next ``count`` API calls (of ``methods`` only, if given) answer 502."""
        wanted = frozenset(m.lower() for m in methods) if methods else None
        self._outages.extend([wanted] * count)

    # -- simulated users (``queue_update`` and ``queue_duplicate`` are BotState's)

    def user_sends_text(
        self, chat_id: int, text: str, *, user: TgUser | None = None, reply_to: int | None = None
    ) -> JSON:
        """Queue a message update; a leading ``/command`` gets its bot_command entity."""
        extra: JSON = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        if reply_to is not None:
            extra["reply_to_message"] = self._existing_message(chat_id, reply_to)
        return self._user_message(chat_id, user, extra)

    def user_sends_document(
        self,
        chat_id: int,
        filename: str,
        data: bytes,
        mime_type: str,
        *,
        caption: str | None = None,
        user: TgUser | None = None,
    ) -> JSON:
        """Queue a message update with a document the bot can getFile and download."""
        stored = self.store_file(data, file_name=filename, mime_type=mime_type)
        extra: JSON = {"document": stored.as_document()}
        if caption is not None:
            extra["caption"] = caption
        return self._user_message(chat_id, user, extra)

    def user_presses_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user: TgUser | None = None,
        strict: bool = True,
    ) -> JSON:
        """Queue a callback_query for a button on the bot's message.

        With ``strict`` the message must currently carry a button with this data, as a real
        client only offers what is on screen.
        """
        message = self._existing_message(chat_id, message_id)
        if strict:
            offered = [
                button.get("callback_data")
                for row in message.get("reply_markup", {}).get("inline_keyboard", [])
                for button in row
            ]
            if data not in offered:
                raise ValueError(f"message {message_id} has no button {data!r}: {offered}")
        query: JSON = {
            "id": secrets.token_hex(8),
            "from": self._sender(chat_id, user),
            "message": json_copy(message),
            "chat_instance": str(abs(hash(("chat", chat_id)))),
            "data": data,
        }
        self.remember_callback_query(query)
        return self.queue_update({"callback_query": query})

    def _sender(self, chat_id: int, user: TgUser | None) -> JSON:
        if user is None:
            user = TgUser(id=chat_id if chat_id > 0 else DEFAULT_GROUP_MEMBER_ID)
        return user.to_dict()

    def _user_message(self, chat_id: int, user: TgUser | None, extra: JSON) -> JSON:
        chat = self.register_chat(chat_id, user=user)
        self.unblock(chat_id)
        message = self.new_message(chat, self._sender(chat_id, user), extra)
        return self.queue_update({"message": message})

    def _existing_message(self, chat_id: int, message_id: int) -> JSON:
        message = self.message(chat_id, message_id)
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        return message

    # -- inspection (``pending_updates`` is BotState's)

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to the chat (send* methods, not edits), oldest first."""
        return [s for s in self.sent if s.chat_id == chat_id and s.method.startswith("send")]

    def current_message(self, chat_id: int, message_id: int) -> JSON | None:
        """The message as it is now (after edits); None if unknown or deleted."""
        return self.message(chat_id, message_id)

    def poll_conflicts(self) -> list[LoggedRequest]:
        """The getUpdates calls answered 409 Conflict while their caller still waited: a
        second poller of the same bot, or a webhook set beside polling. A long poll that its
        own bot cut short (as it stops, it confirms its last updates with a short poll) is
        answered 409 too, but nobody hears that answer, and it is not counted."""
        return [
            r
            for r in self.requests
            if r.method == "getUpdates" and r.status == 409 and not r.abandoned
        ]

    def requests_for(self, method: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def recent_requests(self) -> list[tuple[str, object]]:
        return [(r.method, r.status) for r in self.requests[-10:]]

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int = 1,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - as in wait_for
    ) -> list[SentMessage]:
        """Wait until the bot has sent at least ``count`` messages to the chat."""
        await self.wait_for(
            lambda: len(self.messages_to(chat_id)) >= count,
            timeout=timeout,
            what=f"{count} message(s) to chat {chat_id}",
        )
        return self.messages_to(chat_id)

    # -- HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = Params({})
        try:
            params = await read_params(request, max_upload_bytes=self.max_upload_bytes)
            if request.match_info["token"] != self.token:
                malformed = ":" not in request.match_info["token"]
                raise ApiError(404, "Not Found") if malformed else ApiError(401, "Unauthorized")
            handler = self._methods.get(method.lower())
            if handler is None:
                raise ApiError(404, f"Not Found: the fake does not implement {method}")
            self._take_outage(method.lower())
            result = await handler(params)
            status, body, description = 200, {"ok": True, "result": result}, None
        except ApiError as e:
            status, body, description = e.status, e.body(), e.description
        except Exception as e:  # a bug in the fake: answer 500 and fail the test at teardown
            self.internal_errors.append(e)
            error = ApiError(500, f"Internal Server Error: the fake failed: {e!r}")
            status, body, description = error.status, error.body(), error.description
        transport = request.transport
        abandoned = transport is None or transport.is_closing()
        self.requests.append(
            LoggedRequest(
                method, status, params.loggable(), description, self.clock(), abandoned=abandoned
            )
        )
        self.notify()
        return web.json_response(body, status=status)

    def _take_outage(self, method: str) -> None:
        for index, wanted in enumerate(self._outages):
            if wanted is None or method in wanted:
                del self._outages[index]
                raise ApiError(502, "Bad Gateway")

    async def _handle_download(self, request: web.Request) -> web.Response:
        stored = self.file_at(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        self.requests.append(
            LoggedRequest("download", 200, {"path": stored.file_path}, None, self.clock())
        )
        self.notify()
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # -- webhook delivery

    async def _deliver_webhooks(self) -> None:
        """POST queued updates, one at a time and in order, while a webhook is set."""
        while not self.closing:
            hook = self.webhook
            queued = self.next_pending()
            if hook is None or queued is None or self._session is None:
                await self.wait_change(None)
                continue
            headers = {}
            if hook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
            status: int | None = None
            error: str | None = None
            try:
                async with self._session.post(hook.url, json=queued.update, headers=headers) as r:
                    status = r.status
                    if not 200 <= status < 300:
                        error = f"Wrong response from the webhook: {status} {r.reason}"
            except (aiohttp.ClientError, TimeoutError) as e:
                error = f"Connection failed: {e!r}"
            self.webhook_deliveries.append(
                WebhookDelivery(queued.update["update_id"], status, error)
            )
            if error is None:
                self.delivered(queued)
            else:
                hook.last_error_date = int(self.wall_clock())
                hook.last_error_message = error
            self.notify()
            if error is not None:
                await asyncio.sleep(self.webhook_retry_delay)


@pytest.fixture
async def telegram_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegramApi]:
    """A running fake Bot API on 127.0.0.1, stopped after the test.

    PTB 22 builds ``RetryAfter`` by reading its own deprecated int ``retry_after``, which
    warns unless ``PTB_TIMEDELTA`` is set; under ``filterwarnings = error`` that warning
    would replace the RetryAfter a 429 should raise. So tests that use this fake opt in to
    the timedelta behaviour of PTB 23.
    """
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    async with FakeTelegramApi() as fake:
        yield fake
    if fake.internal_errors:
        raise AssertionError(f"the fake Bot API failed: {fake.internal_errors!r}")
