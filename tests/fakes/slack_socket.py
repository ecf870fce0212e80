"""Slack's side of Socket Mode, served by ``FakeSlackApi`` (as ``fake.socket``).

The wire format is Slack's: ``apps.connections.open`` (with the app-level token
``xapp-…`` as Bearer) answers ``{"ok": true, "url": "ws://…/link/?ticket=…&app_id=…"}``;
the ticket admits one WebSocket connection, which gets ``{"type": "hello", …}`` first and
then envelopes ``{"envelope_id", "type": "slash_commands" | "interactive" | "events_api",
"payload", "accepts_response_payload", ["retry_attempt", "retry_reason"]}``. The app
answers each with ``{"envelope_id", ["payload"]}``; the answer's latency is measured
against Slack's 3 s. ``disconnect()`` plays Slack asking for a refresh: ``{"type":
"disconnect", "reason": "refresh_requested"}``, after which the connection gets no more
envelopes and the client is expected to open a new one.

Tests push what users do with ``command``, ``interaction`` and ``event`` (each waits for
the ack and returns it) and apply the ack as Slack would: a slash command's payload
becomes a message in ``fake.responses``, a view_submission's ``response_action`` changes
the modal. Envelope ids never repeat, as on Slack: a redelivery is a new envelope with the
same payload and a higher ``retry_attempt``.

Deviations: envelopes go to the newest connection rather than spread over all of them;
Slack does not redeliver an unacknowledged envelope by itself (tests send the retry);
``apps.connections.open`` is not rate limited.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.slack_api import FakeSlackApi

JSON = dict[str, Any]
DEFAULT_APP_TOKEN = "xapp-1-A0APP-3000000003-InkpostFakeAppLevelToken01"
ACK_DEADLINE = 3.0
"""Slack shows the user an error (and retries events) when an ack comes later."""
WAIT = 5.0
"""How long a test waits for a connection or an ack before failing."""
_RESPONDING_INTERACTIONS = ("view_submission", "block_suggestion")
"""Interactions whose ack may carry an answer (response_action, options)."""


@dataclass(frozen=True)
class SocketAck:
    """The app's acknowledgement of one envelope."""

    envelope_id: str
    type: str
    payload: JSON | None
    seconds: float
    """From sending the envelope to receiving the ack."""
    connection: int


@dataclass
class SocketConnection:
    """One WebSocket connection the app opened with a ticket."""

    number: int
    ws: web.WebSocketResponse
    disconnect_requested: bool = False
    closed: bool = False
    received: list[JSON] = field(default_factory=list)
    """Everything the app sent on it, in order."""

    @property
    def live(self) -> bool:
        return not self.closed and not self.disconnect_requested


@dataclass
class _Pending:
    envelope: JSON
    sent_at: float
    connection: int
    answer: asyncio.Future[SocketAck]


