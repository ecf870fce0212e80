"""Who is at a party's page: the one-time code, and the browser it was confirmed in.

A party reachable by email or Telegram confirms who they are before deciding. A code goes
to that channel; typing it back in a browser opens a session there: a token that only this
browser holds, in a cookie, whose hash is kept in `PartySession`. The confirmation holds in
that browser only, for `SESSION_TTL`; the same link opened anywhere else (a forwarded
email, a shared screen, a plain download of the page) asks for a code again. Telegram's
own word for a Mini App launch opens a session the same way.

Codes are hard to guess and cheap to refuse: each code allows `CODE_ATTEMPTS` tries;
across codes one party may type `PARTY_WRONG_CODES` wrong ones and one address
`ADDRESS_WRONG_CODES` in `WRONG_WINDOW`; a party is sent at most `CODES_PER_HOUR`. A code
is compared in constant time, kept on the party only as a hash, and leaves its notice once
the notice is settled. When the code's channel is one this installation cannot send
through, nothing is promised: the party is told so, and `send_code` refuses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

import texts
from storage.models import CodeEvent, Party, PartySession, SignatureRequest
from storage.rows import id_of
from workflows import outbox
from workflows.context import Env
from workflows.errors import Conflict, Gone, InvalidInput, NotAllowed, TooMany, Unavailable
from workflows.outbox.kinds import Channel, CodePayload, Via
from workflows.signing.party_page import PartyPage, check_open, load_page
from workflows.signing.requests import ENDED
from workflows.tokens import new_token

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5
CODE_GAP = timedelta(seconds=60)
CODES_PER_HOUR = 5
WRONG_WINDOW = timedelta(hours=1)
PARTY_WRONG_CODES = 10
ADDRESS_WRONG_CODES = 20
SESSION_TTL = timedelta(hours=1)
KEEP_EVENTS = timedelta(days=1)
SENT, WRONG = "sent", "wrong"


@dataclass(frozen=True)
class CodeSent:
    channel: str
    to: str
    """Where it went, shown partly masked."""


@dataclass(frozen=True)
class Confirmed:
    """A session opened in the browser that confirmed: the token goes in its cookie."""

    token: str
    expires_at: datetime


def cannot_send(page: PartyPage) -> str | None:
    """Why no code can reach whoever decides through this link, when one is owed."""
    if page.code_channel is not None or not page.code_owed:
        return None
    return (
        "this service cannot send you a one-time code right now, so you cannot decide "
        f"here yet; please contact {page.organization.name}"
    )


async def send_code(env: Env, token: str, *, ip: str | None = None) -> CodeSent:
    """Send a fresh one-time code to the channel of whoever decides through this link."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        page = await load_page(session, token, now, reach=env.reach)
        check_open(page, now)
        channel = page.code_channel
        if channel is None:
            refusal = cannot_send(page)
            if refusal is not None:
                raise Unavailable(
                    refusal, says="signing.refusal.cannot_send", org=page.organization.name
                )
            raise InvalidInput("this link needs no code", says="signing.refusal.no_code_needed")
        party = page.party
        party_id = id_of(party)
        if party.code_sent_at is not None and now - party.code_sent_at < CODE_GAP:
            raise Conflict(
                "a code was sent a moment ago; wait a minute for it",
                says="signing.refusal.code_just_sent",
            )
        if await _count(session, party_id=party_id, kind=SENT, since=now - timedelta(hours=1)) >= (
            CODES_PER_HOUR
        ):
            raise TooMany(
                f"we have sent you {CODES_PER_HOUR} codes in the last hour; use the newest "
                "one, or ask for another later",
                says="signing.refusal.too_many_codes",
            )
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        party.code_hash = _code_hash(party, code)
        party.code_expires_at = now + CODE_TTL
        party.code_attempts = 0
        party.code_sent_at = now
        session.add(party)
        session.add(CodeEvent(org_id=party.org_id, party_id=party_id, kind=SENT, ip=ip, at=now))
        contact = page.contact
        if contact is not None:
            target_channel, target = Channel.RECIPIENT, str(id_of(contact))
            to = _masked(channel, contact.email, contact.telegram_username)
        else:
            target_channel, target = Channel.PARTY, str(party_id)
            to = _masked(channel, party.email, party.telegram_username)
        await outbox.enqueue_many(
            session,
            [
                outbox.NewNotification(
                    org_id=party.org_id,
                    channel=target_channel,
                    target=target,
                    payload=CodePayload(
                        request_id=id_of(page.request), party_id=party_id, code=code, via=channel
                    ),
                    dedupe_key=f"sign:{party_id}:code:{now.isoformat()}",
                )
            ],
            at=now,
        )
    return CodeSent(channel=channel, to=to)


