"""Signing in to the portal from Telegram: the bot's menu button and ``/documents`` open
the portal as a Mini App.

The web layer checks Telegram's signed launch data and passes on the Telegram user it
names; in a private chat the chat's id is the user's, so the people that chat is linked to
are the people the user may sign in as. One Telegram account may be linked to people of
several organisations: the visitor then chooses, and the choice is checked again here.
"""

from __future__ import annotations

from sqlmodel import select

from storage.models import Organization, Recipient
from workflows.context import Env
from workflows.errors import NotFound
from workflows.people import linking
from workflows.portal.sessions import Opened, open_session
from workflows.sharing.access import Visitor


async def linked_people(env: Env, *, telegram_user_id: int) -> list[tuple[Recipient, Organization]]:
    """Whom this Telegram user may sign in as: the people their chat is linked to who may
    still see documents, each with their organisation."""
    return await linking.recipients_of_chat(env, chat_id=telegram_user_id)


async def open_from_telegram(
    env: Env, *, telegram_user_id: int, recipient_id: int, visitor: Visitor
) -> Opened:
    """A portal session for ``recipient_id``, when the Telegram user's chat is linked to
    that person."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        recipient = (
            await session.exec(
                select(Recipient).where(
                    Recipient.id == recipient_id,
                    Recipient.telegram_chat_id == telegram_user_id,
                )
            )
        ).first()
        if recipient is None:
            raise NotFound("this Telegram account is not linked to that person")
        return await open_session(session, recipient, via="telegram", visitor=visitor, now=now)
