"""Signature requests (envelopes): PDFs to be decided on by parties, in parallel or in order.

Staff create a request with its documents and parties; each party gets a link of their
own (only its hash is kept) and, when it is their turn, an invitation through the outbox.
`workflows.signing.deciding` takes the parties' decisions; when the last party who must decide
has decided in favour, the request becomes ``sealing`` and a ``seal`` outbox row asks the
sealing worker to seal its PDFs, retried like any delivery until it succeeds. A decline,
a cancellation or the expiry ends the request for everyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.blobs import stage
from storage.models import (
    Document,
    Organization,
    Party,
    PartyDecision,
    PartyLink,
    Recipient,
    RequestDocument,
    SignatureRequest,
)
from storage.rows import id_of
from workflows import audit, media, outbox
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.media import PDF
from workflows.outbox.kinds import Channel, Kind, PartyPayload, SignStatusPayload, Via
from workflows.people.organizations import check_email
from workflows.people.recipients import LANGUAGES, can_receive, check_phone
from workflows.scope import clean_text, get_scoped
from workflows.sharing import staff_notices
from workflows.tokens import new_token

ROLES = ("signer", "approver", "viewer")
DECIDING = ("signer", "approver")
ORDERS = ("parallel", "sequential")
PENDING, SEALING, COMPLETED = "pending", "sealing", "completed"
DECLINED, EXPIRED, CANCELLED = "declined", "expired", "cancelled"
ENDED = (COMPLETED, DECLINED, EXPIRED, CANCELLED)
MAX_DOCUMENTS = 20
MAX_PARTIES = 20
REF_PREFIX = "S-"


@dataclass(frozen=True)
class NewParty:
    """A party as staff name it: an existing recipient, or a person by name and contact."""

    role: str
    recipient_id: int | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    telegram_username: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class NewRequest:
    document_ids: Sequence[int]
    parties: Sequence[NewParty]
    order: str = "parallel"
    expires_at: datetime | None = None
    message: str | None = None
    language: str | None = None
    title: str | None = None
    remind_every_days: int = 2
    reminders_max: int = 3


@dataclass(frozen=True)
class PartyLinkResult:
    party: Party
    token: str
    """The raw link token, handed out once; staff may pass it on by any medium."""


@dataclass(frozen=True)
class CreatedRequest:
    request: SignatureRequest
    documents: list[Document]
    parties: list[PartyLinkResult]
    unconfirmable: list[str] = field(default_factory=list)
    """For each party who must confirm a one-time code that this installation cannot send
    them, who and why: they cannot decide until it can (`cannot_confirm`)."""


def channels_of(party: Party, contact: Recipient | None) -> list[Via]:
    """The channels whoever decides for ``party`` is known by, the one to prefer first:
    ``contact`` is the recipient deciding (the party, or a colleague in their place)."""
    if contact is not None:
        linked = contact.telegram_chat_id is not None and contact.telegram_active
        known = [(Via.TELEGRAM, linked), (Via.EMAIL, bool(contact.email))]
    else:
        known = [(Via.EMAIL, bool(party.email))]
    return [via for via, ok in known if ok]


def cannot_confirm(party: Party, contact: Recipient | None, reach: frozenset[str]) -> str | None:
    """Why whoever decides for ``party`` cannot confirm who they are: a code is owed and
    none of their channels is one this installation sends through. None when they can."""
    channels = channels_of(party, contact)
    if not channels or any(via in reach for via in channels):
        return None
    by = " or ".join("Telegram" if via == Via.TELEGRAM else "email" for via in channels)
    return (
        f"{party.name} cannot confirm who they are: their one-time code would go by {by}, "
        "which this installation does not send; they cannot decide until it does"
    )


@dataclass(frozen=True)
class RequestState:
    """A request with its documents, parties and their decisions, as staff see it."""

    request: SignatureRequest
    documents: list[Document]
    parties: list[Party]
    decisions: dict[int, PartyDecision] = field(default_factory=dict)
    sealed: dict[int, Document] = field(default_factory=dict)
    """The sealed version of each document, by the original's id, once sealed."""

    def decision_of(self, party: Party) -> PartyDecision | None:
        return self.decisions.get(id_of(party))


def parse_request_ref(ref: str) -> int:
    """``S-4`` (or ``4``) to the number 4."""
    text = ref.strip().upper().removeprefix(REF_PREFIX)
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"{ref.strip() or 'nothing'} is not a request reference like S-4")
    return int(text)


