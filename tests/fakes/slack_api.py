"""A fake Slack Web API server that the real ``slack_sdk`` AsyncWebClient talks to.

It listens on 127.0.0.1 and speaks the Web API wire format: ``POST /api/<method>`` with a
form, JSON or query parameters and ``Authorization: Bearer xoxb-…``, answering HTTP 200 with
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}`` and Slack's error names. Point a
client at it with ``AsyncWebClient(token=fake.token, base_url=fake.api_url)``; slack_sdk
joins the method name onto ``base_url`` with ``urljoin``, so the trailing slash matters
(the client adds one if missing).

It enforces what Slack enforces (Block Kit schemas and limits in ``slack_blocks``, 40,000
characters of message text, single-use triggers that expire after 3 s, view hashes, the
modal stack of three, per-method and per-channel rate limits answered with 429 and
``Retry-After``) and serves what the bot needs besides the API: upload URLs for
``files.getUploadURLExternal``, ``url_private_download`` behind the bot token,
``response_url`` hooks, and Socket Mode (``fake.socket``, see ``slack_socket``). Tests
drive users with ``user_uploads_file``, ``user_posts_message`` and
``tests.fakes.slack_client.SlackSender``, and assert on ``posted``, ``ephemeral``,
``views``, ``uploaded_files``, ``responses`` and ``requests``.

Deviations, on purpose: one workspace and one bot token; every channel must be known
(``add_channel``, ``conversations.open`` or the built-in #general); file shares happen at
once rather than asynchronously; an upload whose size differs from the declared ``length``
is refused; the upload limit is 50 MB, not 1 GB.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import mimetypes
import secrets
import string
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.slack_blocks import check_message_blocks, check_view, with_generated_ids
from tests.fakes.slack_socket import SocketMode
from tests.fakes.watching import Watched

JSON = dict[str, Any]
LOOPBACK = "127.0.0.1"
DEFAULT_BOT_TOKEN = "xoxb-1000000001-2000000002-InkpostFakeBotToken01"
DEFAULT_TEAM_ID = "T0001"
GENERAL_CHANNEL = "C0GENERAL"
MAX_MESSAGE_TEXT = 40_000
MAX_VIEW_BYTES = 250 * 1024
MAX_VIEW_STACK = 3
TRIGGER_TTL = 3.0
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0
UPLOAD_LIMIT = 50 * 1024 * 1024
_ID_ALPHABET = string.ascii_uppercase + string.digits
APP_LEVEL_METHODS = frozenset({"apps.connections.open"})
"""Methods that take the app-level token (``xapp-…``) and refuse a bot token."""
DEFAULT_BOT_SCOPES = (
    "app_mentions:read",
    "channels:read",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "im:history",
    "im:read",
    "im:write",
    "users:read",
)
"""The scopes the fake's bot token was granted (a generous installation)."""
APP_TOKEN_SCOPES = ("connections:write",)


class ManualClock:
    """A monotonic clock that moves only when told; pass it as ``clock=``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Rate:
    """At most ``calls`` in any window of ``per_seconds`` (a burst of ``calls`` is allowed)."""

    calls: int
    per_seconds: float


TIER_2 = Rate(20, 60.0)
TIER_3 = Rate(50, 60.0)
TIER_4 = Rate(100, 60.0)
DEFAULT_METHOD_RATES: Mapping[str, Rate] = {
    "auth.test": TIER_4,
    "chat.postMessage": Rate(300, 60.0),
    "chat.postEphemeral": TIER_4,
    "chat.update": TIER_3,
    "chat.getPermalink": TIER_4,
    "views.open": TIER_4,
    "views.update": TIER_4,
    "views.push": TIER_4,
    "views.publish": TIER_4,
    "conversations.open": TIER_3,
    "users.info": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "files.info": TIER_4,
}
DEFAULT_CHANNEL_RATES: Mapping[str, Rate] = {"chat.postMessage": Rate(3, 3.0)}
"""Slack: "1 message per second per channel", with short bursts allowed."""


@dataclass(frozen=True)
class RateLimits:
    """Slack's tiers per method, and the per-channel limit of chat.postMessage."""

    methods: Mapping[str, Rate] = field(default_factory=lambda: dict(DEFAULT_METHOD_RATES))
    per_channel: Mapping[str, Rate] = field(default_factory=lambda: dict(DEFAULT_CHANNEL_RATES))


@dataclass
class SlackUser:
    """A member of the simulated workspace."""

    id: str
    name: str
    team_id: str
    is_admin: bool = False
    is_owner: bool = False
    real_name: str | None = None
    email: str | None = None
    tz: str = "Europe/Berlin"
    is_bot: bool = False
    deleted: bool = False

    def to_dict(self) -> JSON:
        real_name = self.real_name or self.name.title()
        profile: JSON = {"real_name": real_name, "display_name": self.name, "team": self.team_id}
        if self.email is not None:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": real_name,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": 3600,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
        }

    def to_payload_user(self) -> JSON:
        """The ``user`` object of interaction payloads."""
        return {"id": self.id, "username": self.name, "name": self.name, "team_id": self.team_id}


@dataclass
class Channel:
    id: str
    name: str
    members: set[str]
    is_im: bool = False
    is_mpim: bool = False
    is_private: bool = False
    bot_member: bool = True

    @property
    def type(self) -> str:
        """The ``channel_type`` of message events: im, mpim, group (private) or channel."""
        if self.is_im:
            return "im"
        if self.is_mpim:
            return "mpim"
        return "group" if self.is_private else "channel"

    def to_dict(self) -> JSON:
        data: JSON = {
            "id": self.id,
            "created": 1_700_000_000,
            "is_im": self.is_im,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private or self.is_im or self.is_mpim,
            "is_channel": not (self.is_im or self.is_mpim or self.is_private),
            "is_member": self.bot_member,
        }
        if self.is_im:
            data["user"] = next(iter(self.members))
        else:
            data["name"] = self.name
        return data


