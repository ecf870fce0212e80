"""A party's side of a signature request: their page, their code, their decision.

A party reaches their page by a link token (only its hash is kept). Before deciding, a
party with a known channel (a linked Telegram chat or an email address) confirms a
one-time code sent there, or is recognised by Telegram itself; a party reachable only by
link decides on possession of the link. The level used is recorded with the decision.
A decision is final: the store holds at most one per party, and a repeat of the same
decision (a double click, a second tab) answers with the first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.blobs import stage
from storage.models import (
    Client,
    Document,
    Organization,
    Party,
    PartyDecision,
    PartyLink,
    Recipient,
    SignatureRequest,
)
from storage.rows import id_of
from workflows import audit, outbox
from workflows.context import Actor, Env
from workflows.errors import Conflict, Gone, InvalidInput, NotAllowed, NotFound
from workflows.outbox.kinds import Channel, CodePayload, SealPayload, SignStatusPayload, Via
from workflows.scope import clean_text
from workflows.signing import requests
from workflows.signing.requests import DECIDING, PENDING, RequestState
from workflows.tokens import hash_token, well_formed

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5
CODE_GAP = timedelta(seconds=60)
MAX_SIGNATURE_PNG = 512 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VERBS = {"signer": "sign", "approver": "approve"}
RESULTS = {"sign": "signed", "approve": "approved", "decline": "declined"}

LINK_ONLY = "link"


@dataclass(frozen=True)
class PartyPage:
    """Everything the signing page shows one party, and what they may do now."""

    organization: Organization
    state: RequestState
    party: Party
    link: PartyLink
    decider: Recipient | None
    """The colleague deciding in the party's place, when the link was issued to one."""
    contact: Recipient | None
    """Whoever decides through this link, when a recipient: the colleague, else the party."""
    decision: PartyDecision | None
    waiting_for: str | None
    """Whom a sequential request waits for before this party's turn."""

    @property
    def request(self) -> SignatureRequest:
        return self.state.request

    @property
    def on_behalf(self) -> bool:
        return self.decider is not None

    @property
    def verb(self) -> str | None:
        """``sign`` or ``approve``; None for a viewer."""
        return VERBS.get(self.party.role)

    @property
    def may_decide(self) -> bool:
        return (
            self.request.status == PENDING
            and self.decision is None
            and self.verb is not None
            and self.waiting_for is None
        )

    @property
    def unopened(self) -> list[Document]:
        opened = set(self.party.opened_documents)
        return [d for d in self.state.documents if d.id not in opened]

    @property
    def code_channel(self) -> Via | None:
        """Where a one-time code reaches whoever decides: ``telegram``, ``email`` or None
        (reachable only by link)."""
        if self.contact is not None:
            return _recipient_channel(self.contact)
        return Via.EMAIL if self.party.email else None

    @property
    def verified(self) -> bool:
        return self.party.verified_at is not None


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


@dataclass(frozen=True)
class CodeSent:
    channel: str
    to: str
    """Where it went, shown partly masked."""


async def open_page(env: Env, token: str) -> PartyPage:
    """The page behind a party's link; NotFound for a link that never existed."""
    async with env.reads() as session:
        return await _page(session, token, env.clock.now())


async def _page(session: AsyncSession, token: str, now: datetime) -> PartyPage:
    if not well_formed(token):
        raise NotFound("this signing link does not exist")
    link = (
        await session.exec(select(PartyLink).where(PartyLink.token_hash == hash_token(token)))
    ).first()
    if link is None:
        raise NotFound("this signing link does not exist")
    party = await session.get(Party, link.party_id)
    assert party is not None
    request = await session.get(SignatureRequest, party.request_id)
    organization = await session.get(Organization, party.org_id)
    assert request is not None and organization is not None
    state = await requests.load_state(session, request)
    decider = None
    if link.recipient_id is not None and link.recipient_id != party.recipient_id:
        decider = await session.get(Recipient, link.recipient_id)
    waiting_for = None
    decided = set(state.decisions)
    if party.role in DECIDING and not requests.is_turn(request, party, state.parties, decided):
        ahead = [p for p in state.parties if p.role in DECIDING and p.id not in decided]
        waiting_for = ahead[0].name if ahead else None
    return PartyPage(
        organization=organization,
        state=state,
        party=party,
        link=link,
        decider=decider,
        contact=decider
        if decider is not None
        else (await session.get(Recipient, party.recipient_id) if party.recipient_id else None),
        decision=state.decision_of(party),
        waiting_for=waiting_for,
    )


