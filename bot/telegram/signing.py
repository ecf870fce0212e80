"""Deciding from Telegram: the Approve and Reject buttons of an approver's invitation.

Approve decides at once: the press itself proves who pressed, as Telegram vouches for the
user. Reject asks for the reason as a reply; the prompt carries, as the link on the
request's title, the party's page link it was minted for, so the reply names its
party with no state kept anywhere else. Callback data holds only the party id.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

from telegram import (
    ForceReply,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.i18n import text
from bot.telegram import messages
from bot.telegram.refusals import DECISION, refusing
from workflows.context import Env
from workflows.signing import deciding, party_notices, party_page, requests
from workflows.signing.deciding import Decision
from workflows.signing.party_page import PartyPage

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE
USER_AGENT = "Telegram"
DECLINE_ANCHOR = "#decline"


class DeclinePrompt(filters.MessageFilter):
    """A reply to the bot's 'why do you decline' prompt (recognised by its page link)."""

    def __init__(self, page_prefix: str) -> None:
        super().__init__(name="DeclinePrompt")
        self.page_prefix = page_prefix

    def filter(self, message: Message) -> bool:
        original = message.reply_to_message
        if original is None or original.from_user is None or not original.from_user.is_bot:
            return False
        return prompt_token(original, self.page_prefix) is not None


def prompt_token(message: Message, page_prefix: str) -> str | None:
    """The party link token a decline prompt carries, if ``message`` is one."""
    for entity in message.entities:
        url = entity.url if entity.type == MessageEntity.TEXT_LINK else None
        if url and url.startswith(page_prefix) and url.endswith(DECLINE_ANCHOR):
            token = url[len(page_prefix) : -len(DECLINE_ANCHOR)]
            return token or None
    return None


class SigningButtons:
    """The handlers for deciding in a chat; one instance serves every organisation."""

    def __init__(
        self, env: Env, *, public_url: str, language: Callable[[Update], Awaitable[str]]
    ) -> None:
        self.env = env
        self.page_prefix = f"{public_url.rstrip('/')}/s/"
        self.language = language

    def handlers(self) -> list[BaseHandler[Update, Context, object]]:
        """The handlers, each wrapped with the refusals of a decision."""
        private = filters.ChatType.PRIVATE
        approve, reject, reason = (
            refusing(handler, DECISION, language=self.language)
            for handler in (self.approve, self.reject, self.reason)
        )
        return [
            CallbackQueryHandler(approve, pattern=rf"^{messages.APPROVE}:\d+$"),
            CallbackQueryHandler(reject, pattern=rf"^{messages.REJECT}:\d+$"),
            MessageHandler(
                private & filters.TEXT & ~filters.COMMAND & DeclinePrompt(self.page_prefix),
                reason,
            ),
        ]

    async def approve(self, update: Update, context: Context) -> None:
        query, user = update.callback_query, update.effective_user
        assert query is not None and query.data is not None and user is not None
        language = await self.language(update)
        token, found = await self._page(update, int(query.data.split(":")[1]))
        refusal = _not_now(found, wanted="approved", language=language)
        if refusal is not None:
            await query.answer(refusal)
            return
        await deciding.decide(
            self.env,
            token,
            Decision(kind="approve", telegram_user_id=user.id, needs_review=False),
            actor=party_page.party_actor(found, ip=None, user_agent=USER_AGENT),
        )
        done = text(language, "sign.approved", escape=False, title=_title(found))
        await query.answer(done)
        if isinstance(query.message, Message):
            await _drop_decision_buttons(query.message)
            await query.message.reply_text(done)

    async def reject(self, update: Update, context: Context) -> None:
        query, chat = update.callback_query, update.effective_chat
        assert query is not None and query.data is not None and chat is not None
        language = await self.language(update)
        token, found = await self._page(update, int(query.data.split(":")[1]))
        refusal = _not_now(found, wanted="declined", language=language)
        if refusal is not None:
            await query.answer(refusal)
            return
        await query.answer()
        url = html.escape(f"{self.page_prefix}{token}{DECLINE_ANCHOR}")
        named = f'<a href="{url}">{html.escape(_title(found))}</a>'
        await chat.send_message(
            text(language, "sign.reason_prompt", escape=False, title=named),
            parse_mode=ParseMode.HTML,
            reply_markup=ForceReply(
                selective=True,
                input_field_placeholder=text(language, "sign.reason_placeholder", escape=False),
            ),
        )

    async def reason(self, update: Update, context: Context) -> None:
        message, user = update.message, update.effective_user
        assert message is not None and message.reply_to_message is not None and user is not None
        language = await self.language(update)
        if message.reply_to_message.from_user is None or (
            message.reply_to_message.from_user.id != context.bot.id
        ):
            return
        token = prompt_token(message.reply_to_message, self.page_prefix)
        assert token is not None
        found = await party_page.open_page(self.env, token)
        refusal = _not_now(found, wanted="declined", language=language)
        if refusal is not None:
            await message.reply_text(refusal)
            return
        await deciding.decide(
            self.env,
            token,
            Decision(
                kind="decline",
                reason=message.text,
                telegram_user_id=user.id,
                needs_review=False,
            ),
            actor=party_page.party_actor(found, ip=None, user_agent=USER_AGENT),
        )
        await message.reply_text(text(language, "sign.declined", escape=False, title=_title(found)))

    async def _page(self, update: Update, party_id: int) -> tuple[str, PartyPage]:
        """The pressing person's link to the party's page, and the page."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        token = await party_notices.chat_link(
            self.env, party_id=party_id, chat_id=chat.id, telegram_user_id=user.id
        )
        return token, await party_page.open_page(self.env, token)


def _title(page: PartyPage) -> str:
    """The request as its party knows it: by its title, never by a staff reference."""
    return requests.title_for_parties(page.request, page.state.documents)


def _not_now(page: PartyPage, *, wanted: str, language: str) -> str | None:
    """Why this party cannot decide now, or None. A press repeating the decision already
    taken is let through: deciding answers it with the first."""
    if page.decision is not None:
        if page.decision.decision == wanted:
            return None
        return text(language, f"sign.already.{page.decision.decision}", escape=False)
    if page.waiting_for is not None:
        return text(language, "sign.not_turn", escape=False, name=page.waiting_for)
    if not page.may_decide:
        return text(language, "sign.unavailable", escape=False)
    return None


async def _drop_decision_buttons(message: Message) -> None:
    """Leave only the buttons that open the page on a message whose decision is taken."""
    markup = message.reply_markup
    if markup is None:
        return
    rows = [
        [button for button in row if button.callback_data is None] for row in markup.inline_keyboard
    ]
    try:
        await message.edit_reply_markup(InlineKeyboardMarkup([row for row in rows if row]))
    except TelegramError:  # the keyboard is a convenience; the decision is already kept
        log.warning("could not update the buttons of a decided invitation", exc_info=True)
