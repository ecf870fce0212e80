"""What recipients can do in Telegram. Each handler turns an update into workflow calls
and the result into a message; the workflow errors it lets through become short answers in
the chat (`bot.telegram.refusals`, wrapped around every handler here)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from telegram import Document as TelegramDocument
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MenuButtonDefault, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

import texts
from bot.errors import DeliveryError
from bot.i18n import text
from bot.telegram import messages
from bot.telegram.refusals import (
    CHAT,
    INVITATION,
    RETURN,
    SHARED_DOCUMENT,
    refusing,
    telegram_language,
)
from bot.telegram.sender import BOT_UPLOAD_LIMIT, TelegramSender
from bot.telegram.signing import SigningButtons
from storage.blobs import iter_file
from storage.models import Recipient
from workflows import platform
from workflows.context import Env
from workflows.people import linking, preferences
from workflows.people.linking import ChatIdentity
from workflows.sharing import inbox
from workflows.sharing.inbox import NOTIFICATION_KINDS

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE
PER_PAGE = 5
BOT_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # what a bot may fetch from Telegram's servers


class RecipientBot:
    """The recipient-facing bot; one instance serves every organisation."""

    def __init__(
        self, env: Env, *, sender: TelegramSender, public_url: str, max_upload_bytes: int
    ) -> None:
        self.env = env
        self.sender = sender
        self.public_url = public_url.rstrip("/")
        self.max_upload_bytes = max_upload_bytes
        self.signing = SigningButtons(env, public_url=public_url, language=self._language)

    def handlers(self) -> dict[int, list[BaseHandler[Update, Context, object]]]:
        """Handlers by group: group -1 drops repeated updates before anything else runs.
        Each handler is wrapped with the refusals of its kind of request."""
        private = filters.ChatType.PRIVATE
        answer = functools.partial(refusing, language=self._language)
        return {
            -1: [TypeHandler(Update, self.once)],
            0: [
                CommandHandler("start", answer(self.start, INVITATION), filters=private),
                CommandHandler("stop", answer(self.stop, CHAT), filters=private),
                CommandHandler("documents", answer(self.documents, CHAT), filters=private),
                CommandHandler("send", answer(self.send_prompt, CHAT), filters=private),
                CommandHandler("language", answer(self.language, CHAT), filters=private),
                CommandHandler("notifications", answer(self.notifications, CHAT), filters=private),
                CommandHandler("help", answer(self.help, CHAT), filters=private),
                MessageHandler(private & filters.Document.ALL, answer(self.returned_file, RETURN)),
                MessageHandler(
                    private & (filters.PHOTO | filters.VIDEO), answer(self.not_a_file, CHAT)
                ),
                CallbackQueryHandler(answer(self.page, CHAT), pattern=rf"^{messages.PAGE}:"),
                CallbackQueryHandler(
                    answer(self.download, SHARED_DOCUMENT), pattern=rf"^{messages.DOWNLOAD}:"
                ),
                CallbackQueryHandler(
                    answer(self.open, SHARED_DOCUMENT), pattern=rf"^{messages.OPEN}:"
                ),
                CallbackQueryHandler(
                    answer(self.choose_language, CHAT), pattern=rf"^{messages.LANGUAGE}:"
                ),
                CallbackQueryHandler(
                    answer(self.toggle_notification, CHAT), pattern=rf"^{messages.NOTIFY}:"
                ),
                CallbackQueryHandler(
                    answer(self.return_to, RETURN), pattern=rf"^{messages.RETURN_TO}:"
                ),
                *self.signing.handlers(),
            ],
        }

    # -- plumbing ---------------------------------------------------------------------

    async def once(self, update: Update, context: Context) -> None:
        """Handle each update once, however often Telegram delivers it."""
        source = f"telegram:{context.bot.id}"
        if not await platform.first_delivery(
            self.env, source=source, update_id=str(update.update_id)
        ):
            raise ApplicationHandlerStop
        if update.effective_chat is not None and update.message is not None:
            await linking.chat_is_back(self.env, chat_id=update.effective_chat.id)

    async def _language(self, update: Update) -> str:
        chat = update.effective_chat
        if chat is not None:
            people = await linking.recipients_of_chat(self.env, chat_id=chat.id)
            if people:
                return people[0][0].language
        return telegram_language(update)

    async def _say(self, update: Update, key: str, **values: object) -> None:
        language = await self._language(update)
        chat = update.effective_chat
        assert chat is not None
        await chat.send_message(
            text(language, key, escape=True, **values), parse_mode=ParseMode.HTML
        )

    async def _menu_button(self, context: Context, chat_id: int, language: str | None) -> None:
        """The chat's menu button: the portal in ``language`` for a linked chat, the
        bot's default for a chat linked to nobody. A nicety: a failure is only logged."""
        button = (
            messages.portal_menu_button(self.public_url, language)
            if language is not None
            else MenuButtonDefault()
        )
        try:
            await context.bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)
        except TelegramError as e:
            log.warning("could not set a chat's menu button: %s", type(e).__name__)

    # -- linking ----------------------------------------------------------------------

    async def start(self, update: Update, context: Context) -> None:
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None
        if not context.args:
            await self._say(update, "start.no_code")
            return
        identity = ChatIdentity(
            chat_id=chat.id,
            user_id=user.id if user else None,
            username=user.username if user else None,
        )
        linked = await linking.redeem_invite(self.env, code=context.args[0], chat=identity)
        await self._menu_button(context, chat.id, linked.recipient.language)
        await chat.send_message(
            text(
                linked.recipient.language,
                "start.welcome",
                name=linked.recipient.name,
                org=linked.organization.name,
            ),
            parse_mode=ParseMode.HTML,
        )

    async def stop(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        assert chat is not None
        language = await self._language(update)
        unlinked = await linking.unlink_chat(self.env, chat_id=chat.id)
        if unlinked:
            await self._menu_button(context, chat.id, None)
        await chat.send_message(text(language, "stop.done" if unlinked else "stop.nothing"))

    # -- documents --------------------------------------------------------------------

    async def documents(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        assert chat is not None
        await self._send_page(update, page=1, only_mine=False, edit=None)

    async def page(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        _, page, mine = query.data.split(":")
        await query.answer()
        message = query.message if isinstance(query.message, Message) else None
        await self._send_page(update, page=int(page), only_mine=mine == "1", edit=message)

    async def _send_page(
        self, update: Update, *, page: int, only_mine: bool, edit: Message | None
    ) -> None:
        chat = update.effective_chat
        assert chat is not None
        language = await self._language(update)
        listing = await inbox.list_for_chat(
            self.env, chat_id=chat.id, page=page, per_page=PER_PAGE, only_mine=only_mine
        )
        body, keyboard = messages.inbox_page(
            listing,
            language=language,
            only_mine=only_mine,
            per_page=PER_PAGE,
            app=messages.portal_app(self.public_url),
        )
        if edit is not None:
            await edit.edit_text(body, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        else:
            await chat.send_message(body, parse_mode=ParseMode.HTML, reply_markup=keyboard)

    async def download(self, update: Update, context: Context) -> None:
        query = update.callback_query
        chat = update.effective_chat
        assert query is not None and query.data is not None and chat is not None
        language = await self._language(update)
        share_id = int(query.data.split(":")[1])
        found = await inbox.record_chat_download(self.env, chat_id=chat.id, share_id=share_id)
        document = found.document
        await query.answer(text(language, "download.sending", escape=False, title=document.title))
        if document.size > BOT_UPLOAD_LIMIT:
            await self._send_link(
                update,
                language,
                share_id,
                found.recipient.id,
                "download.too_big",
                title=document.title,
            )
            return
        try:
            await self.sender.send_file(chat_id=chat.id, document=document)
        except DeliveryError:
            log.warning("sending a file to a chat failed", exc_info=True)
            await self._say(update, "error.generic")

    async def open(self, update: Update, context: Context) -> None:
        query = update.callback_query
        chat = update.effective_chat
        assert query is not None and query.data is not None and chat is not None
        language = await self._language(update)
        share_id = int(query.data.split(":")[1])
        found = await inbox.access_for_chat(self.env, chat_id=chat.id, share_id=share_id)
        await query.answer()
        link = await self._personal_url(share_id, found.recipient.id)
        heading = text(
            language,
            "documents.item",
            title=found.document.title,
            category=found.document.category,
            org=found.organization.name,
        )
        await chat.send_message(
            f"<b>{heading}</b>",
            parse_mode=ParseMode.HTML,
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton(text(language, "button.open", escape=False), url=link)]]
            ),
        )

    async def _personal_url(self, share_id: int, recipient_id: int | None) -> str:
        assert recipient_id is not None
        token = await inbox.personal_link(self.env, share_id=share_id, recipient_id=recipient_id)
        return f"{self.public_url}/d/{token}"

    async def _send_link(
        self,
        update: Update,
        language: str,
        share_id: int,
        recipient_id: int | None,
        key: str,
        **values: object,
    ) -> None:
        chat = update.effective_chat
        assert chat is not None
        link = await self._personal_url(share_id, recipient_id)
        await chat.send_message(
            text(language, key, escape=True, **values),
            parse_mode=ParseMode.HTML,
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton(text(language, "button.open", escape=False), url=link)]]
            ),
        )

    # -- returning documents ----------------------------------------------------------

    async def send_prompt(self, update: Update, context: Context) -> None:
        language = await self._language(update)
        await self._say(update, "send.prompt", limit=texts.size(self.max_upload_bytes, language))

    async def not_a_file(self, update: Update, context: Context) -> None:
        await self._say(update, "send.not_a_file")

    async def returned_file(self, update: Update, context: Context) -> None:
        chat, message = update.effective_chat, update.message
        assert chat is not None and message is not None and message.document is not None
        people = await linking.recipients_of_chat(self.env, chat_id=chat.id)
        if not people:
            await self._say(update, "not_linked")
            return
        if len(people) > 1:
            await message.reply_text(
                text(people[0][0].language, "send.choose_org"),
                reply_markup=messages.return_choice([(r.id or 0, o.name) for r, o in people]),
            )
            return
        await self._take_return(update, message, people[0][0].id or 0)

    async def return_to(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        await query.answer()
        prompt = query.message if isinstance(query.message, Message) else None
        original = prompt.reply_to_message if prompt else None
        if original is None or original.document is None:
            await self._say(update, "send.not_a_file")
            return
        await self._take_return(update, original, int(query.data.split(":")[1]))

    async def _take_return(self, update: Update, message: Message, recipient_id: int) -> None:
        chat = update.effective_chat
        document = message.document
        assert chat is not None and document is not None
        language = await self._language(update)
        limit = min(self.max_upload_bytes, BOT_DOWNLOAD_LIMIT)
        if (document.file_size or 0) > limit:
            await self._say(update, "send.too_big", limit=texts.size(limit, language))
            return
        stored = await inbox.return_document(
            self.env,
            chat_id=chat.id,
            recipient_id=recipient_id,
            filename=document.file_name or "document",
            content=self._fetch(document),
            caption=message.caption,
        )
        people = dict(
            (r.id, o.name) for r, o in await linking.recipients_of_chat(self.env, chat_id=chat.id)
        )
        await chat.send_message(
            text(language, "send.received", title=stored.title, org=people.get(recipient_id, "")),
            parse_mode=ParseMode.HTML,
        )

    async def _fetch(self, document: TelegramDocument) -> AsyncIterator[bytes]:
        """Stream a file a person sent, from Telegram, through a temporary file."""
        file = await document.get_file()
        self.env.blobs.staging_dir.mkdir(parents=True, exist_ok=True)
        path = Path(
            await file.download_to_drive(
                self.env.blobs.staging_dir / f"tg-{document.file_unique_id}"
            )
        )
        try:
            async for chunk in iter_file(path):
                yield chunk
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    # -- settings ---------------------------------------------------------------------

    async def language(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        assert chat is not None
        if not await linking.recipients_of_chat(self.env, chat_id=chat.id):
            await self._say(update, "not_linked")
            return
        await chat.send_message(
            text(await self._language(update), "language.choose"),
            reply_markup=messages.language_keyboard(),
        )

    async def choose_language(self, update: Update, context: Context) -> None:
        query = update.callback_query
        chat = update.effective_chat
        assert query is not None and query.data is not None and chat is not None
        code = query.data.split(":")[1]
        await inbox.set_language(self.env, chat_id=chat.id, language=code)
        await self._menu_button(context, chat.id, code)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(text(code, "language.set"))

    async def notifications(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        assert chat is not None
        people = await linking.recipients_of_chat(self.env, chat_id=chat.id)
        if not people:
            await self._say(update, "not_linked")
            return
        person = people[0][0]
        await chat.send_message(
            text(person.language, "notifications.header"),
            reply_markup=messages.notifications_keyboard(person.language, _prefs(person)),
        )

    async def toggle_notification(self, update: Update, context: Context) -> None:
        query = update.callback_query
        chat = update.effective_chat
        assert query is not None and query.data is not None and chat is not None
        try:
            _, index, enabled = query.data.split(":")
            kind = NOTIFICATION_KINDS[int(index)]
        except (ValueError, IndexError):
            # Not a button this bot made: nothing to change.
            await query.answer(text(await self._language(update), "error.generic", escape=False))
            return
        people = await inbox.set_notification(
            self.env, chat_id=chat.id, kind=kind, enabled=enabled == "1"
        )
        person = people[0]
        await query.answer(text(person.language, "notifications.saved", escape=False))
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(
                messages.notifications_keyboard(person.language, _prefs(person))
            )

    async def help(self, update: Update, context: Context) -> None:
        await self._say(update, "help.text")


def _prefs(person: Recipient) -> dict[str, bool]:
    return {kind: preferences.wants(person, kind) for kind in NOTIFICATION_KINDS}
