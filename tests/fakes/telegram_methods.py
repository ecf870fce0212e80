"""The Bot API methods the fake answers, each as Telegram would, on a ``BotState``.

A handler takes the call's ``Params`` and returns the ``result`` of Telegram's answer, or
raises ``ApiError`` with Telegram's description. Handlers are named ``_m_<method>`` and
dispatched case-insensitively, as Telegram does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.telegram_formatting import check_reply_markup, parse_formatted
from tests.fakes.telegram_state import (
    DEFAULT_UPDATE_TYPES,
    BotState,
    CallbackAnswer,
    StoredFile,
    Webhook,
)
from tests.fakes.telegram_wire import JSON, LOOPBACK, ApiError, Params, Upload, bad_request

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
METHODS = (
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "sendDocument",
    "getFile",
    "setMyCommands",
    "getMyCommands",
    "deleteMessage",
    "sendChatAction",
    "setChatMenuButton",
    "getChatMenuButton",
    "getChat",
)

Handler = Callable[[Params], Awaitable[Any]]


class BotMethods:
    """The methods of the Bot API that the fake implements, on one bot's state."""

    def __init__(self, state: BotState) -> None:
        self.state = state

    def handlers(self) -> dict[str, Handler]:
        """Handlers by lower-case method name."""
        return {name.lower(): getattr(self, f"_m_{name}") for name in METHODS}

    # -- checks shared by methods

    def _chat(self, chat_id: int) -> JSON:
        chat = self.state.chat(chat_id)
        assert chat is not None, "checked by _target_chat"
        return chat

    def _target_chat(self, params: Params) -> int:
        raw = params.raw("chat_id")
        if raw in (None, ""):
            raise bad_request("chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError) as e:
            raise bad_request("chat not found") from e
        if self.state.chat(chat_id) is None:
            raise bad_request("chat not found")
        if self.state.is_blocked(chat_id):
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _reply_target(self, chat_id: int, params: Params) -> JSON | None:
        reply = params.decoded("reply_parameters") or {}
        message_id = reply.get("message_id") or params.integer("reply_to_message_id")
        if not message_id:
            return None
        try:
            key = (int(reply.get("chat_id", chat_id)), int(message_id))
        except (TypeError, ValueError) as e:
            raise bad_request("message to be replied not found") from e
        message = self.state.message(*key)
        if message is None:
            allowed = reply.get("allow_sending_without_reply") or params.flag(
                "allow_sending_without_reply"
            )
            if allowed:
                return None
            raise bad_request("message to be replied not found")
        return {k: v for k, v in message.items() if k != "reply_to_message"}

    def _markup(self, params: Params) -> JSON | None:
        markup = params.decoded("reply_markup")
        if markup is None:
            return None
        check_reply_markup(markup)
        return markup if "inline_keyboard" in markup else None

    def _bot_message(self, params: Params, *, editable: str) -> JSON:
        if params.has("inline_message_id"):
            raise bad_request("the fake does not support inline messages")
        chat_id = self._target_chat(params)
        message_id = params.integer("message_id", required=True)
        message = self.state.message(chat_id, message_id or 0)
        if message is None:
            raise bad_request(f"message to {editable} not found")
        if message["from"]["id"] != self.state.bot_user["id"] and editable == "edit":
            raise bad_request("message can't be edited")
        return message

    # -- Bot API methods (``_m_<name>``; dispatched case-insensitively)

    async def _m_getMe(self, params: Params) -> JSON:
        return self.state.bot_user

    async def _m_getUpdates(self, params: Params) -> list[JSON]:
        if self.state.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.integer("offset")
        limit = min(max(params.integer("limit") or 100, 1), 100)
        timeout = max(params.integer("timeout") or 0, 0)
        allowed = params.decoded("allowed_updates")
        if allowed is not None:
            self.state.allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
        generation = self.state.new_poll()
        self.state.confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.state.poll_replaced(generation):
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            batch = self.state.deliverable()[:limit]
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self.state.closing:
                for queued in batch:
                    queued.forced = False
                return [queued.update for queued in batch]
            await self.state.wait_change(remaining)

    async def _m_setWebhook(self, params: Params) -> bool:
        url = params.string("url") or ""
        if not url:
            return await self._m_deleteWebhook(params)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in (
            LOOPBACK,
            "localhost",
        ):
            raise bad_request("bad webhook: this fake delivers only to http(s)://127.0.0.1 URLs")
        secret = params.string("secret_token")
        if secret is not None and (
            len(secret) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)
        ):
            raise bad_request("secret token contains unallowed characters")
        allowed = params.decoded("allowed_updates")
        if allowed is not None:
            self.state.allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
        if params.flag("drop_pending_updates"):
            self.state.drop_pending()
        self.state.webhook = Webhook(url, secret, params.integer("max_connections") or 40)
        self.state.new_poll()
        self.state.notify()
        return True

    async def _m_deleteWebhook(self, params: Params) -> bool:
        self.state.webhook = None
        if params.flag("drop_pending_updates"):
            self.state.drop_pending()
        self.state.notify()
        return True

    async def _m_getWebhookInfo(self, params: Params) -> JSON:
        hook = self.state.webhook
        info: JSON = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.state.pending_updates),
        }
        if hook:
            info["max_connections"] = hook.max_connections
            info["allowed_updates"] = sorted(self.state.allowed_updates)
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _m_sendMessage(self, params: Params) -> JSON:
        chat_id = self._target_chat(params)
        text, entities = parse_formatted(
            params.string("text") or "", params.string("parse_mode"), params.decoded("entities")
        )
        if not text:
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        markup = self._markup(params)
        reply_to = self._reply_target(chat_id, params)
        preview = params.decoded("link_preview_options")
        self.state.check_flood(chat_id)
        message = self.state.new_message(
            self._chat(chat_id),
            self.state.bot_sender,
            {
                "text": text,
                "entities": entities or None,
                "reply_markup": markup,
                "reply_to_message": reply_to,
                "link_preview_options": preview or None,
            },
        )
        return self.state.record("sendMessage", message, parse_mode=params.string("parse_mode"))

    async def _m_editMessageText(self, params: Params) -> JSON:
        message = self._bot_message(params, editable="edit")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = parse_formatted(
            params.string("text") or "", params.string("parse_mode"), params.decoded("entities")
        )
        if not text:
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        markup = self._markup(params)
        changes = {"text": text, "entities": entities or None, "reply_markup": markup}
        return self._edit("editMessageText", message, changes, params.string("parse_mode"))

    async def _m_editMessageReplyMarkup(self, params: Params) -> JSON:
        message = self._bot_message(params, editable="edit")
        changes = {"reply_markup": self._markup(params)}
        return self._edit("editMessageReplyMarkup", message, changes, None)

    def _edit(self, method: str, message: JSON, changes: JSON, parse_mode: str | None) -> JSON:
        if all(message.get(key) == value for key, value in changes.items()):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(self.state.wall_clock())
        return self.state.record(method, message, parse_mode=parse_mode)

    async def _m_answerCallbackQuery(self, params: Params) -> bool:
        query_id = params.string("callback_query_id", required=True) or ""
        if not self.state.callback_query_open(query_id):
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.string("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        self.state.close_callback_query(query_id)
        self.state.callback_answers.append(
            CallbackAnswer(
                query_id, text, params.flag("show_alert"), params.string("url"), self.state.clock()
            )
        )
        return True

    async def _m_sendDocument(self, params: Params) -> JSON:
        chat_id = self._target_chat(params)
        document = self._document_input(params)
        caption, caption_entities = parse_formatted(
            params.string("caption") or "",
            params.string("parse_mode"),
            params.decoded("caption_entities"),
        )
        if len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        markup = self._markup(params)
        reply_to = self._reply_target(chat_id, params)
        self.state.check_flood(chat_id)
        message = self.state.new_message(
            self._chat(chat_id),
            self.state.bot_sender,
            {
                "document": document.as_document(),
                "caption": caption or None,
                "caption_entities": caption_entities or None,
                "reply_markup": markup,
                "reply_to_message": reply_to,
            },
        )
        return self.state.record(
            "sendDocument", message, document=document, parse_mode=params.string("parse_mode")
        )

    def _document_input(self, params: Params) -> StoredFile:
        value = params.raw("document")
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.raw(value.removeprefix("attach://"))
        if isinstance(value, Upload):
            if not value.data:
                raise bad_request("file must be non-empty")
            return self.state.store_file(
                value.data, file_name=value.filename, mime_type=value.content_type
            )
        if not value:
            raise bad_request("there is no document in the request")
        known = self.state.file(str(value))
        if known is not None:
            return known
        if str(value).startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        raise bad_request("wrong file identifier/HTTP URL specified")

    async def _m_getFile(self, params: Params) -> JSON:
        stored = self.state.file(params.string("file_id", required=True) or "")
        if stored is None:
            raise bad_request("wrong file_id or the file is temporarily unavailable")
        if len(stored.data) > self.state.max_download_bytes:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def _m_setMyCommands(self, params: Params) -> bool:
        commands = params.decoded("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be an Array of at most 100 BotCommand")
        for command in commands:
            name = str(command.get("command", ""))
            if not 1 <= len(name) <= 32 or not all(
                c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in name
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description must be 1-256 characters")
        key = (
            json.dumps(params.decoded("scope") or {"type": "default"}),
            params.string("language_code") or "",
        )
        self.state.commands[key] = commands
        return True

    async def _m_getMyCommands(self, params: Params) -> list[JSON]:
        key = (
            json.dumps(params.decoded("scope") or {"type": "default"}),
            params.string("language_code") or "",
        )
        return self.state.commands.get(key, [])

    async def _m_deleteMessage(self, params: Params) -> bool:
        message = self._bot_message(params, editable="delete")
        self.state.forget_message(message["chat"]["id"], message["message_id"])
        return True

    async def _m_sendChatAction(self, params: Params) -> bool:
        chat_id = self._target_chat(params)
        action = params.string("action", required=True)
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.state.chat_actions.append((chat_id, action))
        return True

    async def _m_setChatMenuButton(self, params: Params) -> bool:
        chat_id = self._target_chat(params) if params.has("chat_id") else None
        button = params.decoded("menu_button") or {"type": "default"}
        if button.get("type") not in ("default", "commands", "web_app"):
            raise bad_request("can't parse menu button: unknown type")
        if button["type"] == "web_app":
            web_app = button.get("web_app")
            url = web_app.get("url", "") if isinstance(web_app, dict) else ""
            if not urlsplit(str(url)).scheme == "https" or not button.get("text"):
                raise bad_request("BUTTON_URL_INVALID: Only HTTPS links are allowed")
        self.state.menu_buttons[chat_id] = button
        return True

    async def _m_getChatMenuButton(self, params: Params) -> JSON:
        """The chat's menu button (the bot's default one unless set for the chat), or
        without ``chat_id`` the default one; never set, it is ``{"type": "default"}``."""
        chat_id = self._target_chat(params) if params.has("chat_id") else None
        buttons = self.state.menu_buttons
        return buttons.get(chat_id) or buttons.get(None) or {"type": "default"}

    async def _m_getChat(self, params: Params) -> JSON:
        try:
            chat = self.state.chat(int(params.raw("chat_id")))
        except (TypeError, ValueError) as e:
            raise bad_request("chat not found") from e
        if chat is None:
            raise bad_request("chat not found")
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
