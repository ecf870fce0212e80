"""What a recipient wants to be told, and by which channel.

A recipient turns each kind of notification (`Preference`: new documents, reminders,
signature requests, news of their shared cabinet) on or off per channel, Telegram and
email: in a chat with `/notifications`, in their portal, or with the one-click unsubscribe
every such mail carries (RFC 8058). Everything is on until turned off. A notice goes by
Telegram when the chat is linked and wants it, else by mail when the address wants it;
when neither wants it, it is not sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Organization, Recipient, UnsubscribeLink
from storage.rows import id_of
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Gone, InvalidInput
from workflows.outbox.kinds import Hold, Kind, Preference, Via, Way
from workflows.people.recipients import check_language
from workflows.scope import get_scoped
from workflows.tokens import hash_token, new_token, well_formed

CHANNELS = (Via.TELEGRAM, Via.EMAIL)
"""The channels a recipient chooses for, in this order."""
KINDS = tuple(Preference)


def wants(recipient: Recipient, kind: str, channel: Via = Via.TELEGRAM) -> bool:
    return bool(recipient.notification_prefs.get(channel, {}).get(kind, True))


def has_chat(recipient: Recipient) -> bool:
    return recipient.telegram_chat_id is not None and recipient.telegram_active


@dataclass(frozen=True)
class Choice:
    """Where a notice of some kinds goes: ``way``, and why not when it is held."""

    way: Way
    reason: str | None = None


UNSUBSCRIBES: dict[Kind, Preference] = {
    Kind.DOCUMENT_SHARED: Preference.SHARED,
    Kind.AVAILABILITY_ENDING: Preference.REMINDER,
    Kind.ACCESS_ENDING: Preference.REMINDER,
    Kind.SIGN_REMINDER: Preference.REMINDER,
    Kind.SIGN_INVITE: Preference.SIGNATURE,
    Kind.SIGN_ENDED: Preference.SIGNATURE,
    Kind.SIGN_COMPLETED: Preference.SIGNATURE,
    Kind.CABINET_DOCUMENT: Preference.CABINET,
    Kind.CABINET_JOINED: Preference.CABINET,
    Kind.CABINET_LEFT: Preference.CABINET,
}
"""What the unsubscribe link of a mail of each kind turns off; a kind not here (a one-time
code, a sign-in link) is asked for, and its mail carries none."""


def way_for(recipient: Recipient, *kinds: Preference) -> Choice:
    """Telegram when linked and every one of ``kinds`` is wanted there, else mail when the
    address wants them all; held otherwise (turned off, or no channel yet)."""
    if has_chat(recipient) and all(wants(recipient, k, Via.TELEGRAM) for k in kinds):
        return Choice(Via.TELEGRAM)
    if recipient.email and all(wants(recipient, k, Via.EMAIL) for k in kinds):
        return Choice(Via.EMAIL)
    if has_chat(recipient) or recipient.email:
        return Choice(Hold.CANCEL, "the recipient turned these notifications off")
    return Choice(Hold.WAIT, "the recipient has no linked chat and no email address")


def changed(
    prefs: Mapping[str, Mapping[str, bool]], *, channel: Via, kind: str, enabled: bool
) -> dict[str, dict[str, bool]]:
    """``prefs`` with one choice changed; unknown kinds or channels are refused."""
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown kind of notification '{kind}'", says="refusal.notifications.kind"
        )
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel '{channel}'", says="refusal.notifications.channel")
    updated = {str(c): dict(v) for c, v in prefs.items()}
    updated.setdefault(channel.value, {})[kind] = enabled
    return updated


async def set_preferences(
    env: Env,
    *,
    recipient_id: int,
    org_id: int,
    actor: Actor,
    choices: Mapping[tuple[Via, str], bool],
) -> Recipient:
    """Set several choices at once (the portal's form), recorded in the history."""

    def apply(recipient: Recipient) -> dict[str, object] | None:
        prefs: dict[str, dict[str, bool]] = {
            str(c): dict(v) for c, v in recipient.notification_prefs.items()
        }
        for (channel, kind), enabled in choices.items():
            prefs = changed(prefs, channel=channel, kind=kind, enabled=enabled)
        if prefs == recipient.notification_prefs:
            return None
        recipient.notification_prefs = prefs
        return {"notifications": prefs}

    return await _change(
        env, recipient_id=recipient_id, org_id=org_id, actor=actor,
        action="recipient.notifications.changed", apply=apply,
    )  # fmt: skip


async def _change(
    env: Env,
    *,
    recipient_id: int,
    org_id: int,
    actor: Actor,
    action: str,
    apply: Callable[[Recipient], dict[str, object] | None],
) -> Recipient:
    """Change the recipient with ``apply`` (which says what changed, or None for nothing)
    and record it in the history, in one transaction."""
    async with env.sessions() as session, session.begin():
        recipient = await get_scoped(
            session, Recipient, org_id=org_id, id=recipient_id, what="recipient", lock=True
        )
        details = apply(recipient)
        if details is None:
            return recipient
        session.add(recipient)
        await audit.record(
            session, org_id=org_id, actor=actor, action=action, at=env.clock.now(),
            details=details,
        )  # fmt: skip
    return recipient


# -- one-click unsubscribe -------------------------------------------------------------------


async def mint_unsubscribe(env: Env, *, recipient_id: int, kind: Preference) -> str:
    """A token for the unsubscribe link of one mail: it turns ``kind`` off for email."""
    token, token_hash = new_token()
    async with env.sessions() as session, session.begin():
        recipient = await session.get(Recipient, recipient_id)
        if recipient is None:
            raise InvalidInput("no such recipient")
        session.add(
            UnsubscribeLink(
                org_id=recipient.org_id,
                recipient_id=recipient_id,
                kind=kind.value,
                token_hash=token_hash,
                created_at=env.clock.now(),
            )
        )
    return token


@dataclass(frozen=True)
class Unsubscribe:
    """What an unsubscribe link turns off, for whom, at which organisation."""

    recipient: Recipient
    organization: Organization
    kind: Preference


async def unsubscribe_target(env: Env, token: str) -> Unsubscribe:
    async with env.reads() as session:
        return await _target(session, token)


async def _target(session: AsyncSession, token: str) -> Unsubscribe:
    gone = Gone(
        "this unsubscribe link does not work; change your notifications in your portal",
        says="refusal.unsubscribe.gone",
    )
    if not well_formed(token):
        raise gone
    row = (
        await session.exec(
            select(UnsubscribeLink).where(UnsubscribeLink.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        raise gone
    recipient = await session.get(Recipient, row.recipient_id)
    organization = await session.get(Organization, row.org_id)
    if recipient is None or organization is None or row.kind not in KINDS:
        raise gone
    return Unsubscribe(recipient, organization, Preference(row.kind))


async def unsubscribe(env: Env, token: str) -> Unsubscribe:
    """Turn the link's kind off for email; following it again changes nothing more."""
    target = await unsubscribe_target(env, token)
    recipient = target.recipient
    await set_preferences(
        env,
        recipient_id=id_of(recipient),
        org_id=recipient.org_id,
        actor=Actor(type="recipient", id=str(recipient.id), label=recipient.name),
        choices={(Via.EMAIL, target.kind.value): False},
    )
    return target


async def set_language(
    env: Env, *, recipient_id: int, org_id: int, actor: Actor, language: str
) -> Recipient:
    """The language of everything Inkpost sends the recipient and shows them (the one
    Telegram's /language sets too), recorded in the history."""
    language = check_language(language)

    def apply(recipient: Recipient) -> dict[str, object] | None:
        if recipient.language == language:
            return None
        recipient.language = language
        return {"language": language}

    return await _change(
        env, recipient_id=recipient_id, org_id=org_id, actor=actor,
        action="recipient.language.changed", apply=apply,
    )  # fmt: skip
