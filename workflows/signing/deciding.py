"""A party's decision on a signature request, and what it moves on.

Before deciding, a party with a known channel (a linked Telegram chat or an email
address) confirms who they are in the browser they decide in (`identity`), or is
recognised by Telegram itself; a party reachable only by link decides on possession of
the link. The level used is recorded with the decision.
A decision is final: the store holds at most one per party, and a repeat of the same
decision (a double click, a second tab) answers with the first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.blobs import stage
from storage.models import (
    Client,
    Party,
    PartyDecision,
    Recipient,
    SignatureRequest,
)
from storage.rows import id_of
from workflows import outbox
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotAllowed, NotFound
from workflows.outbox.kinds import Channel, SealPayload, SignStatusPayload, Via
from workflows.scope import clean_text
from workflows.signing import requests
from workflows.signing.identity import cannot_send, telegram_is_contact
from workflows.signing.party_page import PartyPage, check_open, load_page
from workflows.signing.requests import DECIDING
from workflows.webhooks import emitting
from workflows.webhooks import events as webhook_events

MAX_SIGNATURE_PNG = 512 * 1024
MAX_REASON = 2000
MAX_NAME = 200
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESULTS = {"sign": "signed", "approve": "approved", "decline": "declined"}

LINK_ONLY = "link"


@dataclass(frozen=True)
class Decision:
    """What a party submits: ``sign``, ``approve`` or ``decline``, and what goes with it."""

    kind: str
    reason: str | None = None
    typed_name: str | None = None
    consent: bool = False
    signature_png: bytes | None = None
    telegram_user_id: int | None = None
    """Set when Telegram itself vouches for the person (a button press, Mini App data)."""
    needs_review: bool = True
    """A decision from the page requires every document to have been opened there."""


async def decide(
    env: Env, token: str, decision: Decision, *, actor: Actor, browser: str | None = None
) -> PartyDecision:
    """Record the party's decision, then move the request on: the next party's turn, the
    sealing, or — for a decline — its end for everyone. ``browser`` is the session token
    of the browser deciding, when it confirmed who decides (`identity`)."""
    now = env.clock.now()
    reason, typed_name = _typed(decision)
    signature_key = None
    if decision.signature_png is not None and decision.kind == "sign":
        _check_png(decision.signature_png)
        async with env.reads() as session:  # refuse before keeping anything on the medium
            page = await load_page(session, token, now, browser=browser, reach=env.reach)
            if await session.get(PartyDecision, page.party.id) is None:
                check_open(page, now)
                _check_decision(page, decision, reason=reason, typed_name=typed_name)
                _auth_level(page, decision)
        signature_key = await _store_signature(env, decision.signature_png)
    async with env.sessions() as session, session.begin():
        page = await load_page(session, token, now, browser=browser, reach=env.reach)
        request = await session.get(SignatureRequest, page.request.id, with_for_update=True)
        assert request is not None
        existing = await session.get(PartyDecision, page.party.id)
        if existing is not None:
            return _repeat(existing, decision)
        check_open(page, now)
        _check_decision(page, decision, reason=reason, typed_name=typed_name)
        auth_level = _auth_level(page, decision)
        decider = page.decider
        party_id = id_of(page.party)
        row = PartyDecision(
            party_id=party_id,
            org_id=page.party.org_id,
            request_id=id_of(request),
            decision=RESULTS[decision.kind],
            reason=reason,
            typed_name=typed_name,
            decided_by_name=decider.name if decider else (typed_name or page.party.name),
            decided_by_recipient_id=decider.id if decider else page.party.recipient_id,
            auth_level=auth_level,
            ip=actor.ip,
            user_agent=actor.user_agent,
            signature_blob_key=signature_key,
            decided_at=now,
        )
        session.add(row)
        try:
            await session.flush()
        except IntegrityError as e:  # only a concurrent writer outside the row lock
            raise Conflict("this party has already decided", says="signing.refusal.decided") from e
        details: dict[str, object] = {
            "party": page.party.name,
            "party_id": party_id,
            "role": page.party.role,
            "auth_level": auth_level,
        }
        if decider is not None:
            details["on_behalf_of"] = page.party.name
        if reason:
            details["reason"] = reason
        await requests.record_all(
            session,
            request,
            actor=actor,
            action=f"signature.{row.decision}",
            at=now,
            details=details,
        )
        decided = webhook_events.party_decided(
            request=request, party=page.party, decision=row.decision, at=now
        )
        await emitting.emit(session, decided)
        await _advance(session, request, row, now=now, actor=actor)
    return row


def _repeat(existing: PartyDecision, decision: Decision) -> PartyDecision:
    if existing.decision == RESULTS.get(decision.kind):
        return existing
    raise Conflict(
        f"this party has already {existing.decision}; a decision is final",
        says=f"signing.refusal.already.{existing.decision}",
    )


def _check_decision(
    page: PartyPage, decision: Decision, *, reason: str | None, typed_name: str | None
) -> None:
    if page.verb is None:
        raise NotAllowed(
            "you receive these documents for information; there is nothing to decide",
            says="signing.refusal.viewer",
        )
    if decision.kind not in (page.verb, "decline"):
        raise InvalidInput(
            f"as {page.party.role} you may {page.verb} or decline",
            says=f"signing.refusal.only.{page.verb}",
        )
    if page.waiting_for is not None:
        raise Conflict(
            f"it is not your turn yet: waiting for {page.waiting_for}",
            says="signing.refusal.not_turn",
            name=page.waiting_for,
        )
    if decision.kind == "decline":
        if not reason:
            raise InvalidInput("say why you decline", says="signing.refusal.no_reason")
        return
    if decision.needs_review and page.unopened:
        titles = ", ".join(d.title for d in page.unopened)
        raise InvalidInput(
            f"open every document before deciding: {titles}",
            says="signing.refusal.unopened",
            titles=titles,
        )
    if decision.needs_review and not decision.consent:
        raise InvalidInput("tick the box to confirm you agree", says="signing.refusal.no_consent")
    if decision.kind == "sign" and decision.needs_review and not typed_name:
        raise InvalidInput("type your full name to sign", says="signing.refusal.no_name")


def _typed(decision: Decision) -> tuple[str | None, str | None]:
    """The reason and the typed name as they are kept, refused when too long."""
    try:
        reason = clean_text(
            decision.reason, what="reason", max_len=MAX_REASON, required=False, multiline=True
        )
    except InvalidInput as e:
        raise InvalidInput(str(e), says="signing.refusal.reason_too_long", limit=MAX_REASON) from e
    try:
        typed_name = clean_text(
            decision.typed_name, what="full name", max_len=MAX_NAME, required=False
        )
    except InvalidInput as e:
        raise InvalidInput(str(e), says="signing.refusal.name_too_long", limit=MAX_NAME) from e
    return reason, typed_name


def _auth_level(page: PartyPage, decision: Decision) -> str:
    """How sure we are who decides: what this very browser confirmed (or Telegram vouches
    for with the decision itself). Refuses when a code is owed and was not confirmed here,
    so the level recorded is always the one used."""
    if decision.telegram_user_id is not None:
        if telegram_is_contact(page, decision.telegram_user_id):
            return Via.TELEGRAM
        raise NotAllowed(
            "this Telegram account is not the one this request was sent to",
            says="signing.refusal.other_telegram",
        )
    if page.confirmed_via:
        via = page.confirmed_via
        return via if via == Via.TELEGRAM else f"code:{via}"
    if page.code_owed:
        refusal = cannot_send(page)
        if refusal is not None:
            raise NotAllowed(
                refusal, says="signing.refusal.cannot_send", org=page.organization.name
            )
        raise NotAllowed(
            "confirm the one-time code we sent you before deciding",
            says="signing.refusal.confirm_code",
        )
    return LINK_ONLY


async def _advance(
    session: AsyncSession,
    request: SignatureRequest,
    row: PartyDecision,
    *,
    now: datetime,
    actor: Actor,
) -> None:
    request_id = id_of(request)
    if row.decision == "declined":
        await requests.end_request(
            session, request, status=requests.DECLINED, actor=actor, now=now, reason=row.reason
        )
        return
    state = await requests.load_state(session, request)
    waiting = [p for p in state.parties if p.role in DECIDING and p.id not in state.decisions]
    notes = [
        outbox.NewNotification(
            org_id=request.org_id,
            channel=Channel.SLACK,
            target=requests.staff_notice(request, status=row.decision).target,
            payload=SignStatusPayload(
                request_id=request_id, status=row.decision, party_id=row.party_id
            ),
            dedupe_key=f"sign:{request_id}:staff:party:{row.party_id}",
        )
    ]
    if waiting:
        await outbox.enqueue_many(session, notes, at=now)
        await requests.invite_due(session, request, now)
        return
    request.status = requests.SEALING
    request.status_changed_at = now
    session.add(request)
    notes.append(
        outbox.NewNotification(
            org_id=request.org_id,
            channel=Channel.SEAL,
            target=str(request_id),
            payload=SealPayload(request_id=request_id),
            dedupe_key=f"seal:{request_id}",
        )
    )
    await outbox.enqueue_many(session, notes, at=now)


def _check_png(png: bytes) -> None:
    if len(png) > MAX_SIGNATURE_PNG:
        raise InvalidInput(
            "the drawn signature is too large", says="signing.refusal.signature_too_large"
        )
    if not png.startswith(PNG_MAGIC):
        raise InvalidInput(
            "the drawn signature is not a PNG image", says="signing.refusal.signature_not_png"
        )


async def _store_signature(env: Env, png: bytes) -> str:
    """Keep a drawn signature (a PNG) on the medium; returns its blob key."""

    async def once() -> AsyncIterator[bytes]:
        yield png

    staged = await stage(once(), staging_dir=env.blobs.staging_dir, max_bytes=MAX_SIGNATURE_PNG)
    try:
        return await env.blobs.commit(staged)
    finally:
        staged.discard()


async def shared_cabinet_colleague(
    session: AsyncSession, party: Party, recipient_id: int
) -> Recipient | None:
    """``recipient_id`` as a colleague who may decide for ``party``: a live recipient of the
    same client, whose client keeps a shared cabinet; None otherwise."""
    if party.recipient_id is None or party.recipient_id == recipient_id:
        return None
    owner = await session.get(Recipient, party.recipient_id)
    colleague = await session.get(Recipient, recipient_id)
    if owner is None or colleague is None or colleague.org_id != party.org_id:
        return None
    if colleague.client_id != owner.client_id or colleague.status == "blocked":
        return None
    client = await session.get(Client, owner.client_id)
    return colleague if client is not None and client.shared_cabinet else None


async def link_for_recipient(env: Env, *, party_id: int, recipient_id: int, via: str) -> str:
    """A fresh link to ``party_id``'s page for a recipient reaching it through a channel
    (``via``: telegram, email): the party themself, or a colleague of a shared cabinet
    deciding in their place. Anyone else is refused."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        party = await session.get(Party, party_id)
        if party is None:
            raise NotFound(
                "this request is no longer available", says="signing.refusal.unavailable"
            )
        if party.recipient_id != recipient_id:
            colleague = await shared_cabinet_colleague(session, party, recipient_id)
            if colleague is None:
                raise NotAllowed(
                    "this request was sent to someone else", says="signing.refusal.someone_else"
                )
        colleague_id = recipient_id if party.recipient_id != recipient_id else None
        return await requests.mint_link(session, party, via, now, recipient_id=colleague_id)