async def document_of(env: Env, token: str, document_id: int) -> Document:
    """One document of the party's request, for its preview or download."""
    page = await open_page(env, token)
    for document in page.state.documents:
        if document.id == document_id:
            return document
    raise NotFound(f"document {document_id} is not part of this request")


async def record_opened(env: Env, token: str, document_id: int, *, actor: Actor) -> None:
    """Note that the party opened a document of their request (once per document)."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        page = await _page(session, token, now)
        if document_id not in {d.id for d in page.state.documents}:
            raise NotFound(f"document {document_id} is not part of this request")
        party = page.party
        if document_id in party.opened_documents:
            return
        party.opened_documents = [*party.opened_documents, document_id]
        session.add(party)
        await audit.record(
            session,
            org_id=party.org_id,
            actor=actor,
            action="signature.document_opened",
            at=now,
            document_id=document_id,
            details={"request": page.request.ref, "party": party.name, "party_id": party.id},
        )


def party_actor(page: PartyPage, *, ip: str | None, user_agent: str | None) -> Actor:
    """The audit actor for whoever holds this party's link."""
    if page.decider is not None:
        who = f"{page.decider.name} for {page.party.name}"
        return Actor(type="recipient", id=str(page.decider.id), label=who).with_request(
            ip=ip, user_agent=user_agent
        )
    kind = "recipient" if page.party.recipient_id is not None else "party"
    ident = page.party.recipient_id if page.party.recipient_id is not None else page.party.id
    return Actor(type=kind, id=str(ident), label=page.party.name).with_request(
        ip=ip, user_agent=user_agent
    )


async def send_code(env: Env, token: str) -> CodeSent:
    """Send a fresh one-time code to the channel of whoever decides through this link."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        page = await _page(session, token, now)
        _check_open(page, now)
        channel = page.code_channel
        if channel is None:
            raise InvalidInput("this link needs no code")
        party = page.party
        if party.code_sent_at is not None and now - party.code_sent_at < CODE_GAP:
            raise Conflict("a code was sent a moment ago; wait a minute for it")
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        party.code_hash = _code_hash(party, code)
        party.code_expires_at = now + CODE_TTL
        party.code_attempts = 0
        party.code_sent_at = now
        session.add(party)
        party_id = id_of(party)
        contact = page.contact
        if contact is not None:
            target_channel, target = Channel.RECIPIENT, str(contact.id)
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


async def confirm_code(env: Env, token: str, code: str) -> None:
    """Check a one-time code; a wrong one counts against the few tries a code has."""
    now = env.clock.now()
    typed = "".join(ch for ch in code if ch.isdigit())
    failure: Exception | None = None
    async with env.sessions() as session, session.begin():
        page = await _page(session, token, now)
        _check_open(page, now)
        party = page.party
        if page.verified:
            return
        if party.code_hash is None or party.code_expires_at is None:
            raise InvalidInput("ask for a code first")
        if party.code_expires_at <= now:
            raise Gone("this code has expired; ask for a new one")
        if party.code_attempts >= CODE_ATTEMPTS:
            raise NotAllowed("too many wrong codes; ask for a new one")
        if len(typed) == CODE_DIGITS and hmac.compare_digest(
            party.code_hash, _code_hash(party, typed)
        ):
            party.verified_via = page.code_channel
            party.verified_at = now
            party.code_hash = None
        else:
            party.code_attempts += 1
            left = CODE_ATTEMPTS - party.code_attempts
            failure = (
                InvalidInput(f"that code is wrong; {left} {'try' if left == 1 else 'tries'} left")
                if left
                else NotAllowed("too many wrong codes; ask for a new one")
            )
        session.add(party)
    if failure is not None:
        raise failure


async def recognise_telegram(env: Env, token: str, telegram_user_id: int) -> bool:
    """Confirm the party's identity from a Telegram user id that Telegram vouched for
    (validated Mini App data); True when it is the one linked to whoever decides."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        page = await _page(session, token, now)
        contact = page.contact
        if contact is None or contact.telegram_user_id != telegram_user_id:
            return False
        if not page.verified:
            page.party.verified_via = Via.TELEGRAM
            page.party.verified_at = now
            session.add(page.party)
        return True


