"""Sending to Telegram: share and signing notices for the delivery worker, and files on
request.
PTB's errors are turned into the delivery errors here and nowhere else."""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.errors import PermanentFailure, TemporaryFailure, Throttled, Unreachable
from bot.sign_texts import SignLinks
from bot.telegram import messages
from storage.blobs import BlobStore, stage
from storage.models import Document
from workflows import platform
from workflows.context import Env
from workflows.outbox.kinds import Kind, Via
from workflows.portal.sessions import SignInLink
from workflows.sharing.cabinet_notices import CabinetNotice
from workflows.sharing.notices import AccessNotice, ShareNotice
from workflows.signing.party_notices import SignNotice

BOT_UPLOAD_LIMIT = 50 * 1024 * 1024
T = TypeVar("T")


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def call(request: Callable[[], Awaitable[T]]) -> T:
    """Run one Bot API call, translating its failure into a delivery error."""
    try:
        return await request()
    except RetryAfter as e:
        raise Throttled(retry_seconds(e)) from e
    except Forbidden as e:
        raise Unreachable(e.message) from e
    except BadRequest as e:
        if "chat not found" in e.message.lower():
            raise Unreachable(e.message) from e
        raise PermanentFailure(e.message) from e
    except NetworkError as e:
        raise TemporaryFailure(e.message) from e
    except TelegramError as e:
        raise TemporaryFailure(e.message) from e


class TelegramSender:
    """The Telegram channel of the delivery worker."""

    def __init__(self, bot: Bot, env: Env) -> None:
        self.bot = bot
        self.env = env

    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]:
        chat_id = notice.recipient.telegram_chat_id
        if chat_id is None:
            raise Unreachable("the recipient has no linked chat")
        body, keyboard = messages.share_notice(notice, link=link)
        sent = await call(
            lambda: self.bot.send_message(
                chat_id=chat_id, text=body, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
        )
        return {"chat_id": str(chat_id), "message_id": str(sent.message_id)}

    async def send_access_notice(self, notice: AccessNotice) -> dict[str, str]:
        chat_id = notice.recipient.telegram_chat_id
        if chat_id is None:
            raise Unreachable("the recipient has no linked chat")
        body = messages.access_notice(notice)
        sent = await call(
            lambda: self.bot.send_message(chat_id=chat_id, text=body, parse_mode=ParseMode.HTML)
        )
        return {"chat_id": str(chat_id), "message_id": str(sent.message_id)}

    async def send_cabinet_notice(
        self, notice: CabinetNotice, *, link: str | None
    ) -> dict[str, str]:
        chat_id = notice.recipient.telegram_chat_id
        if chat_id is None:
            raise Unreachable("the recipient has no linked chat")
        body, keyboard = messages.cabinet_notice(notice, link=link)
        sent = await call(
            lambda: self.bot.send_message(
                chat_id=chat_id, text=body, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
        )
        return {"chat_id": str(chat_id), "message_id": str(sent.message_id)}

    async def send_sign_notice(
        self, notice: SignNotice, *, links: SignLinks | None
    ) -> dict[str, str]:
        chat_id = notice.chat_id
        if chat_id is None:
            raise Unreachable("the recipient has no linked chat")
        if notice.kind == Kind.SIGNED_FILE:
            [document] = notice.documents
            sent = await self.send_file(chat_id=chat_id, document=document)
            return {"chat_id": str(chat_id), "message_id": str(sent.message_id)}
        body, keyboard = messages.sign_notice(notice, links=links)
        sent = await call(
            lambda: self.bot.send_message(
                chat_id=chat_id, text=body, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
        )
        return {"chat_id": str(chat_id), "message_id": str(sent.message_id)}

    async def send_sign_in(self, link: SignInLink, *, url: str) -> dict[str, str]:
        raise PermanentFailure("sign-in links go by mail only")

    async def send_file(self, *, chat_id: int, document: Document) -> Message:
        """Send a stored document, reusing Telegram's copy of the same bytes when it has one."""
        cached = await platform.cached_file_id(
            self.env, channel=Via.TELEGRAM, blob_key=document.blob_key
        )
        if cached:
            try:
                return await call(
                    lambda: self.bot.send_document(
                        chat_id=chat_id, document=cached, filename=document.filename
                    )
                )
            except PermanentFailure:
                await platform.forget_file_id(
                    self.env, channel=Via.TELEGRAM, blob_key=document.blob_key
                )
        async with local_copy(self.env.blobs, document.blob_key) as path:
            with path.open("rb") as handle:
                sent = await call(
                    lambda: self.bot.send_document(
                        chat_id=chat_id,
                        document=handle,
                        filename=document.filename,
                        read_timeout=120,
                        write_timeout=120,
                    )
                )
        if sent.document is not None:
            await platform.remember_file_id(
                self.env,
                channel=Via.TELEGRAM,
                blob_key=document.blob_key,
                file_id=sent.document.file_id,
            )
        return sent


@contextlib.asynccontextmanager
async def local_copy(blobs: BlobStore, key: str) -> AsyncIterator[Path]:
    """A local file with the blob's bytes: the store's own, or a temporary copy."""
    path = blobs.local_path(key)
    if path is not None:
        yield path
        return
    staged = await stage(blobs.read(key), staging_dir=blobs.staging_dir, max_bytes=1 << 62)
    try:
        yield staged.path
    finally:
        await asyncio.to_thread(staged.discard)
