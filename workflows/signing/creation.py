"""Creating a signature request: its documents and parties checked, then written with a
link for each party, and the invitations of those whose turn it is, in one transaction.

A party is a recipient or a person named by email, phone or Telegram username. Staff are
told of each party who could not confirm who they are because their one-time code would
go by a channel this installation does not send (`cannot_confirm`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.blobs import stage
from storage.models import (
    Document,
    Organization,
    Party,
    Recipient,
    RequestDocument,
    SignatureRequest,
)
from storage.rows import id_of
from workflows import audit, media
from workflows.context import Actor, Env
from workflows.errors import InvalidInput, NotFound
from workflows.media import PDF
from workflows.outbox.kinds import Via
from workflows.people.organizations import check_email
from workflows.people.recipients import LANGUAGES, can_receive, check_phone
from workflows.scope import clean_text, get_scoped
from workflows.sharing import targets
from workflows.signing.requests import (
    DECIDING,
    MAX_DOCUMENTS,
    MAX_PARTIES,
    ORDERS,
    ROLES,
    PartyLinkResult,
    invite_due,
    mint_link,
)


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
    across_clients: bool = False
    """Staff send the documents on purpose to recipients of another client than theirs
    (`sharing.targets`); the history names those clients."""


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
        elsewhere = await targets.people_elsewhere(
            session,
            documents=docs,
            recipients=[
                await get_scoped(
                    session, Recipient, org_id=org_id, id=p.recipient_id, what="recipient"
                )
                for p in parties
                if p.recipient_id is not None
            ],
            across_clients=new.across_clients,
        )
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
                    **({"across_clients": sorted(set(elsewhere.values()))} if elsewhere else {}),
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
    """An untitled request is named by its documents' titles, in no language of its own
    (its parties read it in theirs), cut to what a title holds."""
    joined = ", ".join(d.title for d in documents)
    return joined if len(joined) <= 300 else joined[:299].rstrip(", ") + "…"
