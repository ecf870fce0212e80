"""Plays Slack's side of the HTTP conversation with an app: commands, interactions, events.

``SlackSender`` POSTs to ``{base_url}/slack/events`` what Slack would: slash commands as a
form, interactions as a form with a ``payload=`` JSON field, events as JSON, each signed with
``X-Slack-Request-Timestamp`` and ``X-Slack-Signature = v0=hmac_sha256(secret,
"v0:{ts}:{body}")`` exactly as ``slack_sdk.signature.SignatureVerifier`` checks. Given a
``FakeSlackApi`` it takes trigger_ids and response_urls from it (so ``views.open`` and
``respond`` work), fills payloads with the fake's users, and applies the app's answers the
way Slack would: a slash command's answer becomes a message in ``fake.responses``, a
view_submission's ``response_action`` closes, updates or pushes the modal.

Each method returns the app's ``aiohttp.ClientResponse`` with the body already read, so
``resp.status``, ``await resp.text()`` and ``await resp.json()`` work after the call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack_api import (
    DEFAULT_TEAM_ID,
    FakeSlackApi,
    PostedMessage,
    find_element,
)

JSON = dict[str, Any]
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""Slack sends JSON without spaces."""
DEFAULT_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VERIFICATION_TOKEN = "InkpostLegacyVerificationToken"
ACK_DEADLINE = 3.0
"""Slack shows the user an error (and retries events) when an app answers later."""

_TEXT_INPUTS = ("plain_text_input", "email_text_input", "url_text_input", "number_input")
_ONE_OPTION = ("static_select", "external_select", "radio_buttons", "overflow")
_MANY_OPTIONS = ("multi_static_select", "multi_external_select", "checkboxes")
_PICKED = {
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "multi_users_select": "selected_users",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}