@dataclass
class PostedMessage:
    """A message in a channel as it is now; ``edits`` holds earlier versions, oldest first."""

    method: str
    """chat.postMessage, files.completeUploadExternal, or "user" for simulated messages."""
    channel: str
    ts: str
    message: JSON
    at: float
    edits: list[JSON] = field(default_factory=list)
    deleted: bool = False
    """Deleted through a response_url's ``delete_original``."""

    @property
    def text(self) -> str:
        return self.message.get("text", "")

    @property
    def blocks(self) -> list[JSON] | None:
        return self.message.get("blocks")

    @property
    def thread_ts(self) -> str | None:
        return self.message.get("thread_ts")

    @property
    def files(self) -> list[JSON]:
        return self.message.get("files", [])

    @property
    def user(self) -> str:
        return self.message["user"]

    def action_ids(self) -> list[str]:
        """The action_ids of the interactive elements on the message."""
        return [action_id for _, action_id, _ in _elements(self.blocks or [])]


@dataclass(frozen=True)
class EphemeralMessage:
    channel: str
    user: str
    message_ts: str
    text: str | None
    blocks: list[JSON] | None
    thread_ts: str | None
    at: float


@dataclass(frozen=True)
class ViewRecord:
    """One successful change of a view: views.* calls and view_submission responses."""

    method: str
    user_id: str
    view: JSON
    """The view object as Slack returned or stored it."""
    at: float

    @property
    def view_id(self) -> str:
        return self.view["id"]

    @property
    def hash(self) -> str:
        return self.view["hash"]

    @property
    def state(self) -> JSON:
        return self.view["state"]

    @property
    def type(self) -> str:
        return self.view["type"]

    @property
    def callback_id(self) -> str:
        return self.view["callback_id"]


@dataclass
class StoredFile:
    id: str
    name: str
    title: str
    mimetype: str
    data: bytes
    user: str
    created: int
    channels: list[str] = field(default_factory=list)
    shares: dict[str, dict[str, list[JSON]]] = field(default_factory=dict)


@dataclass(frozen=True)
class ResponseMessage:
    """A message the app sent through a response_url or in the HTTP answer to Slack."""

    via: str
    """"response_url" or "ack"."""
    channel_id: str | None
    user_id: str
    body: JSON
    at: float

    @property
    def text(self) -> str | None:
        return self.body.get("text")

    @property
    def blocks(self) -> list[JSON] | None:
        return self.body.get("blocks")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    status: int
    ok: bool
    error: str | None
    params: JSON
    at: float


@dataclass
class _Trigger:
    id: str
    user_id: str
    issued_at: float
    view_id: str | None
    used: bool = False


@dataclass
class _ResponseUrl:
    secret: str
    channel_id: str | None
    user_id: str
    message_ts: str | None
    issued_at: float
    uses: int = 0


@dataclass
class _PendingUpload:
    file_id: str
    filename: str
    length: int
    data: bytes | None = None


class SlackError(Exception):
    """Raised by a method handler; becomes Slack's ``{"ok": false, "error": ...}``."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        messages: list[str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages
        self.retry_after = retry_after

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


def _missing(name: str) -> SlackError:
    return SlackError("invalid_arguments", messages=[f"[ERROR] missing required field: {name}"])


def _elements(blocks: Iterable[JSON]) -> Iterable[tuple[str, str, JSON]]:
    """(block_id, action_id, element) of every interactive element in ``blocks``."""
    for block in blocks:
        candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
        candidates += [block[key] for key in ("accessory", "element") if key in block]
        for element in candidates:
            if isinstance(element, dict) and "action_id" in element:
                yield block.get("block_id", ""), element["action_id"], element


def find_element(blocks: Iterable[JSON], action_id: str) -> tuple[str, JSON] | None:
    """The block_id and element carrying ``action_id``, or None."""
    for block_id, found, element in _elements(blocks):
        if found == action_id:
            return block_id, element
    return None


# --- Request parameters -----------------------------------------------------------------------


class _Params:
    """A method's arguments from the query and a form or JSON body."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def string(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def required(self, name: str, error: str | None = None) -> str:
        value = self.string(name)
        if value is None:
            raise SlackError(error) if error else _missing(name)
        return value

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def integer(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError) as e:
            raise SlackError(
                "invalid_arguments", messages=[f"[ERROR] {name} must be an integer"]
            ) from e

    def decoded(self, name: str, *, error: str = "invalid_arguments") -> Any:
        """A JSON argument: sent as a string in forms and as a value in JSON bodies."""
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as e:
                raise SlackError(error, messages=[f"[ERROR] {name} is not valid JSON"]) from e
        return value

    def loggable(self) -> JSON:
        return {key: value for key, value in self.values.items() if key != "token"}


# --- The server -------------------------------------------------------------------------------

Handler = Callable[[_Params], JSON]


