"""Workflow refusals as short answers in the person's language: the one mapping of the
Telegram bot.

Handlers just call workflows; `refusing` wraps each of them, and a WorkflowError one lets
through becomes one sentence from the catalogues: an alert on the button pressed, or a
message in the chat. Which sentence depends on what the person was doing — NotFound is an
invitation nobody issued for /start, a chat nobody linked for /documents — so a handler is
wrapped with the table of its kind of request; what a table does not name is told as
``error.refused`` ("That did not work: …") with the workflow's reason. Only the handler and
the kind of error are logged: an invitation code or a title never reaches the log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.i18n import FALLBACK, LANGUAGES, text
from workflows.errors import Conflict, Gone, InvalidInput, NotAllowed, NotFound, WorkflowError

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE
Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]
Language = Callable[[Update], Awaitable[str]]
Key = str | Callable[[WorkflowError], str]
Refusals = Mapping[type[WorkflowError], Key]
"""The catalogue key for each kind of error a kind of request meets; the first kind the
error is an instance of wins."""

REFUSED = "error.refused"
"""Any refusal a table does not name: "That did not work: {reason}"."""
MAX_ALERT = 200
"""Telegram's limit on the text of a callback query's answer."""


def _used_or_expired(error: WorkflowError) -> str:
    return "start.used" if "used" in str(error) else "start.expired"


ANY: Refusals = {}
CHAT: Refusals = {NotFound: "not_linked"}
"""Requests about the chat's own recipients: NotFound means the chat is linked to nobody."""
INVITATION: Refusals = {
    NotFound: "start.invalid",
    Gone: _used_or_expired,
    NotAllowed: "start.refused",
    Conflict: "start.conflict",
}
SHARED_DOCUMENT: Refusals = {NotFound: "unavailable", Gone: "unavailable"}
RETURN: Refusals = {InvalidInput: "send.refused", NotFound: "not_linked"}
DECISION: Refusals = {
    NotFound: "sign.unavailable",
    Gone: "sign.unavailable",
    NotAllowed: "sign.not_yours",
}


def refusal(language: str, error: WorkflowError, refusals: Refusals, *, escape: bool) -> str:
    """The sentence telling of ``error`` in ``language``; HTML-escaped with ``escape``."""
    key: Key = next((k for kind, k in refusals.items() if isinstance(error, kind)), REFUSED)
    if callable(key):
        key = key(error)
    return text(language, key, escape=escape, reason=error.told(language))


def refusing(callback: Callback, refusals: Refusals, *, language: Language) -> Callback:
    """``callback``, with a WorkflowError it raises told to the person as ``refusals`` say."""

    name = getattr(callback, "__qualname__", "a handler")

    @functools.wraps(callback)
    async def handle(update: Update, context: Context) -> None:
        try:
            await callback(update, context)
        except WorkflowError as error:
            log.info("refused in %s: %s", name, type(error).__name__)
            await tell(update, error, refusals, language=await language(update))

    return handle


async def tell(update: Update, error: WorkflowError, refusals: Refusals, *, language: str) -> None:
    """An alert on the button pressed; in the chat when there is none or it was answered."""
    await _say(update, lambda escape: refusal(language, error, refusals, escape=escape))


async def tell_store_down(update: Update) -> None:
    """Tell the person that the store cannot be reached just now, in the language their
    Telegram is set to: the one they chose is kept in the store."""
    language = telegram_language(update)
    await _say(update, lambda escape: text(language, STORE_DOWN, escape=escape))


STORE_DOWN = "error.down.message"
"""What the web's "Temporarily unavailable" page says: try again in a few minutes."""


def telegram_language(update: Update) -> str:
    """The catalogue language of the Telegram app that sent ``update``, or the fallback."""
    user = update.effective_user
    code = (user.language_code or "")[:2] if user else ""
    return code if code in LANGUAGES else FALLBACK


async def _say(update: Update, sentence: Callable[[bool], str]) -> None:
    """``sentence`` (given whether to escape it for HTML) as an alert on the button
    pressed; in the chat when there is none or it was answered."""
    query, chat = update.callback_query, update.effective_chat
    if query is not None:
        try:
            await query.answer(_clip(sentence(False), MAX_ALERT), show_alert=True)
            return
        except BadRequest:  # the handler answered the press before the workflow refused
            pass
    if chat is not None:
        await chat.send_message(sentence(True), parse_mode=ParseMode.HTML)


def _clip(sentence: str, limit: int) -> str:
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"