async def create_request(
    env: Env, *, org_id: int, actor: Actor, staff_id: int | None, new: NewRequest
) -> CreatedRequest:
    """Check everything, then write the request, its parties and their links, and invite
    the parties whose turn it is, in one transaction."""
    now = env.clock.now()
    _check_shape(new, now)
    message = clean_text(new.message, what="message", max_len=2000, required=False, multiline=True)
    await _refuse_encrypted(env, org_id, new.document_ids)
    async with env.sessions() as session, session.begin():
        organization = await session.get(Organization, org_id, with_for_update=True)
        if organization is None:
            raise NotFound(f"organisation {org_id} not found")
        docs = [await _signable(session, org_id, doc_id) for doc_id in new.document_ids]
        parties = [
            await _party(session, org_id, spec, position, organization.default_language, now)
            for position, spec in enumerate(new.parties, start=1)
        ]
        _check_parties(parties)
        number = organization.next_request_number
        await session.exec(
            update(Organization)
            .where(col(Organization.id) == org_id)
            .values(next_request_number=number + 1)
        )
        language = new.language or organization.default_language
        if language not in LANGUAGES:
            raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
        title = clean_text(new.title, what="title", max_len=300, required=False) or _title(docs)
        request = SignatureRequest(
            org_id=org_id,
            number=number,
            title=title,
            signing_order=new.order,
            message=message,
            language=language,
            expires_at=new.expires_at,
            remind_every_days=new.remind_every_days,
            reminders_max=new.reminders_max,
            created_by_staff_id=staff_id,
            created_at=now,
            status_changed_at=now,
        )
        session.add(request)
        await session.flush()
        request_id = id_of(request)
        for position, document in enumerate(docs, start=1):
            session.add(
                RequestDocument(
                    request_id=request_id,
                    document_id=id_of(document),
                    org_id=org_id,
                    position=position,
                )
            )
        links: list[PartyLinkResult] = []
        for party in parties:
            party.request_id = request_id
            session.add(party)
        await session.flush()
        for party in parties:
            links.append(PartyLinkResult(party, await mint_link(session, party, "staff", now)))
        for document in docs:
            await audit.record(
                session,
                org_id=org_id,
                actor=actor,
                action="signature.requested",
                at=now,
                document_id=document.id,
                details={
                    "request": request.ref,
                    "request_id": request_id,
                    "order": request.signing_order,
                    "parties": [{"name": p.name, "role": p.role} for p in parties],
                },
            )
        await invite_due(session, request, now)
        unconfirmable = [
            why
            for party in parties
            if party.role in DECIDING
            and (why := cannot_confirm(party, await _contact(session, party), env.reach))
        ]
    return CreatedRequest(
        request=request, documents=docs, parties=links, unconfirmable=unconfirmable
    )


async def _contact(session: AsyncSession, party: Party) -> Recipient | None:
    return await session.get(Recipient, party.recipient_id) if party.recipient_id else None


def _check_shape(new: NewRequest, now: datetime) -> None:
    if not new.document_ids:
        raise InvalidInput("choose at least one PDF to sign")
    if len(new.document_ids) > MAX_DOCUMENTS:
        raise InvalidInput(f"a request holds at most {MAX_DOCUMENTS} documents")
    if len(set(new.document_ids)) != len(new.document_ids):
        raise InvalidInput("a document is listed twice")
    if not new.parties:
        raise InvalidInput("name at least one party")
    if len(new.parties) > MAX_PARTIES:
        raise InvalidInput(f"a request has at most {MAX_PARTIES} parties")
    for party in new.parties:
        if party.role not in ROLES:
            raise InvalidInput(f"role must be signer, approver or viewer, not {party.role!r}")
    if not any(p.role in DECIDING for p in new.parties):
        raise InvalidInput("at least one party must sign or approve")
    if new.order not in ORDERS:
        raise InvalidInput(f"order must be parallel or sequential, not {new.order!r}")
    if new.expires_at is not None and new.expires_at <= now:
        raise InvalidInput("the request must expire in the future")
    if not 1 <= new.remind_every_days <= 30:
        raise InvalidInput("reminders come every 1 to 30 days")
    if not 0 <= new.reminders_max <= 10:
        raise InvalidInput("send at most 10 reminders")