async def decide(env: Env, token: str, decision: Decision, *, actor: Actor) -> PartyDecision:
    """Record the party's decision, then move the request on: the next party's turn, the
    sealing, or — for a decline — its end for everyone."""
    now = env.clock.now()
    reason = clean_text(
        decision.reason, what="reason", max_len=2000, required=False, multiline=True
    )
    typed_name = clean_text(decision.typed_name, what="full name", max_len=200, required=False)
    signature_key = None
    if decision.signature_png is not None and decision.kind == "sign":
        _check_png(decision.signature_png)
        async with env.reads() as session:  # refuse before keeping anything on the medium
            page = await _page(session, token, now)
            if await session.get(PartyDecision, page.party.id) is None:
                _check_open(page, now)
                _check_decision(page, decision, reason=reason, typed_name=typed_name)
                _auth_level(page, decision)
        signature_key = await _store_signature(env, decision.signature_png)
    async with env.sessions() as session, session.begin():
        page = await _page(session, token, now)
        request = await session.get(SignatureRequest, page.request.id, with_for_update=True)
        assert request is not None
        existing = await session.get(PartyDecision, page.party.id)
        if existing is not None:
            return _repeat(existing, decision)
        _check_open(page, now)
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
            raise Conflict("this party has already decided") from e
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
        await _advance(session, request, row, now=now, actor=actor)
    return row


def _repeat(existing: PartyDecision, decision: Decision) -> PartyDecision:
    if existing.decision == RESULTS.get(decision.kind):
        return existing
    raise Conflict(f"this party has already {existing.decision}; a decision is final")


def _check_open(page: PartyPage, now: datetime) -> None:
    request = page.request
    if request.status != PENDING:
        raise Gone(f"this request is {request.status}")
    if request.expires_at is not None and request.expires_at <= now:
        raise Gone("this request has expired")


def _check_decision(
    page: PartyPage, decision: Decision, *, reason: str | None, typed_name: str | None
) -> None:
    if page.verb is None:
        raise NotAllowed("you receive these documents for information; there is nothing to decide")
    if decision.kind not in (page.verb, "decline"):
        raise InvalidInput(f"as {page.party.role} you may {page.verb} or decline")
    if page.waiting_for is not None:
        raise Conflict(f"it is not your turn yet: waiting for {page.waiting_for}")
    if decision.kind == "decline":
        if not reason:
            raise InvalidInput("say why you decline")
        return
    if decision.needs_review and page.unopened:
        titles = ", ".join(d.title for d in page.unopened)
        raise InvalidInput(f"open every document before deciding: {titles}")
    if decision.needs_review and not decision.consent:
        raise InvalidInput("tick the box to confirm you agree")
    if decision.kind == "sign" and decision.needs_review and not typed_name:
        raise InvalidInput("type your full name to sign")


def _auth_level(page: PartyPage, decision: Decision) -> str:
    """How sure we are who decides; refuses when a code is owed and not confirmed."""
    if decision.telegram_user_id is not None:
        contact = page.contact
        if contact is not None and contact.telegram_user_id == decision.telegram_user_id:
            return Via.TELEGRAM
        raise NotAllowed("this Telegram account is not the one this request was sent to")
    if page.party.verified_via:
        via = page.party.verified_via
        return via if via == Via.TELEGRAM else f"code:{via}"
    if page.code_channel is not None:
        raise NotAllowed("confirm the one-time code we sent you before deciding")
    return LINK_ONLY


def _recipient_channel(recipient: Recipient) -> Via | None:
    if recipient.telegram_chat_id is not None and recipient.telegram_active:
        return Via.TELEGRAM
    return Via.EMAIL if recipient.email else None


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
        raise InvalidInput("the drawn signature is too large")
    if not png.startswith(PNG_MAGIC):
        raise InvalidInput("the drawn signature is not a PNG image")


async def _store_signature(env: Env, png: bytes) -> str:
    """Keep a drawn signature (a PNG) on the medium; returns its blob key."""

    async def once() -> AsyncIterator[bytes]:
        yield png

    staged = await stage(once(), staging_dir=env.blobs.staging_dir, max_bytes=MAX_SIGNATURE_PNG)
    try:
        return await env.blobs.commit(staged)
    finally:
        staged.discard()


def _code_hash(party: Party, code: str) -> str:
    return hashlib.sha256(f"{party.id}:{party.request_id}:{code}".encode()).hexdigest()


def _masked(channel: Via, email: str | None, username: str | None) -> str:
    if channel == Via.EMAIL and email:
        name, _, domain = email.partition("@")
        return f"{name[:1]}***@{domain}"
    if channel == Via.TELEGRAM:
        return f"@{username}" if username else "your Telegram chat"
    return channel


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
            raise NotFound("this request is no longer available")
        if party.recipient_id != recipient_id:
            colleague = await shared_cabinet_colleague(session, party, recipient_id)
            if colleague is None:
                raise NotAllowed("this request was sent to someone else")
        colleague_id = recipient_id if party.recipient_id != recipient_id else None
        return await requests.mint_link(session, party, via, now, recipient_id=colleague_id)