class FakeSlackApi(Watched):
    """A Slack Web API server on 127.0.0.1 for one bot in one workspace."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_BOT_TOKEN,
        team_id: str = DEFAULT_TEAM_ID,
        team_domain: str = "inkpost-test",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rate_limits: RateLimits | None = RateLimits(),  # noqa: B008 - frozen, shared safely
        trigger_ttl: float = TRIGGER_TTL,
        max_upload_bytes: int = UPLOAD_LIMIT,
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.scopes: tuple[str, ...] = DEFAULT_BOT_SCOPES
        """Granted to the bot token; Slack names them in every answer's ``x-oauth-scopes``."""
        self.socket = SocketMode(self)
        """Socket Mode: ``apps.connections.open``, the WebSocket, envelopes and acks."""
        self._clock = clock
        self.wall_clock = wall_clock
        """Unix seconds for message ``ts`` and file ``created``."""
        self.rate_limits = rate_limits
        """Set to None to switch rate limiting off."""
        self.trigger_ttl = trigger_ttl
        self.max_upload_bytes = max_upload_bytes
        self.users: dict[str, SlackUser] = {}
        self.channels: dict[str, Channel] = {}
        self.posted: list[PostedMessage] = []
        self.ephemeral: list[EphemeralMessage] = []
        self.views: list[ViewRecord] = []
        self.uploaded_files: list[StoredFile] = []
        self.responses: list[ResponseMessage] = []
        self.requests: list[LoggedRequest] = []
        self.view_errors: list[tuple[str, JSON]] = []
        """(view_id, errors) for each ``response_action: errors`` the app answered."""
        self.rejected_responses: list[str] = []
        """App answers Slack would refuse (a bad view in a response_action); the fixture
        fails the test on any, since Slack only shows the user an error."""
        self.internal_errors: list[Exception] = []
        """Exceptions the fake raised while answering; the fixture fails the test on any."""
        self._messages: dict[tuple[str, str], PostedMessage] = {}
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, _PendingUpload] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._views: dict[str, JSON] = {}
        self._view_users: dict[str, str] = {}
        self._external_ids: dict[str, str] = {}
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}
        self._ims: dict[str, str] = {}
        self._windows: dict[tuple[str, str | None, Rate], deque[float]] = {}
        self._throttles: deque[tuple[frozenset[str] | None, int]] = deque()
        self._outages: deque[frozenset[str] | None] = deque()
        self._ts_seq = itertools.count(1)
        self._trigger_seq = itertools.count(1_000_001)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._methods: dict[str, Handler] = {
            "auth.test": self._m_auth_test,
            "chat.postMessage": self._m_chat_post_message,
            "chat.postEphemeral": self._m_chat_post_ephemeral,
            "chat.update": self._m_chat_update,
            "chat.getPermalink": self._m_chat_get_permalink,
            "views.open": self._m_views_open,
            "views.push": self._m_views_push,
            "views.update": self._m_views_update,
            "views.publish": self._m_views_publish,
            "conversations.open": self._m_conversations_open,
            "users.info": self._m_users_info,
            "files.getUploadURLExternal": self._m_files_get_upload_url_external,
            "files.completeUploadExternal": self._m_files_complete_upload_external,
            "files.info": self._m_files_info,
            "apps.connections.open": self._m_apps_connections_open,
        }
        self.add_channel(GENERAL_CHANNEL, "general")

    # -- lifetime

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_upload_bytes + 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{upload_id}", self._handle_upload)
        app.router.add_get("/files-pri/{ref}/download/{name}", self._handle_download)
        app.router.add_get("/files-pri/{ref}/{name}", self._handle_download)
        app.router.add_post("/{kind:commands|actions}/{team}/{hook}/{secret}", self._handle_hook)
        app.router.add_get("/", self._handle_login_page)
        app.router.add_get("/link/", self.socket.handle_websocket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        await self.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeSlackApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def clock(self) -> Callable[[], float]:
        """Monotonic seconds for rate limits, trigger expiry and ``at`` stamps."""
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        """Swap in a ManualClock; rate-limit windows measured on the old clock are dropped."""
        self._clock = clock
        self._windows.clear()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def api_url(self) -> str:
        """For ``AsyncWebClient(base_url=...)``."""
        return f"{self.url}/api/"

    @property
    def workspace_url(self) -> str:
        return f"https://{self.team_domain}.slack.com/"

    # -- behaviour switches

    def throttle(
        self, count: int = 1, *, methods: Iterable[str] | None = None, retry_after: int = 1
    ) -> None:
        """The next ``count`` calls (of ``methods`` only, if given) answer 429 ``ratelimited``."""
        wanted = frozenset(methods) if methods else None
        self._throttles.extend([(wanted, retry_after)] * count)

    def outage(self, count: int, *, methods: Iterable[str] | None = None) -> None:
        """The next ``count`` calls (of ``methods`` only, if given) answer 503."""
        wanted = frozenset(methods) if methods else None
        self._outages.extend([wanted] * count)

    # -- the workspace

    def add_user(
        self,
        user_id: str,
        name: str,
        team_id: str | None = None,
        *,
        is_admin: bool = False,
        is_owner: bool = False,
        real_name: str | None = None,
        email: str | None = None,
        is_bot: bool = False,
    ) -> SlackUser:
        """A workspace member; they join #general."""
        user = SlackUser(
            user_id,
            name,
            team_id or self.team_id,
            is_admin=is_admin,
            is_owner=is_owner,
            real_name=real_name,
            email=email,
            is_bot=is_bot,
        )
        self.users[user_id] = user
        self.channels[GENERAL_CHANNEL].members.add(user_id)
        return user

    def user(self, user_id: str) -> SlackUser:
        """A known user, or a ValueError naming the ones that are."""
        if user_id not in self.users:
            raise ValueError(f"unknown Slack user {user_id!r}; add_user first: {list(self.users)}")
        return self.users[user_id]

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: Iterable[str] = (),
        is_private: bool = False,
        bot_member: bool = True,
    ) -> Channel:
        channel = Channel(
            channel_id, name, set(members), is_private=is_private, bot_member=bot_member
        )
        self.channels[channel_id] = channel
        return channel

    def dm_channel(self, user_id: str) -> str:
        """The id of the bot's DM with the user, opening it if needed."""
        self.user(user_id)
        return self._open_im(user_id)[0].id

    # -- simulated users

    def user_uploads_file(
        self, user_id: str, name: str, data: bytes, mimetype: str, *, title: str | None = None
    ) -> JSON:
        """A file the user uploaded; its ``url_private_download`` needs the bot token."""
        stored = self._store_file(
            name=name, title=title or name, data=data, mimetype=mimetype, user=self.user(user_id).id
        )
        return self.file_dict(stored)

    def user_deletes_file(self, file_id: str) -> None:
        """The user deletes a file: its download answers 404, files.info file_not_found."""
        del self._files[file_id]

    def user_posts_message(
        self,
        user_id: str,
        text: str = "",
        *,
        channel_id: str | None = None,
        files: Iterable[JSON] = (),
        thread_ts: str | None = None,
    ) -> JSON:
        """Record a user's message (in the bot DM by default) and return its ``message`` event.

        Send it with ``SlackSender.event``, or use it as a message shortcut's message.
        """
        self.user(user_id)
        channel = self.channels[channel_id] if channel_id else self._open_im(user_id)[0]
        ts = self._next_ts()
        message: JSON = {
            "type": "message",
            "user": user_id,
            "text": text,
            "ts": ts,
            "team": self.team_id,
            "client_msg_id": secrets.token_hex(16),
        }
        shared = list(files)
        if unknown := [f.get("id") for f in shared if f.get("id") not in self._files]:
            raise ValueError(f"files not from user_uploads_file: {unknown}")
        if shared:
            message.update(subtype="file_share", files=shared, upload=True, display_as_bot=False)
            for file in shared:
                self._share(self._files[file["id"]], channel, ts, user_id)
        if thread_ts:
            message["thread_ts"] = thread_ts
        self._messages[(channel.id, ts)] = PostedMessage(
            "user", channel.id, ts, message, self.clock()
        )
        return {**message, "channel": channel.id, "event_ts": ts, "channel_type": channel.type}

    def issue_trigger(self, user_id: str, *, view_id: str | None = None) -> str:
        """A fresh trigger_id, as Slack sends with every command and interaction."""
        number = next(self._trigger_seq)
        trigger_id = f"{number}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(trigger_id, user_id, self.clock(), view_id)
        return trigger_id

    def issue_response_url(
        self,
        *,
        user_id: str,
        channel_id: str | None,
        kind: str = "commands",
        message_ts: str | None = None,
    ) -> str:
        """A response_url served by the fake (``kind`` is "commands" or "actions")."""
        hook = str(next(self._trigger_seq))
        secret = secrets.token_urlsafe(18)
        self._response_urls[hook] = _ResponseUrl(
            secret, channel_id, user_id, message_ts, self.clock()
        )
        return f"{self.url}/{kind}/{self.team_id}/{hook}/{secret}"

    # -- what the app answered to Slack's HTTP requests (called by SlackSender)

    def accept_ack_message(self, *, user_id: str, channel_id: str | None, body: JSON) -> None:
        """A message in the HTTP answer to a slash command or action, as Slack would show it."""
        problem = self._response_problem(body)
        if problem is not None:
            self.rejected_responses.append(f"ack message: {problem}")
        else:
            self.responses.append(ResponseMessage("ack", channel_id, user_id, body, self.clock()))
        self.notify()

    def apply_view_response(self, *, user_id: str, view_id: str, body: JSON | None) -> None:
        """Apply the app's answer to a view_submission: close, update, push, errors, clear."""
        stack = self._stacks.get(user_id, [])
        action = (body or {}).get("response_action")
        if action is None:
            if view_id in stack:
                del stack[stack.index(view_id) :]
        elif action == "clear":
            stack.clear()
        elif action == "errors":
            self._check_view_errors(view_id, (body or {}).get("errors"))
        elif action in ("update", "push"):
            view = (body or {}).get("view")
            problems = check_view(view, allowed=("modal",))
            if problems:
                self.rejected_responses.append(f"response_action {action}: {problems}")
            elif action == "push" and len(stack) >= MAX_VIEW_STACK:
                self.rejected_responses.append("response_action push: push_limit_reached")
            elif action == "update":
                self._replace_view(view_id, view, f"response_action:{action}")
            else:
                self._push_view(user_id, view, f"response_action:{action}")
        else:
            self.rejected_responses.append(f"unknown response_action {action!r}")
        self.notify()

    def _check_view_errors(self, view_id: str, errors: Any) -> None:
        view = self._views.get(view_id, {})
        inputs = {b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"}
        if not isinstance(errors, dict) or not errors:
            self.rejected_responses.append(f"response_action errors without errors: {errors!r}")
        elif unknown := set(errors) - inputs:
            self.rejected_responses.append(
                f"response_action errors name blocks that are not inputs: {sorted(unknown)}"
            )
        else:
            self.view_errors.append((view_id, errors))

    # -- inspection

    def messages_in(self, channel_id: str) -> list[PostedMessage]:
        """Messages the bot posted in the channel, oldest first, as they are now."""
        return [m for m in self.posted if m.channel == channel_id]

    def messages_to(self, user_id: str) -> list[PostedMessage]:
        """Messages the bot posted in its DM with the user."""
        channel = self._ims.get(user_id)
        return self.messages_in(channel) if channel else []

    def message(self, channel_id: str, ts: str) -> PostedMessage | None:
        return self._messages.get((channel_id, ts))

    def current_view(self, view_id: str) -> JSON | None:
        return self._views.get(view_id)

    def open_views(self, user_id: str) -> list[JSON]:
        """The user's modal stack, root first; empty when no modal is open."""
        return [self._views[view_id] for view_id in self._stacks.get(user_id, [])]

    def home_view(self, user_id: str) -> JSON | None:
        view_id = self._homes.get(user_id)
        return self._views[view_id] if view_id else None

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def requests_for(self, method: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method == method]

    def recent_requests(self) -> list[tuple[str, object]]:
        return [(r.method, r.error or "ok") for r in self.requests[-10:]]

    async def wait_for_messages(
        self,
        channel_id: str,
        count: int = 1,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - as in wait_for
    ) -> list[PostedMessage]:
        """Wait until the bot has posted at least ``count`` messages in the channel."""
        await self.wait_for(
            lambda: len(self.messages_in(channel_id)) >= count,
            timeout=timeout,
            what=f"{count} message(s) in {channel_id}",
        )
        return self.messages_in(channel_id)

    # -- internals: state

    def _new_id(self, prefix: str) -> str:
        return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))

    def _next_ts(self) -> str:
        return f"{int(self.wall_clock())}.{next(self._ts_seq):06d}"

    def _new_hash(self) -> str:
        return f"{int(self.wall_clock())}.{secrets.token_hex(4)}"

    def _open_im(self, user_id: str) -> tuple[Channel, bool]:
        """The bot's DM with the user and whether it was already open."""
        if user_id in self._ims:
            return self.channels[self._ims[user_id]], True
        channel = Channel(self._new_id("D"), user_id, {user_id}, is_im=True)
        self.channels[channel.id] = channel
        self._ims[user_id] = channel.id
        return channel, False

    def _channel(self, ref: str | None) -> Channel:
        """A channel by id, by name, or a user id (meaning the bot's DM with them)."""
        if not ref:
            raise SlackError("channel_not_found")
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users:
            return self._open_im(ref)[0]
        for channel in self.channels.values():
            if not channel.is_im and channel.name == ref.lstrip("#"):
                return channel
        raise SlackError("channel_not_found")

    def _store_file(
        self, *, name: str, title: str, data: bytes, mimetype: str, user: str
    ) -> StoredFile:
        stored = StoredFile(
            self._new_id("F"), name, title, mimetype, data, user, int(self.wall_clock())
        )
        self._files[stored.id] = stored
        return stored

    def _share(self, stored: StoredFile, channel: Channel, ts: str, user_id: str) -> None:
        kind = "public" if channel.type == "channel" else "private"
        share = {
            "ts": ts,
            "channel_name": channel.name,
            "team_id": self.team_id,
            "share_user_id": user_id,
        }
        stored.shares.setdefault(kind, {}).setdefault(channel.id, []).append(share)
        if channel.id not in stored.channels:
            stored.channels.append(channel.id)

    def file_dict(self, stored: StoredFile) -> JSON:
        """The file object as files.info and events carry it."""
        base = f"{self.url}/files-pri/{self.team_id}-{stored.id}"
        name = quote(stored.name)
        extension = stored.name.rsplit(".", 1)[-1].lower() if "." in stored.name else "binary"
        ids = stored.channels
        return {
            "id": stored.id,
            "created": stored.created,
            "timestamp": stored.created,
            "name": stored.name,
            "title": stored.title,
            "mimetype": stored.mimetype,
            "filetype": extension,
            "pretty_type": extension.upper(),
            "user": stored.user,
            "user_team": self.team_id,
            "editable": False,
            "size": len(stored.data),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": "public" in stored.shares,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{base}/{name}",
            "url_private_download": f"{base}/download/{name}",
            "permalink": f"{self.workspace_url}files/{stored.user}/{stored.id}/{name}",
            "channels": [c for c in ids if self.channels[c].type == "channel"],
            "groups": [c for c in ids if self.channels[c].type in ("group", "mpim")],
            "ims": [c for c in ids if self.channels[c].type == "im"],
            "comments_count": 0,
            "shares": json.loads(json.dumps(stored.shares)),
            "has_rich_preview": False,
            "file_access": "visible",
        }

    # -- internals: HTTP

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = _Params({})
        headers: dict[str, str] = {}
        try:
            params = await self._read_params(request)
            app_level = method in APP_LEVEL_METHODS
            self._authenticate(request, params, app_level=app_level)
            headers["x-oauth-scopes"] = ",".join(APP_TOKEN_SCOPES if app_level else self.scopes)
            handler = self._methods.get(method)
            if handler is None:
                raise SlackError("unknown_method", status=404)
            self._take_outage(method)
            self._take_throttle(method)
            self._check_rate(method, None)
            status, body = 200, {"ok": True, **handler(params)}
        except SlackError as e:
            status, body = e.status, e.body()
            if e.retry_after is not None:
                headers["Retry-After"] = str(e.retry_after)
        except Exception as e:  # a bug in the fake: answer 500 and fail the test at teardown
            self.internal_errors.append(e)
            status, body = 500, {"ok": False, "error": "fatal_error"}
        self.requests.append(
            LoggedRequest(
                method, status, body["ok"], body.get("error"), params.loggable(), self.clock()
            )
        )
        self.notify()
        return web.json_response(body, status=status, headers=headers)

    async def _read_params(self, request: web.Request) -> _Params:
        values: dict[str, Any] = dict(request.query)
        if not request.body_exists:
            return _Params(values)
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as e:
                raise SlackError("invalid_json") from e
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            values.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            values.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            raise SlackError("invalid_post_type")
        return _Params(values)

    def _authenticate(self, request: web.Request, params: _Params, *, app_level: bool) -> None:
        """The bot token, or for ``APP_LEVEL_METHODS`` the app-level token."""
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else params.string("token")
        if not token:
            raise SlackError("not_authed")
        if token.startswith("xapp-") != app_level:
            raise SlackError("not_allowed_token_type")
        if token != (self.socket.app_token if app_level else self.token):
            raise SlackError("invalid_auth")

    def _take_outage(self, method: str) -> None:
        for index, wanted in enumerate(self._outages):
            if wanted is None or method in wanted:
                del self._outages[index]
                raise SlackError("service_unavailable", status=503)

    def _take_throttle(self, method: str) -> None:
        for index, (wanted, retry_after) in enumerate(self._throttles):
            if wanted is None or method in wanted:
                del self._throttles[index]
                raise SlackError("ratelimited", status=429, retry_after=retry_after)

    def _check_rate(self, method: str, channel: str | None) -> None:
        """Slack's rate limits: a sliding window per method, or per (method, channel)."""
        limits = self.rate_limits
        if limits is None:
            return
        rates = limits.per_channel if channel is not None else limits.methods
        rate = rates.get(method)
        if rate is None:
            return
        now = self.clock()
        window = self._windows.setdefault((method, channel, rate), deque())
        while window and window[0] <= now - rate.per_seconds:
            window.popleft()
        if len(window) >= rate.calls:
            wait = window[-rate.calls] + rate.per_seconds - now
            raise SlackError("ratelimited", status=429, retry_after=max(1, math.ceil(wait)))
        window.append(now)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        pending = self._uploads.get(request.match_info["upload_id"])
        if pending is None:
            return web.Response(status=404, text="upload URL not found")
        if request.content_type == "multipart/form-data":
            data = b""
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if isinstance(part, aiohttp.BodyPartReader) and (part.filename or not data):
                    data = await part.read()
                    if part.filename:
                        break
        else:
            data = await request.read()
        self.requests.append(
            LoggedRequest("upload", 200, True, None, {"file_id": pending.file_id}, self.clock())
        )
        if len(data) != pending.length:
            return web.Response(
                status=400, text=f"length mismatch: {len(data)} != {pending.length}"
            )
        pending.data = data
        self.notify()
        return web.Response(text=f"OK - {len(data)}")

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        team, _, file_id = request.match_info["ref"].partition("-")
        stored = self._files.get(file_id)
        if stored is None or team != self.team_id:
            return web.Response(status=404, text="file not found")
        header = request.headers.get("Authorization", "")
        if not header:
            raise web.HTTPFound(f"/?redir={quote(request.path_qs, safe='')}")
        if header != f"Bearer {self.token}":
            return web.Response(status=403, text="invalid_auth")
        self.requests.append(
            LoggedRequest("download", 200, True, None, {"file_id": file_id}, self.clock())
        )
        return web.Response(body=stored.data, content_type=stored.mimetype)

    async def _handle_login_page(self, request: web.Request) -> web.Response:
        return web.Response(
            text="<!DOCTYPE html><html><title>Sign in | Slack</title><body>Sign in</body></html>",
            content_type="text/html",
        )

    async def _handle_hook(self, request: web.Request) -> web.Response:
        hook = self._response_urls.get(request.match_info["hook"])
        if hook is None or hook.secret != request.match_info["secret"]:
            return web.json_response({"ok": False, "error": "no_service"}, status=404)
        expired = self.clock() - hook.issued_at > RESPONSE_URL_TTL
        if expired or hook.uses >= RESPONSE_URL_USES:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        problem = self._response_problem(body) if isinstance(body, dict) else "invalid_payload"
        if problem is not None:
            return web.json_response({"ok": False, "error": problem}, status=400)
        hook.uses += 1
        self.responses.append(
            ResponseMessage("response_url", hook.channel_id, hook.user_id, body, self.clock())
        )
        original = self._messages.get((hook.channel_id or "", hook.message_ts or ""))
        if original is not None and body.get("delete_original"):
            original.deleted = True
        elif original is not None and body.get("replace_original"):
            kept = {k: v for k, v in original.message.items() if k not in ("text", "blocks")}
            original.edits.append(original.message)
            original.message = {**kept, "text": body.get("text") or ""}
            if body.get("blocks"):
                original.message["blocks"] = with_generated_ids(body["blocks"])
        self.notify()
        return web.json_response({"ok": True})

    def _response_problem(self, body: JSON) -> str | None:
        """Why Slack would refuse a message sent to a response_url, or None."""
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks and not body.get("delete_original"):
            return "no_text"
        if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
            return "msg_too_long"
        if blocks is not None and (not isinstance(blocks, list) or check_message_blocks(blocks)):
            return "invalid_blocks"
        if body.get("response_type", "ephemeral") not in ("ephemeral", "in_channel"):
            return "invalid_response_type"
        return None

    # -- methods: messages

    def _m_apps_connections_open(self, params: _Params) -> JSON:
        return self.socket.open_connection()

    def _m_auth_test(self, params: _Params) -> JSON:
        return {
            "url": self.workspace_url,
            "team": "Inkpost Test",
            "user": "inkpost",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _content(self, params: _Params) -> tuple[str | None, list[JSON] | None]:
        """A message's text and blocks; blocks are None when absent, [] when emptied."""
        text = params.string("text")
        blocks = None
        if "blocks" in params.values and params.values["blocks"] is not None:
            blocks = params.decoded("blocks", error="invalid_blocks_format")
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format")
            if problems := check_message_blocks(blocks):
                raise SlackError("invalid_blocks", messages=problems)
            blocks = with_generated_ids(blocks)
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        return text, blocks

    def _member_channel(self, params: _Params) -> Channel:
        channel = self._channel(params.string("channel") or params.string("channel_id"))
        if not channel.bot_member:
            raise SlackError("not_in_channel")
        return channel

    def _bot_message(self, ts: str, text: str | None, blocks: list[JSON] | None) -> JSON:
        message: JSON = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text or "",
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": "Inkpost",
                "team_id": self.team_id,
                "deleted": False,
            },
        }
        if blocks:
            message["blocks"] = blocks
        return message

    def _post(self, method: str, channel: Channel, message: JSON) -> PostedMessage:
        posted = PostedMessage(method, channel.id, message["ts"], message, self.clock())
        self.posted.append(posted)
        self._messages[(channel.id, posted.ts)] = posted
        return posted

    def _m_chat_post_message(self, params: _Params) -> JSON:
        channel = self._member_channel(params)
        text, blocks = self._content(params)
        if not text and not blocks and not params.has("attachments"):
            raise SlackError("no_text")
        self._check_rate("chat.postMessage", channel.id)
        message = self._bot_message(self._next_ts(), text, blocks)
        if params.has("attachments"):
            message["attachments"] = params.decoded("attachments", error="invalid_attachments")
        if thread_ts := params.string("thread_ts"):
            message["thread_ts"] = thread_ts
        self._post("chat.postMessage", channel, message)
        return {"channel": channel.id, "ts": message["ts"], "message": message}

    def _m_chat_post_ephemeral(self, params: _Params) -> JSON:
        user_id = params.required("user", "user_not_found")
        if user_id not in self.users:
            raise SlackError("user_not_found")
        channel = self._member_channel(params)
        if user_id not in channel.members:
            raise SlackError("user_not_in_channel")
        text, blocks = self._content(params)
        if not text and not blocks and not params.has("attachments"):
            raise SlackError("no_text")
        ts = self._next_ts()
        self.ephemeral.append(
            EphemeralMessage(
                channel.id, user_id, ts, text, blocks, params.string("thread_ts"), self.clock()
            )
        )
        return {"message_ts": ts}

    def _m_chat_update(self, params: _Params) -> JSON:
        channel = self._channel(params.string("channel"))
        ts = params.required("ts", "message_not_found")
        posted = self._messages.get((channel.id, ts))
        if posted is None:
            raise SlackError("message_not_found")
        if posted.message.get("bot_id") != self.bot_id:
            raise SlackError("cant_update_message")
        text, blocks = self._content(params)
        if text is None and blocks is None and not params.has("attachments"):
            raise SlackError("no_text")
        message = {**posted.message, "edited": {"user": self.bot_user_id, "ts": self._next_ts()}}
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
            if not blocks:
                del message["blocks"]
        posted.edits.append(posted.message)
        posted.message = message
        return {"channel": channel.id, "ts": ts, "text": message["text"], "message": message}

    def _m_chat_get_permalink(self, params: _Params) -> JSON:
        channel = self._channel(params.string("channel"))
        ts = params.required("message_ts", "message_not_found")
        posted = self._messages.get((channel.id, ts))
        if posted is None:
            raise SlackError("message_not_found")
        link = f"{self.workspace_url}archives/{channel.id}/p{ts.replace('.', '')}"
        if posted.thread_ts and posted.thread_ts != ts:
            link += f"?thread_ts={posted.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    # -- methods: views

    def _view_argument(
        self, params: _Params, allowed: tuple[str, ...], *, view_id: str | None = None
    ) -> JSON:
        """The ``view`` argument, valid; ``view_id`` may keep its own external_id."""
        if not params.has("view"):
            raise _missing("view")
        view = params.decoded("view")
        if len(json.dumps(view)) > MAX_VIEW_BYTES:
            raise SlackError("view_too_large")
        if problems := check_view(view, allowed=allowed):
            raise SlackError("invalid_arguments", messages=problems)
        external_id = view.get("external_id")
        if external_id and self._external_ids.get(external_id, view_id) != view_id:
            raise SlackError("duplicate_external_id")
        return view

    def _exchange_trigger(self, params: _Params) -> _Trigger:
        trigger_id = params.string("trigger_id") or params.string("interactivity_pointer")
        if trigger_id is None:
            raise _missing("trigger_id")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - trigger.issued_at >= self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _store_view(
        self,
        spec: JSON,
        *,
        user_id: str,
        method: str,
        view_id: str | None = None,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
    ) -> JSON:
        view_id = view_id or self._new_id("V")
        view: JSON = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec["type"],
            "blocks": with_generated_ids(spec["blocks"]),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self._new_hash(),
            "clear_on_close": spec.get("clear_on_close", False),
            "notify_on_close": spec.get("notify_on_close", False),
            "close": spec.get("close"),
            "submit": spec.get("submit"),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id or view_id,
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        if spec["type"] == "modal":
            view["title"] = spec["title"]
        old = self._views.get(view_id)
        if old is not None and old["external_id"]:
            self._external_ids.pop(old["external_id"], None)
        if view["external_id"]:
            self._external_ids[view["external_id"]] = view_id
        self._views[view_id] = view
        self._view_users[view_id] = user_id
        self.views.append(ViewRecord(method, user_id, view, self.clock()))
        return view

    def _push_view(self, user_id: str, spec: JSON, method: str) -> JSON:
        stack = self._stacks.setdefault(user_id, [])
        view = self._store_view(
            spec,
            user_id=user_id,
            method=method,
            root_view_id=stack[0] if stack else None,
            previous_view_id=stack[-1] if stack else None,
        )
        stack.append(view["id"])
        return view

    def _replace_view(self, view_id: str, spec: JSON, method: str) -> JSON:
        old = self._views[view_id]
        spec = {"external_id": old["external_id"], **spec}
        return self._store_view(
            spec,
            user_id=self._view_users[view_id],
            method=method,
            view_id=view_id,
            root_view_id=old["root_view_id"],
            previous_view_id=old["previous_view_id"],
        )

    def _m_views_open(self, params: _Params) -> JSON:
        spec = self._view_argument(params, ("modal",))
        trigger = self._exchange_trigger(params)
        self._stacks[trigger.user_id] = []
        return {"view": self._push_view(trigger.user_id, spec, "views.open")}

    def _m_views_push(self, params: _Params) -> JSON:
        spec = self._view_argument(params, ("modal",))
        trigger = self._exchange_trigger(params)
        stack = self._stacks.get(trigger.user_id)
        if not stack:
            raise SlackError("not_found")
        if len(stack) >= MAX_VIEW_STACK:
            raise SlackError("push_limit_reached")
        return {"view": self._push_view(trigger.user_id, spec, "views.push")}

    def _m_views_update(self, params: _Params) -> JSON:
        external_id = params.string("external_id")
        view_id = params.string("view_id") or self._external_ids.get(external_id or "")
        if not params.has("view_id") and external_id is None:
            raise _missing("view_id")
        if view_id not in self._views:
            raise SlackError("not_found")
        old = self._views[view_id]
        spec = self._view_argument(params, (old["type"],), view_id=view_id)
        expected = params.string("hash")
        if expected is not None and expected != old["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self._replace_view(view_id, spec, "views.update")}

    def _m_views_publish(self, params: _Params) -> JSON:
        user_id = params.string("user_id")
        if user_id not in self.users:
            raise SlackError("invalid_arguments", messages=["invalid `user_id`"])
        current = self._homes.get(user_id)
        spec = self._view_argument(params, ("home",), view_id=current)
        expected = params.string("hash")
        if current and expected is not None and expected != self._views[current]["hash"]:
            raise SlackError("hash_conflict")
        if current:
            spec = {"external_id": self._views[current]["external_id"], **spec}
        view = self._store_view(spec, user_id=user_id, method="views.publish", view_id=current)
        self._homes[user_id] = view["id"]
        return {"view": view}

    # -- methods: people and conversations

    def _m_conversations_open(self, params: _Params) -> JSON:
        if params.has("channel"):
            channel, already = self._channel(params.string("channel")), True
        else:
            users = [u for u in (params.string("users") or "").split(",") if u]
            if not users:
                raise SlackError("users_list_not_supplied")
            if any(u not in self.users for u in users):
                raise SlackError("user_not_found")
            if len(users) == 1:
                channel, already = self._open_im(users[0])
            else:
                channel = Channel(
                    self._new_id("G"), "mpdm-" + "--".join(users), set(users), is_mpim=True
                )
                self.channels[channel.id] = channel
                already = False
        result: JSON = {
            "channel": channel.to_dict() if params.flag("return_im") else {"id": channel.id}
        }
        if already:
            result.update(no_op=True, already_open=True)
        return result

    def _m_users_info(self, params: _Params) -> JSON:
        user = self.users.get(params.string("user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_dict()}

    # -- methods: files

    def _m_files_get_upload_url_external(self, params: _Params) -> JSON:
        filename = params.required("filename")
        length = params.integer("length")
        if length is None:
            raise _missing("length")
        if length <= 0:
            raise SlackError("missing_argument")
        if length > self.max_upload_bytes:
            raise SlackError("file_upload_size_restricted")
        pending = _PendingUpload(self._new_id("F"), filename, length)
        upload_id = secrets.token_urlsafe(24)
        self._uploads[upload_id] = pending
        return {"upload_url": f"{self.url}/upload/v1/{upload_id}", "file_id": pending.file_id}

    def _m_files_complete_upload_external(self, params: _Params) -> JSON:
        entries = params.decoded("files")
        if not isinstance(entries, list) or not entries:
            raise _missing("files")
        by_file_id = {p.file_id: (key, p) for key, p in self._uploads.items()}
        found: list[tuple[str, _PendingUpload, JSON]] = []
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("id") not in by_file_id:
                raise SlackError("file_not_found")
            key, pending = by_file_id[entry["id"]]
            if pending.data is None:
                raise SlackError("file_not_found")
            found.append((key, pending, entry))
        channel_ids = [c for c in (params.string("channels") or "").split(",") if c]
        if params.has("channel_id"):
            channel_ids.append(params.required("channel_id"))
        channels = [self._channel(c) for c in channel_ids]
        if any(not c.bot_member for c in channels):
            raise SlackError("not_in_channel")
        stored: list[StoredFile] = []
        for key, pending, entry in found:
            del self._uploads[key]
            file = StoredFile(
                pending.file_id,
                pending.filename,
                entry.get("title") or pending.filename,
                _guess_mimetype(pending.filename),
                pending.data or b"",
                self.bot_user_id,
                int(self.wall_clock()),
            )
            self._files[file.id] = file
            self.uploaded_files.append(file)
            stored.append(file)
        for channel in channels:
            message = self._bot_message(self._next_ts(), params.string("initial_comment"), None)
            if thread_ts := params.string("thread_ts"):
                message["thread_ts"] = thread_ts
            for file in stored:
                self._share(file, channel, message["ts"], self.bot_user_id)
            message.update(files=[self.file_dict(f) for f in stored], upload=True)
            self._post("files.completeUploadExternal", channel, message)
        return {"files": [self.file_dict(f) for f in stored]}

    def _m_files_info(self, params: _Params) -> JSON:
        stored = self._files.get(params.string("file") or "")
        if stored is None:
            raise SlackError("file_not_found")
        return {
            "file": self.file_dict(stored),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }


def _guess_mimetype(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackApi]:
    """A running fake Slack Web API on 127.0.0.1, stopped after the test."""
    async with FakeSlackApi() as fake:
        yield fake
    if fake.internal_errors:
        raise AssertionError(f"the fake Slack API failed: {fake.internal_errors!r}")
    if fake.rejected_responses:
        raise AssertionError(
            f"Slack would have refused the app's answers: {fake.rejected_responses}"
        )