async def _refuse_encrypted(env: Env, org_id: int, document_ids: Sequence[int]) -> None:
    """Refuse PDFs that carry encryption, before anything is written: the seal could
    never be added to them, and the request would be stuck once everyone had signed."""
    async with env.reads() as session:
        rows = await session.exec(
            select(Document).where(
                Document.org_id == org_id,
                col(Document.id).in_(list(document_ids)),
                Document.media_type == PDF,
            )
        )
        found = list(rows.all())
    for document in found:
        if await _encrypted(env, document):
            raise InvalidInput(
                f"{document.ref} is an encrypted PDF; send it again without protection to "
                "have it signed"
            )


async def _encrypted(env: Env, document: Document) -> bool:
    local = env.blobs.local_path(document.blob_key)
    if local is not None:
        return await asyncio.to_thread(media.pdf_is_encrypted, local)
    staged = await stage(
        env.blobs.read(document.blob_key),
        staging_dir=env.blobs.staging_dir,
        max_bytes=max(document.size, 1),
    )
    try:
        return await asyncio.to_thread(media.pdf_is_encrypted, staged.path)
    finally:
        staged.discard()


async def _signable(session: AsyncSession, org_id: int, document_id: int) -> Document:
    document = await get_scoped(session, Document, org_id=org_id, id=document_id, what="document")
    if document.media_type != PDF:
        raise InvalidInput(f"{document.ref} is not a PDF; only PDFs can be signed")
    return document


async def _party(
    session: AsyncSession,
    org_id: int,
    spec: NewParty,
    position: int,
    default_language: str,
    now: datetime,
) -> Party:
    if spec.role not in ROLES:
        raise InvalidInput(f"role must be signer, approver or viewer, not {spec.role!r}")
    if spec.recipient_id is not None:
        recipient = await get_scoped(
            session, Recipient, org_id=org_id, id=spec.recipient_id, what="recipient"
        )
        refusal = can_receive(recipient, now)
        if refusal:
            raise InvalidInput(refusal)
        return Party(
            org_id=org_id,
            request_id=0,
            position=position,
            role=spec.role,
            recipient_id=recipient.id,
            name=recipient.name,
            email=recipient.email,
            phone=recipient.phone,
            telegram_username=recipient.telegram_username,
            language=recipient.language,
            created_at=now,
        )
    name = clean_text(spec.name, what="a party's name", max_len=200)
    assert name is not None
    username = (spec.telegram_username or "").strip().removeprefix("@") or None
    if username is not None and not _telegram_username(username):
        raise InvalidInput(f"'{username}' is not a Telegram username")
    email, phone = check_email(spec.email), check_phone(spec.phone)
    if not (email or phone or username):
        raise InvalidInput(f"give {name}'s email, phone or Telegram username")
    language = spec.language or default_language
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    return Party(
        org_id=org_id,
        request_id=0,
        position=position,
        role=spec.role,
        name=name,
        email=email,
        phone=phone,
        telegram_username=username,
        language=language,
        created_at=now,
    )


def _telegram_username(name: str) -> bool:
    return 5 <= len(name) <= 32 and all(c.isascii() and (c.isalnum() or c == "_") for c in name)


def _check_parties(parties: list[Party]) -> None:
    seen: set[int] = set()
    for party in parties:
        if party.recipient_id is None:
            continue
        if party.recipient_id in seen:
            raise InvalidInput(f"{party.name} is named twice")
        seen.add(party.recipient_id)


def _title(documents: list[Document]) -> str:
    first = documents[0].title
    more = len(documents) - 1
    return first if not more else f"{first} and {more} more"[:300]


async def mint_link(
    session: AsyncSession,
    party: Party,
    issued_for: str,
    now: datetime,
    *,
    recipient_id: int | None = None,
) -> str:
    """A new link to ``party``'s page (for ``recipient_id``, a colleague deciding in their
    place, if given); returns the raw token, keeps only its hash."""
    token, token_hash = new_token()
    session.add(
        PartyLink(
            org_id=party.org_id,
            party_id=id_of(party),
            token_hash=token_hash,
            issued_for=issued_for,
            recipient_id=recipient_id,
            created_at=now,
        )
    )
    return token


async def invite_due(session: AsyncSession, request: SignatureRequest, now: datetime) -> int:
    """Invite every party whose turn it is and who has not been invited: all of them in
    parallel order, else viewers and the first party still to decide. Returns how many."""
    request_id = id_of(request)
    parties = await _parties(session, request_id)
    decided = await _decided_ids(session, request_id)
    due = [p for p in parties if p.invited_at is None and _turn(request, p, parties, decided)]
    for party in due:
        party.invited_at = now
        if party.role in DECIDING and request.reminders_max > 0:
            party.next_reminder_at = now + timedelta(days=request.remind_every_days)
        session.add(party)
        note = party_notice(request, party, kind=Kind.SIGN_INVITE, key="invite")
        if note is not None:
            await outbox.enqueue_many(session, [note], at=now)
    return len(due)