async def confirm_code(env: Env, token: str, code: str, *, ip: str | None = None) -> Confirmed:
    """Check a one-time code; the right one opens a session for the browser that typed it.
    A wrong one counts against the code's tries, the party's and the address's."""
    now = env.clock.now()
    typed = "".join(ch for ch in code if ch.isdigit())
    failure: Exception | None = None
    confirmed: Confirmed | None = None
    async with env.sessions() as session, session.begin():
        page = await load_page(session, token, now, reach=env.reach)
        check_open(page, now)
        party = page.party
        party_id = id_of(party)
        since = now - WRONG_WINDOW
        if ip is not None and await _count(session, ip=ip, kind=WRONG, since=since) >= (
            ADDRESS_WRONG_CODES
        ):
            raise TooMany(
                "too many wrong codes from your network; try again in an hour",
                says="signing.refusal.too_many_wrong_network",
            )
        if await _count(session, party_id=party_id, kind=WRONG, since=since) >= PARTY_WRONG_CODES:
            raise TooMany(
                "too many wrong codes for this request; try again in an hour",
                says="signing.refusal.too_many_wrong",
            )
        if party.code_hash is None or party.code_expires_at is None:
            raise InvalidInput("ask for a code first", says="signing.refusal.ask_code_first")
        if party.code_expires_at <= now:
            raise Gone(
                "this code has expired; ask for a new one", says="signing.refusal.code_expired"
            )
        if party.code_attempts >= CODE_ATTEMPTS:
            raise _used_up()
        if len(typed) == CODE_DIGITS and hmac.compare_digest(
            party.code_hash, _code_hash(party, typed)
        ):
            via = page.code_channel or Via.EMAIL
            party.code_hash = None
            confirmed = open_session(session, party, via=via, now=now)
        else:
            party.code_attempts += 1
            session.add(
                CodeEvent(org_id=party.org_id, party_id=party_id, kind=WRONG, ip=ip, at=now)
            )
            left = CODE_ATTEMPTS - party.code_attempts
            failure = (
                InvalidInput(
                    f"that code is wrong; {left} {'try' if left == 1 else 'tries'} left",
                    says="signing.refusal.wrong_code",
                    tries=TriesLeft(left),
                )
                if left
                else _used_up()
            )
        session.add(party)
    if failure is not None:
        raise failure
    assert confirmed is not None
    return confirmed


@dataclass(frozen=True)
class TriesLeft:
    """'4 tries left', as the reader's language counts them."""

    count: int

    def told(self, language: str | None) -> str:
        return texts.plural(language, "signing.refusal.tries_left", self.count)


def _used_up() -> NotAllowed:
    return NotAllowed(
        "too many wrong codes; ask for a new one", says="signing.refusal.code_used_up"
    )


async def recognise_telegram(env: Env, token: str, telegram_user_id: int) -> Confirmed | None:
    """A session for the Mini App that Telegram launched for ``telegram_user_id`` (its launch
    data checked by the caller), when that is the account linked to whoever decides."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        page = await load_page(session, token, now, reach=env.reach)
        if not telegram_is_contact(page, telegram_user_id):
            return None
        return open_session(session, page.party, via=Via.TELEGRAM, now=now)


def telegram_is_contact(page: PartyPage, telegram_user_id: int) -> bool:
    """Whether ``telegram_user_id`` is the Telegram account of whoever decides."""
    contact = page.contact
    return contact is not None and contact.telegram_user_id == telegram_user_id


def open_session(session: AsyncSession, party: Party, *, via: str, now: datetime) -> Confirmed:
    """Open a session for the browser that just confirmed who decides for ``party``, in
    the caller's transaction; the first confirmation is also noted on the party."""
    if party.verified_at is None:
        party.verified_via = via
        party.verified_at = now
        session.add(party)
    token, token_hash = new_token()
    expires_at = now + SESSION_TTL
    session.add(
        PartySession(
            org_id=party.org_id,
            party_id=id_of(party),
            token_hash=token_hash,
            via=via,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return Confirmed(token=token, expires_at=expires_at)


async def forget(env: Env, *, at: datetime) -> int:
    """Drop the sessions expired by ``at``, and the code events older than `KEEP_EVENTS`
    of requests that have ended: an open request keeps its parties' code events for the
    completion certificate, which lists them. Returns how many rows went."""
    finished = (
        select(Party.id)
        .join(SignatureRequest, col(SignatureRequest.id) == Party.request_id)
        .where(col(SignatureRequest.status).in_(ENDED))
    )
    async with env.sessions() as session, session.begin():
        ended = await session.exec(delete(PartySession).where(col(PartySession.expires_at) <= at))
        old = await session.exec(
            delete(CodeEvent).where(
                col(CodeEvent.at) < at - KEEP_EVENTS, col(CodeEvent.party_id).in_(finished)
            )
        )
    return int(ended.rowcount or 0) + int(old.rowcount or 0)


async def _count(
    session: AsyncSession,
    *,
    kind: str,
    since: datetime,
    party_id: int | None = None,
    ip: str | None = None,
) -> int:
    query = select(func.count()).where(CodeEvent.kind == kind, col(CodeEvent.at) > since)
    if party_id is not None:
        query = query.where(CodeEvent.party_id == party_id)
    if ip is not None:
        query = query.where(CodeEvent.ip == ip)
    return (await session.exec(query)).one()


def _code_hash(party: Party, code: str) -> str:
    return hashlib.sha256(f"{party.id}:{party.request_id}:{code}".encode()).hexdigest()


def _masked(channel: Via, email: str | None, username: str | None) -> str:
    if channel == Via.EMAIL and email:
        name, _, domain = email.partition("@")
        return f"{name[:1]}***@{domain}"
    if channel == Via.TELEGRAM:
        return f"@{username}" if username else "your Telegram chat"
    return channel
