"""Signature requests (envelopes): PDFs to be decided on by parties, in parallel or in order.

Staff create a request with its documents and parties; each party gets a link of their
own (only its hash is kept) and, when it is their turn, an invitation through the outbox.
`workflows.signing.deciding` takes the parties' decisions; when the last party who must decide
has decided in favour, the request becomes ``sealing`` and a ``seal`` outbox row asks the
sealing worker to seal its PDFs, retried like any delivery until it succeeds. A decline,
a cancellation or the expiry ends the request for everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Document,
    Party,
    PartyDecision,
    PartyLink,
    RequestDocument,
    SignatureRequest,
)
from storage.rows import id_of
from workflows import audit, outbox
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.outbox.kinds import Channel, Kind, PartyPayload, SignStatusPayload
from workflows.scope import clean_text
from workflows.sharing import staff_notices
from workflows.tokens import new_token
from workflows.webhooks import emitting
from workflows.webhooks import events as webhook_events

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
class PartyLinkResult:
    party: Party
    token: str
    """The raw link token, handed out once; staff may pass it on by any medium."""


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


def title_for_parties(request: SignatureRequest, documents: Sequence[Document]) -> str:
    """What a party calls a request: its title, else its first document's. References
    like ``S-4`` are for staff; a party never reads them."""
    return request.title.strip() or (documents[0].title if documents else "")


def parse_request_ref(ref: str) -> int:
    """``S-4`` (or ``4``) to the number 4."""
    text = ref.strip().upper().removeprefix(REF_PREFIX)
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"{ref.strip() or 'nothing'} is not a request reference like S-4")
    return int(text)


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
    ended = webhook_events.request_ended(request=request, status=status, reason=reason, at=now)
    await emitting.emit(session, ended)
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