def _turn(request: SignatureRequest, party: Party, parties: list[Party], decided: set[int]) -> bool:
    if request.signing_order == "parallel" or party.role == "viewer":
        return True
    waiting = [p for p in parties if p.role in DECIDING and p.id not in decided]
    return bool(waiting) and waiting[0].id == party.id


def is_turn(
    request: SignatureRequest, party: Party, parties: list[Party], decided: set[int]
) -> bool:
    """Whether ``party`` may decide now (sequential requests go one party at a time)."""
    return party.role in DECIDING and _turn(request, party, parties, decided)


def party_notice(
    request: SignatureRequest, party: Party, *, kind: Kind, key: str
) -> outbox.NewNotification | None:
    """A notification to ``party`` through their channel: a recipient's (Telegram, else
    mail), or mail for a person outside the system; None when only their link reaches them."""
    party_id = id_of(party)
    if party.recipient_id is not None:
        channel, target = Channel.RECIPIENT, str(party.recipient_id)
    elif party.email:
        channel, target = Channel.PARTY, str(party_id)
    else:
        return None
    return outbox.NewNotification(
        org_id=party.org_id,
        channel=channel,
        target=target,
        payload=PartyPayload(kind=kind, request_id=id_of(request), party_id=party_id),
        dedupe_key=f"sign:{party_id}:{key}",
    )


def staff_notice(request: SignatureRequest, *, status: str) -> outbox.NewNotification:
    """'Request S-4 is now completed' (or declined, expired…) for the staff who sent it."""
    request_id = id_of(request)
    return outbox.NewNotification(
        org_id=request.org_id,
        channel=Channel.SLACK,
        target=staff_notices.target_of(request.created_by_staff_id),
        payload=SignStatusPayload(request_id=request_id, status=status),
        dedupe_key=f"sign:{request_id}:staff:{status}",
    )


async def _parties(session: AsyncSession, request_id: int) -> list[Party]:
    rows = await session.exec(
        select(Party).where(Party.request_id == request_id).order_by(col(Party.position))
    )
    return list(rows.all())


async def _decided_ids(session: AsyncSession, request_id: int) -> set[int]:
    rows = await session.exec(
        select(PartyDecision.party_id).where(PartyDecision.request_id == request_id)
    )
    return set(rows.all())