class SocketMode:
    """Socket Mode for the fake's one app: tickets, connections, envelopes and acks."""

    def __init__(self, fake: FakeSlackApi, *, app_token: str = DEFAULT_APP_TOKEN) -> None:
        self.fake = fake
        self.app_token = app_token
        self.connections: list[SocketConnection] = []
        self.acks: list[SocketAck] = []
        self.late_acks: list[SocketAck] = []
        """Acks slower than Slack's 3 s."""
        self.envelopes: dict[str, JSON] = {}
        """Every envelope sent, by envelope_id."""
        self._tickets: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        self._numbers = itertools.count(1)

    # -- what the fake serves

    def open_connection(self) -> JSON:
        """``apps.connections.open`` (the token was checked): a single-use WebSocket URL."""
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        ws_url = self.fake.url.replace("http://", "ws://", 1)
        return {"url": f"{ws_url}/link/?ticket={ticket}&app_id={self.fake.app_id}"}

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """``GET /link/?ticket=…``: one connection per ticket, hello first, then acks in."""
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or used ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(timeout=1.0)
        await ws.prepare(request)
        connection = SocketConnection(next(self._numbers), ws)
        self.connections.append(connection)
        await ws.send_json(self._hello())
        self.fake.notify()
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._receive(connection, message.data)
        finally:
            connection.closed = True
            self.fake.notify()
        return ws

    async def close(self) -> None:
        for connection in self.connections:
            if not connection.closed:
                await connection.ws.close()

    # -- what tests do

    @property
    def live_connections(self) -> list[SocketConnection]:
        return [c for c in self.connections if c.live]

    async def wait_connected(self, count: int = 1) -> SocketConnection:
        """Wait until the app has opened ``count`` connections in all and one is live."""
        await self.fake.wait_for(
            lambda: len(self.connections) >= count and self.live_connections,
            timeout=WAIT,
            what=f"Socket Mode connection #{count}",
        )
        return self.live_connections[-1]

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack asks the app to move to a new connection (as it does every few hours)."""
        for connection in self.live_connections:
            connection.disconnect_requested = True
            await connection.ws.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
            )

    async def command(
        self,
        user_id: str,
        text: str = "",
        *,
        command: str = "/inkpost",
        channel_id: str | None = None,
    ) -> SocketAck:
        """The user types a slash command; by default in their DM with the bot."""
        fake = self.fake
        channel_id = channel_id or fake.dm_channel(user_id)
        channel = fake.channels.get(channel_id)
        payload = {
            "token": "InkpostLegacyVerificationToken",
            "team_id": fake.team_id,
            "team_domain": fake.team_domain,
            "channel_id": channel_id,
            "channel_name": "directmessage" if channel is None or channel.is_im else channel.name,
            "user_id": user_id,
            "user_name": fake.user(user_id).name,
            "command": command,
            "text": text,
            "api_app_id": fake.app_id,
            "is_enterprise_install": "false",
            "response_url": fake.issue_response_url(
                user_id=user_id, channel_id=channel_id, kind="commands"
            ),
            "trigger_id": fake.issue_trigger(user_id),
        }
        ack = await self.send("slash_commands", payload, accepts_response_payload=True)
        if ack.payload:
            fake.accept_ack_message(user_id=user_id, channel_id=channel_id, body=ack.payload)
        return ack

    async def interaction(self, payload: JSON) -> SocketAck:
        """An interactivity payload (block_actions, view_submission, shortcut…), as
        ``SlackSender`` builds them; a view_submission's answer is applied to the modal."""
        kind = payload.get("type")
        ack = await self.send(
            "interactive", payload, accepts_response_payload=kind in _RESPONDING_INTERACTIONS
        )
        if kind == "view_submission":
            self.fake.apply_view_response(
                user_id=payload["user"]["id"], view_id=payload["view"]["id"], body=ack.payload
            )
        return ack

    async def event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> SocketAck:
        """An Events API event; send it again with the same ``event_id`` and a higher
        ``retry_attempt`` (reason e.g. "timeout") to play Slack's redelivery."""
        fake = self.fake
        payload = {
            "token": "InkpostLegacyVerificationToken",
            "team_id": fake.team_id,
            "context_team_id": fake.team_id,
            "context_enterprise_id": None,
            "api_app_id": fake.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(fake.wall_clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": fake.team_id,
                    "user_id": fake.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }
        return await self.send(
            "events_api", payload, retry_attempt=retry_attempt, retry_reason=retry_reason
        )

    async def redeliver(self, envelope_id: str, *, retry_reason: str = "timeout") -> SocketAck:
        """Send an envelope's payload again as Slack retries it: a new envelope with the
        next ``retry_attempt``."""
        old = self.envelopes[envelope_id]
        return await self.send(
            old["type"],
            old["payload"],
            accepts_response_payload=old["accepts_response_payload"],
            retry_attempt=old.get("retry_attempt", 0) + 1,
            retry_reason=retry_reason,
        )

    async def send(
        self,
        kind: str,
        payload: JSON,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> SocketAck:
        """Send one envelope on the newest live connection and wait for its ack."""
        connection = await self.wait_connected()
        envelope: JSON = {
            "envelope_id": str(uuid.uuid4()),
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if retry_attempt is not None:
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason or "")
        answer: asyncio.Future[SocketAck] = asyncio.get_running_loop().create_future()
        pending = _Pending(envelope, time.monotonic(), connection.number, answer)
        self._pending[envelope["envelope_id"]] = pending
        self.envelopes[envelope["envelope_id"]] = envelope
        await connection.ws.send_json(envelope)
        try:
            async with asyncio.timeout(WAIT):
                return await answer
        except TimeoutError:
            raise AssertionError(
                f"no ack for the {kind} envelope within {WAIT}s; "
                f"last requests: {self.fake.recent_requests()}"
            ) from None
        finally:
            self._pending.pop(envelope["envelope_id"], None)

    # -- internals

    def _hello(self) -> JSON:
        return {
            "type": "hello",
            "num_connections": len(self.live_connections),
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.fake.app_id},
        }

    def _receive(self, connection: SocketConnection, data: str) -> None:
        """An ack from the app, checked the way Slack reads it."""
        try:
            message = json.loads(data)
        except ValueError:
            self.fake.rejected_responses.append(f"Socket Mode: not JSON: {data[:100]!r}")
            return
        if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
            self.fake.rejected_responses.append(f"Socket Mode: no envelope_id in {message!r}")
            return
        connection.received.append(message)
        pending = self._pending.get(message["envelope_id"])
        if pending is None or pending.answer.done():
            self.fake.rejected_responses.append(
                f"Socket Mode: ack for an unknown or answered envelope {message['envelope_id']}"
            )
            return
        payload = message.get("payload")
        if payload is not None and not pending.envelope["accepts_response_payload"]:
            payload = None  # Slack ignores an answer the envelope did not ask for
        ack = SocketAck(
            message["envelope_id"],
            pending.envelope["type"],
            payload,
            time.monotonic() - pending.sent_at,
            connection.number,
        )
        self.acks.append(ack)
        if ack.seconds > ACK_DEADLINE:
            self.late_acks.append(ack)
        pending.answer.set_result(ack)
        self.fake.notify()