class SlackSender:
    """Sends signed Slack requests to the app at ``base_url``; use as ``async with``."""

    def __init__(
        self,
        base_url: str,
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        *,
        team_id: str = DEFAULT_TEAM_ID,
        fake: FakeSlackApi | None = None,
        session: aiohttp.ClientSession | None = None,
        path: str = "/slack/events",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = base_url.rstrip("/") + path
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.fake = fake
        self.clock = clock
        """Unix seconds for the request timestamp."""
        self.late_acks: list[tuple[str, float]] = []
        """(request kind, seconds) for answers slower than Slack's 3 s."""
        self._session = session
        self._owns_session = session is None
        self.last_sent: tuple[bytes, dict[str, str]] | None = None
        """The last request's exact body and headers, as an eavesdropper could keep them."""

    async def __aenter__(self) -> SlackSender:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- signing

    def sign(self, body: str, *, timestamp: int | None = None) -> dict[str, str]:
        """Slack's signature headers for ``body`` (the exact bytes sent, as text)."""
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        base = f"v0:{ts}:{body}".encode()
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    # -- slash commands

    async def command(
        self,
        user_id: str,
        text: str = "",
        *,
        command: str = "/inkpost",
        channel_id: str | None = None,
        response_url: str | None = None,
        bad_signature: bool = False,
        age: float = 0.0,
    ) -> aiohttp.ClientResponse:
        """A slash command; by default typed in the user's DM with the bot."""
        channel_id = channel_id or self._default_channel(user_id)
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self._team_domain,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": self._app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self._response_url(user_id, channel_id, "commands"),
            "trigger_id": self._trigger(user_id),
        }
        response = await self._send(
            "command",
            urlencode(form),
            "application/x-www-form-urlencoded",
            bad_signature=bad_signature,
            age=age,
        )
        body = await _json_body(response)
        if self.fake is not None and response.status == 200 and body:
            self.fake.accept_ack_message(user_id=user_id, channel_id=channel_id, body=body)
        return response

    # -- interactions

    async def block_action(
        self,
        user_id: str,
        action_id: str,
        value: Any = None,
        *,
        message: PostedMessage | JSON | None = None,
        view: JSON | None = None,
        channel_id: str | None = None,
        bad_signature: bool = False,
        age: float = 0.0,
    ) -> aiohttp.ClientResponse:
        """The user clicks or picks ``action_id`` on a message or in a view.

        The element must be on the message or view, as a real client only offers what is
        on screen. ``value`` is a button's value (default: the button's own), an option's
        value for selects, a date, a user id…
        """
        payload = self._interaction("block_actions", user_id)
        if view is not None:
            view = self._on_screen(user_id, view)
            blocks, view_id = view["blocks"], view["id"]
            payload.update(container={"type": "view", "view_id": view_id}, view=view)
            payload["trigger_id"] = self._trigger(user_id, view_id=view_id)
        elif message is not None:
            if isinstance(message, PostedMessage):
                channel_id, message = message.channel, message.message
            if channel_id is None:
                raise ValueError("a message dict needs channel_id=")
            blocks, ts = message.get("blocks", []), message["ts"]
            payload.update(
                container={
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": channel_id,
                    "is_ephemeral": False,
                },
                channel={"id": channel_id, "name": self._channel_name(channel_id)},
                message=message,
                state={"values": {}},
                response_url=self._response_url(user_id, channel_id, "actions", ts),
                trigger_id=self._trigger(user_id),
            )
        else:
            raise ValueError("block_action needs message= or view=")
        found = find_element(blocks, action_id)
        if found is None:
            raise ValueError(f"no element with action_id {action_id!r} on screen")
        block_id, element = found
        if element["type"] == "button":
            action: JSON = {
                "type": "button",
                "text": element["text"],
                "value": element.get("value") if value is None else value,
            }
        else:
            action = _state_entry(element, value)
        action.update(action_id=action_id, block_id=block_id, action_ts=self._action_ts())
        payload["actions"] = [action]
        return await self._send_interaction("block_actions", payload, bad_signature, age)

    async def block_suggestion(
        self,
        user_id: str,
        action_id: str,
        typed: str,
        *,
        view: JSON,
        bad_signature: bool = False,
        age: float = 0.0,
    ) -> JSON:
        """The user types ``typed`` into the external select ``action_id`` of a view; returns
        the app's answer (``options`` or ``option_groups``), checked as Slack checks it."""
        view = self._on_screen(user_id, view)
        found = find_element(view["blocks"], action_id)
        if found is None:
            raise ValueError(f"no element with action_id {action_id!r} on screen")
        block_id, element = found
        if element["type"] not in ("external_select", "multi_external_select"):
            raise ValueError(f"{action_id!r} is a {element['type']}, not an external select")
        payload = self._interaction("block_suggestion", user_id)
        payload.update(
            container={"type": "view", "view_id": view["id"]},
            view=view,
            action_id=action_id,
            block_id=block_id,
            value=typed,
        )
        response = await self._send_interaction("block_suggestion", payload, bad_signature, age)
        if response.status != 200:
            raise AssertionError(f"block_suggestion answered {response.status}")
        body = await _json_body(response) or {}
        options = body.get("options")
        groups = body.get("option_groups")
        if (options is None) == (groups is None):
            raise AssertionError(f"block_suggestion needs options or option_groups: {body}")
        flat = options if options is not None else [o for g in groups for o in g["options"]]
        if len(flat) > 100:
            raise AssertionError("Slack shows at most 100 options")
        for option in flat:
            text = option.get("text") or {}
            if text.get("type") != "plain_text" or not 1 <= len(text.get("text", "")) <= 75:
                raise AssertionError(f"bad option text: {option}")
            if not 1 <= len(str(option.get("value", ""))) <= 150:
                raise AssertionError(f"bad option value: {option}")
        return body

    async def view_submission(
        self,
        user_id: str,
        view: JSON,
        values: Mapping[str, Any],
        *,
        bad_signature: bool = False,
        age: float = 0.0,
    ) -> aiohttp.ClientResponse:
        """The user submits a modal with ``values`` keyed by action_id.

        Every input element appears in ``view.state.values`` as Slack sends it: text inputs
        as ``value``, selects as ``selected_option(s)`` (the offered option with that
        value), pickers as ``selected_date``/``selected_user``…, file inputs as ``files``
        (file dicts from ``fake.user_uploads_file``). A required input left empty raises
        ValueError: Slack's client would not let the user submit.
        """
        view = self._on_screen(user_id, view)
        state = _view_state(view, values)
        payload = self._interaction("view_submission", user_id)
        payload.update(
            view={**view, "state": {"values": state}},
            response_urls=[],
            trigger_id=self._trigger(user_id, view_id=view["id"]),
        )
        response = await self._send_interaction("view_submission", payload, bad_signature, age)
        if self.fake is not None and response.status == 200:
            body = await _json_body(response)
            self.fake.apply_view_response(user_id=user_id, view_id=view["id"], body=body)
        return response

    async def view_closed(
        self, user_id: str, view: JSON, *, bad_signature: bool = False, age: float = 0.0
    ) -> aiohttp.ClientResponse:
        """The user closes a modal (sent only when it has ``notify_on_close``)."""
        view = self._on_screen(user_id, view)
        payload = self._interaction("view_closed", user_id)
        payload.update(view=view, is_cleared=False)
        if self.fake is not None:
            self.fake.apply_view_response(user_id=user_id, view_id=view["id"], body=None)
        return await self._send_interaction("view_closed", payload, bad_signature, age)

    async def message_shortcut(
        self,
        user_id: str,
        callback_id: str,
        message: PostedMessage | JSON,
        *,
        channel_id: str | None = None,
        bad_signature: bool = False,
        age: float = 0.0,
    ) -> aiohttp.ClientResponse:
        """The user runs a message shortcut on ``message`` (e.g. one with files).

        ``message`` is a ``PostedMessage`` or the event dict ``fake.user_posts_message``
        returns (its channel is taken from it).
        """
        if isinstance(message, PostedMessage):
            channel_id, message = message.channel, message.message
        channel_id = channel_id or message.get("channel")
        if channel_id is None:
            raise ValueError("a message dict needs channel_id=")
        message = {
            k: v for k, v in message.items() if k not in ("channel", "event_ts", "channel_type")
        }
        payload = self._interaction("message_action", user_id)
        payload.update(
            callback_id=callback_id,
            trigger_id=self._trigger(user_id),
            action_ts=self._action_ts(),
            channel={"id": channel_id, "name": self._channel_name(channel_id)},
            message_ts=message["ts"],
            message=message,
            response_url=self._response_url(user_id, channel_id, "actions"),
        )
        return await self._send_interaction("message_action", payload, bad_signature, age)

    # -- events

    async def event(
        self,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        bad_signature: bool = False,
        age: float = 0.0,
    ) -> aiohttp.ClientResponse:
        """An Events API ``event_callback``; resend with the same event_id and ``retry_num``
        (and ``retry_reason``, e.g. "http_timeout") to play Slack's retries."""
        now = int(self.clock())
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self._app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self._bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }
        headers = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return await self._send(
            "event",
            _compact(envelope),
            "application/json",
            bad_signature=bad_signature,
            age=age,
            extra_headers=headers,
        )

    async def url_verification(
        self, challenge: str | None = None, *, bad_signature: bool = False, age: float = 0.0
    ) -> aiohttp.ClientResponse:
        """The handshake Slack sends when the Request URL is saved; the app echoes it."""
        body = {
            "token": VERIFICATION_TOKEN,
            "type": "url_verification",
            "challenge": challenge or secrets.token_urlsafe(32),
        }
        return await self._send(
            "url_verification",
            _compact(body),
            "application/json",
            bad_signature=bad_signature,
            age=age,
        )

    # -- internals

    @property
    def _team_domain(self) -> str:
        return self.fake.team_domain if self.fake else "inkpost-test"

    @property
    def _app_id(self) -> str:
        return self.fake.app_id if self.fake else "A0APP"

    @property
    def _bot_user_id(self) -> str:
        return self.fake.bot_user_id if self.fake else "U0BOT"

    def _user_name(self, user_id: str) -> str:
        return self.fake.user(user_id).name if self.fake else user_id.lower()

    def _payload_user(self, user_id: str) -> JSON:
        if self.fake is not None:
            return self.fake.user(user_id).to_payload_user()
        return {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": self.team_id,
        }

    def _default_channel(self, user_id: str) -> str:
        return self.fake.dm_channel(user_id) if self.fake else f"D{user_id.lstrip('U')}"

    def _channel_name(self, channel_id: str) -> str:
        channel = self.fake.channels.get(channel_id) if self.fake else None
        if channel_id.startswith("D") or (channel is not None and channel.is_im):
            return "directmessage"
        return channel.name if channel is not None else channel_id.lower()

    def _trigger(self, user_id: str, *, view_id: str | None = None) -> str:
        if self.fake is not None:
            return self.fake.issue_trigger(user_id, view_id=view_id)
        return f"{int(self.clock())}.{self.team_id[1:]}.{secrets.token_hex(16)}"

    def _response_url(
        self, user_id: str, channel_id: str, kind: str, message_ts: str | None = None
    ) -> str:
        if self.fake is not None:
            return self.fake.issue_response_url(
                user_id=user_id, channel_id=channel_id, kind=kind, message_ts=message_ts
            )
        return f"https://hooks.slack.com/{kind}/{self.team_id}/1/{secrets.token_urlsafe(18)}"

    def _action_ts(self) -> str:
        return f"{self.clock():.6f}"

    def _on_screen(self, user_id: str, view: JSON) -> JSON:
        """The view as the fake holds it now (a test may pass a stale copy), which must be
        the user's open modal or Home tab: a real client only acts on what it shows."""
        if self.fake is None or "id" not in view:
            return json.loads(json.dumps(view))
        shown = self.fake.open_views(user_id)[-1:] + [self.fake.home_view(user_id) or {}]
        current = next((v for v in shown if v.get("id") == view["id"]), None)
        if current is None:
            raise ValueError(f"view {view['id']} is not on {user_id}'s screen")
        return json.loads(json.dumps(current))

    def _interaction(self, kind: str, user_id: str) -> JSON:
        return {
            "type": kind,
            "team": {"id": self.team_id, "domain": self._team_domain},
            "user": self._payload_user(user_id),
            "api_app_id": self._app_id,
            "token": VERIFICATION_TOKEN,
            "is_enterprise_install": False,
            "enterprise": None,
        }

    async def _send_interaction(
        self, kind: str, payload: JSON, bad_signature: bool, age: float
    ) -> aiohttp.ClientResponse:
        body = urlencode({"payload": _compact(payload)})
        return await self._send(
            kind, body, "application/x-www-form-urlencoded", bad_signature=bad_signature, age=age
        )

    async def _send(
        self,
        kind: str,
        body: str,
        content_type: str,
        *,
        bad_signature: bool,
        age: float,
        extra_headers: Mapping[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        headers = self.sign(body, timestamp=int(self.clock() - age))
        if bad_signature:
            headers["X-Slack-Signature"] = "v0=" + "0" * 64
        headers.update(
            {
                "Content-Type": content_type,
                "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            }
        )
        headers.update(extra_headers or {})
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.last_sent = (body.encode(), dict(headers))
        started = time.monotonic()
        async with self._session.post(self.url, data=body.encode(), headers=headers) as response:
            await response.read()
        elapsed = time.monotonic() - started
        if elapsed > ACK_DEADLINE:
            self.late_acks.append((kind, elapsed))
        return response


async def replay(sender: SlackSender) -> aiohttp.ClientResponse:
    """Send ``sender``'s last request again, byte for byte: a captured request replayed
    within its five minutes."""
    assert sender.last_sent is not None, "nothing was sent yet"
    body, headers = sender.last_sent
    async with (
        aiohttp.ClientSession() as session,
        session.post(sender.url, data=body, headers=headers) as response,
    ):
        await response.read()
    return response


async def _json_body(response: aiohttp.ClientResponse) -> JSON | None:
    """The answer's JSON object, or None for an empty or non-JSON body."""
    text = (await response.text()).strip()
    if not text:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return {"text": text} if response.status == 200 else None
    return body if isinstance(body, dict) else None


# --- view.state.values ------------------------------------------------------------------------


def _view_state(view: JSON, values: Mapping[str, Any]) -> JSON:
    """``{block_id: {action_id: entry}}`` for every input element and every given value."""
    state: JSON = {}
    unknown = set(values)
    for block in view.get("blocks", []):
        candidates: list[JSON] = []
        if block.get("type") == "input":
            candidates = [block["element"]]
        elif block.get("type") == "actions":
            candidates = list(block.get("elements", []))
        elif "accessory" in block:
            candidates = [block["accessory"]]
        for element in candidates:
            action_id = element.get("action_id")
            if element.get("type") in ("button", "overflow", "image", "workflow_button"):
                continue
            if block.get("type") != "input" and action_id not in values:
                continue
            unknown.discard(action_id)
            value = values.get(action_id)
            if block.get("type") == "input" and not block.get("optional") and _empty(value):
                label = block["label"]["text"]
                raise ValueError(f"required input {label!r} ({action_id}) is empty")
            _check_length(element, value)
            entry = _state_entry(element, value)
            state.setdefault(block.get("block_id", ""), {})[action_id] = entry
    if unknown:
        raise ValueError(f"no stateful element in the view for {sorted(unknown)}")
    return state


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def _check_length(element: JSON, value: Any) -> None:
    if element.get("type") != "plain_text_input" or not isinstance(value, str):
        return
    low, high = element.get("min_length", 0), element.get("max_length", 3000)
    if not low <= len(value) <= high:
        raise ValueError(
            f"{len(value)} characters for {element['action_id']}: Slack allows {low}..{high}"
        )


def _state_entry(element: JSON, value: Any) -> JSON:
    """One element's value as Slack reports it in state values and block_actions."""
    kind = element["type"]
    entry: JSON = {"type": kind}
    if kind in _TEXT_INPUTS:
        entry["value"] = None if value is None else str(value)
    elif kind in _ONE_OPTION:
        entry["selected_option"] = None if value is None else _option(element, value)
    elif kind in _MANY_OPTIONS:
        entry["selected_options"] = [_option(element, v) for v in value or []]
    elif kind in _PICKED:
        entry[_PICKED[kind]] = _picked(kind, value)
    elif kind == "file_input":
        entry["files"] = list(value or [])
    elif kind == "rich_text_input":
        entry["rich_value"] = _rich_value(value)
    else:
        raise ValueError(f"the sender cannot fill a {kind} element")
    return entry


def _picked(kind: str, value: Any) -> Any:
    if kind.startswith("multi_"):
        return list(value or [])
    if isinstance(value, dt.datetime):
        return int(value.timestamp()) if kind == "datetimepicker" else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    return value


def _option(element: JSON, value: Any) -> JSON:
    """The option with ``value`` among those offered; external selects make one up."""
    if isinstance(value, dict):
        return value
    if element["type"].endswith("external_select"):
        return {
            "text": {"type": "plain_text", "text": str(value), "emoji": True},
            "value": str(value),
        }
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options", [])
    for option in options:
        if option.get("value") == value:
            return option
    offered = [o.get("value") for o in options]
    raise ValueError(f"{element.get('action_id')} offers no option {value!r}: {offered}")


def _rich_value(value: Any) -> JSON | None:
    if value is None or isinstance(value, dict):
        return value
    return {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": str(value)}]}
        ],
    }