async def end_request(
    session: AsyncSession,
    request: SignatureRequest,
    *,
    status: str,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Move a pending request to an end (declined, expired, cancelled) and tell everyone
    concerned: every invited party and the staff who sent it."""
    assert status in (DECLINED, EXPIRED, CANCELLED)
    request.status = status
    request.status_changed_at = now
    session.add(request)
    parties = await _parties(session, id_of(request))
    notes = [
        party_notice(request, party, kind=Kind.SIGN_ENDED, key=status)
        for party in parties
        if party.invited_at is not None
    ]
    notes.append(staff_notice(request, status=status))
    await outbox.enqueue_many(session, [n for n in notes if n is not None], at=now)
    await record_all(
        session,
        request,
        actor=actor,
        action=f"signature.{status}",
        at=now,
        details={"reason": reason} if reason else {},
    )


async def record_all(
    session: AsyncSession,
    request: SignatureRequest,
    *,
    actor: Actor,
    action: str,
    at: datetime,
    details: dict[str, object] | None = None,
) -> None:
    """One audit event per document of the request, so each document's history shows it."""
    request_id = id_of(request)
    rows = await session.exec(
        select(RequestDocument.document_id)
        .where(RequestDocument.request_id == request_id)
        .order_by(col(RequestDocument.position))
    )
    for document_id in rows.all():
        await audit.record(
            session,
            org_id=request.org_id,
            actor=actor,
            action=action,
            at=at,
            document_id=document_id,
            details={"request": request.ref, "request_id": request_id, **(details or {})},
        )


async def cancel_request(
    env: Env, *, org_id: int, actor: Actor, ref: str, reason: str | None = None
) -> SignatureRequest:
    """Staff call a pending request off; the parties and staff are told."""
    why = clean_text(reason, what="reason", max_len=2000, required=False, multiline=True)
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        request = await locked_by_ref(session, org_id, ref)
        if request.status != PENDING:
            raise Conflict(
                f"{request.ref} is {request.status}; only a pending request can be cancelled"
            )
        await end_request(session, request, status=CANCELLED, actor=actor, now=now, reason=why)
    return request


async def staff_link(
    env: Env, *, org_id: int, actor: Actor, ref: str, position: int
) -> PartyLinkResult:
    """A fresh link to the page of the request's party number ``position``, for staff to
    pass on by any medium (the first one was shown only once); noted in the history."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        request = await locked_by_ref(session, org_id, ref)
        if request.status in (DECLINED, EXPIRED, CANCELLED):
            raise Conflict(f"{request.ref} is {request.status}; its links open nothing to decide")
        party = (
            await session.exec(
                select(Party).where(Party.request_id == request.id, Party.position == position)
            )
        ).first()
        if party is None:
            raise NotFound(f"{request.ref} has no party {position}")
        token = await mint_link(session, party, "staff", now)
        await record_all(
            session,
            request,
            actor=actor,
            action="signature.link_issued",
            at=now,
            details={"party": party.name, "position": position},
        )
    return PartyLinkResult(party, token)


async def expire_due(env: Env, *, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Expire every pending request whose ``expires_at`` has passed; returns their refs."""
    at = now or env.clock.now()
    expired: list[str] = []
    async with env.sessions() as session, session.begin():
        rows = await session.exec(
            select(SignatureRequest)
            .where(
                SignatureRequest.status == PENDING,
                col(SignatureRequest.expires_at) <= at,
            )
            .order_by(col(SignatureRequest.id))
            .limit(limit)
            .with_for_update()
        )
        for request in rows.all():
            await end_request(
                session, request, status=EXPIRED, actor=Actor.system("scheduler"), now=at
            )
            expired.append(request.ref)
    return expired


async def locked_by_ref(session: AsyncSession, org_id: int, ref: str) -> SignatureRequest:
    """The organisation's request ``ref`` (``S-12``), locked for this transaction."""
    number = parse_request_ref(ref)
    request = (
        await session.exec(
            select(SignatureRequest)
            .where(SignatureRequest.org_id == org_id, SignatureRequest.number == number)
            .with_for_update()
        )
    ).first()
    if request is None:
        raise NotFound(f"request {REF_PREFIX}{number} not found")
    return request


async def request_state(env: Env, *, org_id: int, ref: str) -> RequestState:
    """A request of this organisation with its documents, parties and decisions."""
    number = parse_request_ref(ref)
    async with env.reads() as session:
        request = (
            await session.exec(
                select(SignatureRequest).where(
                    SignatureRequest.org_id == org_id, SignatureRequest.number == number
                )
            )
        ).first()
        if request is None:
            raise NotFound(f"request {REF_PREFIX}{number} not found")
        return await load_state(session, request)


async def load_state(session: AsyncSession, request: SignatureRequest) -> RequestState:
    request_id = id_of(request)
    documents = await session.exec(
        select(Document)
        .join(RequestDocument, col(RequestDocument.document_id) == Document.id)
        .where(RequestDocument.request_id == request_id)
        .order_by(col(RequestDocument.position))
    )
    decisions = await session.exec(
        select(PartyDecision).where(PartyDecision.request_id == request_id)
    )
    sealed = await session.exec(
        select(RequestDocument.document_id, Document)
        .join(Document, col(Document.id) == RequestDocument.sealed_document_id)
        .where(RequestDocument.request_id == request_id)
    )
    return RequestState(
        request=request,
        documents=list(documents.all()),
        parties=await _parties(session, request_id),
        decisions={d.party_id: d for d in decisions.all()},
        sealed={original: version for original, version in sealed.all()},
    )


async def list_requests(
    env: Env, *, org_id: int, status: str | None = None, limit: int = 50
) -> Sequence[SignatureRequest]:
    """The organisation's requests, newest first, optionally of one status."""
    query = select(SignatureRequest).where(SignatureRequest.org_id == org_id)
    if status is not None:
        if status not in (PENDING, SEALING, *ENDED):
            raise InvalidInput(f"no request status {status!r}")
        query = query.where(SignatureRequest.status == status)
    async with env.reads() as session:
        rows = await session.exec(query.order_by(col(SignatureRequest.id).desc()).limit(limit))
        return rows.all()
