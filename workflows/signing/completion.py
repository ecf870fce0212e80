"""Completing a request: seal every PDF, keep the sealed files, tell everyone.

When the last party who must decide has decided in favour, the request is ``sealing`` and
a ``seal`` outbox row names it. `complete_request` is what the sealing worker does with
that row: it seals each document with the organisation's key (one signature per party,
in decision order, and the completion certificate), stores each sealed PDF as a new
version of its document, and only then marks the request completed and queues the
notices. A failure leaves the request ``sealing`` with the error noted; the row is tried
again. A document already sealed by an earlier attempt is not sealed twice. Before sealing,
the organisation's history is anchored by a checkpoint on the medium that covers the
request's events (`workflows.checkpoints`), and the certificate names it. The timestamp
authority's client and the fetchers of revocation data are the caller's (`seal_pdf`).

A document that already carried signatures is sealed without added pages, so that they
stay valid, and one certified against any change is kept as it was; the request then also
gets its completion certificate as a sealed PDF of its own (`seal_certificate`), kept as
one more document of the request (at `CERTIFICATE_POSITION`, its own sealed result), so
that it is offered, sent and listed wherever the sealed PDFs are.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.fetchers import FetcherBackend
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    AuditEvent,
    CodeEvent,
    Document,
    Organization,
    Party,
    PartyDecision,
    RequestDocument,
    SignatureRequest,
)
from storage.models import AuditHead as ChainHead
from storage.rows import id_of
from workflows import checkpoints, outbox
from workflows.context import Actor, Env
from workflows.documents import filing
from workflows.errors import Conflict, NotFound
from workflows.outbox.kinds import Channel, Kind, SignedFilePayload, SignStatusPayload
from workflows.signing import certificate, requests
from workflows.signing.seal import (
    PriorSignatures,
    SealingFailed,
    prior_signatures,
    seal_certificate,
    seal_pdf,
)
from workflows.signing.seal_keys import SealKey
from workflows.webhooks import emitting
from workflows.webhooks import events as webhook_events

SEALER = Actor.system("sealing")
AUTH_LEVELS = {
    "link": "possession of the link",
    "telegram": "Telegram account",
    "code:email": "one-time code by email",
    "code:telegram": "one-time code via Telegram",
}
CERTIFICATE_POSITION = requests.MAX_DOCUMENTS + 1
"""The place among a request's documents of its completion certificate as a PDF of its
own: after every document a request can hold."""


async def complete_request(
    env: Env,
    request_id: int,
    *,
    key: SealKey,
    timestamper: TimeStamper | None = None,
    fetcher_backend: FetcherBackend | None = None,
) -> SignatureRequest:
    """Seal the request's PDFs and complete it; raises (and leaves it ``sealing``) when
    anything fails, so that the caller tries again later. With ``timestamper``, each seal
    is timestamped and carries the revocation data ``fetcher_backend`` fetches."""
    sealing = _Sealing(key, timestamper, fetcher_backend)
    try:
        return await _complete(env, request_id, sealing)
    except Exception as error:
        await _note_failure(env, request_id, error)
        raise


@dataclass(frozen=True)
class _Sealing:
    """What sealing each PDF takes: the seal, and the clients of the TSA and the fetchers."""

    key: SealKey
    timestamper: TimeStamper | None
    fetcher_backend: FetcherBackend | None


async def _complete(env: Env, request_id: int, sealing: _Sealing) -> SignatureRequest:
    async with env.reads() as session:
        request = await session.get(SignatureRequest, request_id)
        if request is None:
            raise NotFound(f"request {request_id} not found")
        if request.status == requests.COMPLETED:
            return request
        if request.status != requests.SEALING:
            raise Conflict(f"{request.ref} is {request.status}, not waiting to be sealed")
        state = await requests.load_state(session, request)
        links = (
            await session.exec(
                select(RequestDocument)
                .where(RequestDocument.request_id == request_id)
                .order_by(col(RequestDocument.position))
            )
        ).all()
        organization = await session.get(Organization, request.org_id)
        head = await session.get(ChainHead, request.org_id)
        documents = [d for d in state.documents if d.id not in _certificates(links)]
        events = await _party_events(session, request, documents)
        codes = await _code_events(session, state)
        assert organization is not None and head is not None
    priors = {id_of(d): await _prior(env, d) for d in documents}
    checkpoint = await _checkpoint(env, request, sealing)
    info = certificate.CertificateInfo(
        request_ref=request.ref,
        title=request.title,
        organisation=organization.name,
        documents=tuple(
            certificate.DocumentEntry(
                title=d.title, filename=d.filename, sha256=d.sha256, prior=priors[id_of(d)]
            )
            for d in documents
        ),
        parties=tuple(
            [
                await _party_record(
                    env,
                    party,
                    decision,
                    (*events.get(id_of(party), ()), *codes.get(id_of(party), ())),
                )
                for party, decision in _in_decision_order(state)
            ]
        ),
        audit_head=certificate.AuditHead(seq=head.seq, hash=head.hash),
        completed_at=env.clock.now(),
        checkpoint=checkpoint,
    )
    # Each organisation seals with its own seal (its default one bears its name).
    key = await asyncio.to_thread(
        sealing.key.for_organisation, id_of(organization), organization.name, now=env.clock.now()
    )
    sealing = replace(sealing, key=key)
    by_id = {d.id: d for d in documents}
    for link in links:
        if link.sealed_document_id is not None or link.document_id not in by_id:
            continue
        if priors[link.document_id] == "unchangeable":
            await _keep_unchanged(env, link)
        else:
            await _seal_one(env, request, by_id[link.document_id], info, sealing)
    if info.standalone and not _certificates(links):
        await _seal_certificate(env, request, documents[0], info, sealing)
    return await _finish(env, request_id)


def _certificates(links: Sequence[RequestDocument]) -> set[int]:
    """The request's completion certificate among its documents, once it is a PDF of its
    own."""
    return {link.document_id for link in links if link.position == CERTIFICATE_POSITION}


async def _prior(env: Env, document: Document) -> PriorSignatures:
    """Whether the original carries signatures already (see `seal_pdf`)."""
    original = await _original(env, document)
    return await asyncio.to_thread(prior_signatures, original)


async def _original(env: Env, document: Document) -> bytes:
    original = b"".join([chunk async for chunk in env.blobs.read(document.blob_key)])
    if hashlib.sha256(original).hexdigest() != document.sha256:
        raise Conflict(f"{document.ref} on the medium does not match its recorded SHA-256")
    return original


async def _checkpoint(
    env: Env, request: SignatureRequest, sealing: _Sealing
) -> certificate.AuditHead | None:
    """The sealed checkpoint on the medium that covers the request's events, written now
    unless the last one does; the certificate names it. No checkpoint, no seal."""
    try:
        anchor = await checkpoints.anchor_chain(
            env,
            org_id=request.org_id,
            seal=sealing.key,
            timestamper=sealing.timestamper,
            reason=checkpoints.COMPLETION,
            request_id=request.id,
        )
    except checkpoints.CheckpointFailed as error:
        raise SealingFailed(str(error)) from error
    if anchor is None:
        return None
    return certificate.AuditHead(seq=anchor.checkpoint.seq, hash=anchor.checkpoint.hash)


def _in_decision_order(state: requests.RequestState) -> list[tuple[Party, PartyDecision]]:
    decided = [(p, state.decision_of(p)) for p in state.parties]
    pairs = [(p, d) for p, d in decided if d is not None and d.decision != "declined"]
    return sorted(pairs, key=lambda pair: (pair[1].decided_at, pair[0].position))


async def _party_record(
    env: Env, party: Party, decision: PartyDecision, events: tuple[certificate.PartyEvent, ...]
) -> certificate.PartyRecord:
    drawing = None
    if decision.signature_blob_key:
        drawing = b"".join([chunk async for chunk in env.blobs.read(decision.signature_blob_key)])
    colleague = decision.decided_by_recipient_id
    on_behalf = colleague is not None and colleague != party.recipient_id
    return certificate.PartyRecord(
        decision=certificate.PartyDecision(
            name=decision.decided_by_name,
            role="signer" if party.role == "signer" else "approver",
            decided_at=decision.decided_at,
            auth_level=AUTH_LEVELS.get(decision.auth_level, decision.auth_level),
            ip=decision.ip,
            user_agent=decision.user_agent,
            on_behalf_of=party.name if on_behalf else None,
            signature_png=drawing if party.role == "signer" else None,
        ),
        events=events,
    )


async def _party_events(
    session: AsyncSession, request: SignatureRequest, docs: list[Document]
) -> dict[int, tuple[certificate.PartyEvent, ...]]:
    """What each party did, from the history of the request's documents."""
    rows = await session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.org_id == request.org_id,
            col(AuditEvent.document_id).in_([d.id for d in docs]),
            col(AuditEvent.action).startswith("signature."),
        )
        .order_by(col(AuditEvent.seq))
    )
    titles = {d.id: d.title for d in docs}
    found: dict[int, list[certificate.PartyEvent]] = {}
    for event in rows.all():
        party_id = event.details.get("party_id")
        if event.details.get("request_id", request.id) != request.id or party_id is None:
            continue
        what = event.action.removeprefix("signature.").replace("_", " ")
        if event.document_id in titles:
            what = f"{what}: {titles[event.document_id]}"
        found.setdefault(int(party_id), []).append(
            certificate.PartyEvent(at=event.at, what=what, ip=event.ip, user_agent=event.user_agent)
        )
    return {party_id: tuple(events) for party_id, events in found.items()}


async def _seal_one(
    env: Env,
    request: SignatureRequest,
    document: Document,
    info: certificate.CertificateInfo,
    sealing: _Sealing,
) -> None:
    original = await _original(env, document)
    sealed = await asyncio.to_thread(
        seal_pdf,
        original,
        key=sealing.key,
        certificate=info,
        timestamper=sealing.timestamper,
        fetcher_backend=sealing.fetcher_backend,
    )

    async def once() -> AsyncIterator[bytes]:
        yield sealed

    stem = document.filename.rsplit(".", 1)[0]
    version = await filing.upload_document(
        env,
        org_id=request.org_id,
        actor=SEALER,
        meta=filing.NewDocument(
            title=document.title,
            category=document.category,
            client_id=document.client_id,
            filename=f"{stem}-signed.pdf",
            available_from=document.available_from,
            available_until=document.available_until,
            version_of=document.id,
        ),
        content=once(),
    )
    async with env.sessions() as session, session.begin():
        link = await session.get(RequestDocument, (request.id, document.id))
        assert link is not None
        link.sealed_document_id = version.id
        session.add(link)


async def _keep_unchanged(env: Env, link: RequestDocument) -> None:
    """A document certified against any change is its own sealed result."""
    async with env.sessions() as session, session.begin():
        row = await session.get(RequestDocument, (link.request_id, link.document_id))
        assert row is not None
        row.sealed_document_id = row.document_id
        session.add(row)


async def _seal_certificate(
    env: Env,
    request: SignatureRequest,
    first: Document,
    info: certificate.CertificateInfo,
    sealing: _Sealing,
) -> None:
    """The certificate as a sealed PDF of its own, filed with the request's first
    document's client, category and availability, and kept as the request's last
    document."""
    sealed = await asyncio.to_thread(
        seal_certificate,
        key=sealing.key,
        certificate=info,
        timestamper=sealing.timestamper,
        fetcher_backend=sealing.fetcher_backend,
    )

    async def once() -> AsyncIterator[bytes]:
        yield sealed

    filed = await filing.upload_document(
        env,
        org_id=request.org_id,
        actor=SEALER,
        meta=filing.NewDocument(
            title=f"Completion certificate: {request.title}"[:300],
            category=first.category,
            client_id=first.client_id,
            filename=f"completion-certificate-{request.ref}.pdf",
            available_from=first.available_from,
            available_until=first.available_until,
        ),
        content=once(),
    )
    async with env.sessions() as session, session.begin():
        session.add(
            RequestDocument(
                request_id=id_of(request),
                document_id=id_of(filed),
                org_id=request.org_id,
                position=CERTIFICATE_POSITION,
                sealed_document_id=id_of(filed),
            )
        )


async def _code_events(
    session: AsyncSession, state: requests.RequestState
) -> dict[int, tuple[certificate.PartyEvent, ...]]:
    """Each party's one-time codes: every code sent and every wrong one typed (kept while
    the request is open: `identity.forget`), and when whoever decides first confirmed who
    they are."""
    parties = {id_of(party): party for party in state.parties}
    rows = await session.exec(
        select(CodeEvent)
        .where(
            CodeEvent.org_id == state.request.org_id,
            col(CodeEvent.party_id).in_(list(parties)),
        )
        .order_by(col(CodeEvent.at), col(CodeEvent.id))
    )
    found: dict[int, list[certificate.PartyEvent]] = {}
    for event in rows.all():
        decision = state.decision_of(parties[event.party_id])
        channel = _CODE_CHANNELS.get(decision.auth_level if decision else "", "")
        what = (
            f"one-time code sent{channel}"
            if event.kind == "sent"
            else "a wrong one-time code was typed"
        )
        found.setdefault(event.party_id, []).append(
            certificate.PartyEvent(at=event.at, what=what, ip=event.ip)
        )
    for party_id, party in parties.items():
        decision = state.decision_of(party)
        confirmed = _CONFIRMED.get(decision.auth_level) if decision else None
        if party.verified_at is not None and confirmed is not None:
            found.setdefault(party_id, []).append(
                certificate.PartyEvent(at=party.verified_at, what=confirmed)
            )
    return {party_id: tuple(events) for party_id, events in found.items()}


_CODE_CHANNELS = {"code:email": " by email", "code:telegram": " via Telegram"}
_CONFIRMED = {
    "code:email": "identity confirmed with the one-time code",
    "code:telegram": "identity confirmed with the one-time code",
    "telegram": "identity confirmed by the Telegram account",
}


async def _finish(env: Env, request_id: int) -> SignatureRequest:
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        request = await session.get(SignatureRequest, request_id, with_for_update=True)
        assert request is not None
        if request.status == requests.COMPLETED:
            return request
        request.status = requests.COMPLETED
        request.status_changed_at = now
        request.last_error = None
        session.add(request)
        sealed = (
            await session.exec(
                select(Document)
                .join(RequestDocument, col(RequestDocument.sealed_document_id) == Document.id)
                .where(RequestDocument.request_id == request_id)
                .order_by(col(RequestDocument.position))
            )
        ).all()
        parties = (await session.exec(select(Party).where(Party.request_id == request_id))).all()
        notes = [
            requests.party_notice(request, party, kind=Kind.SIGN_COMPLETED, key="completed")
            for party in parties
        ]
        notes += [
            _signed_file(request, party, document) for party in parties for document in sealed
        ]
        told = requests.staff_notice(request, status=requests.COMPLETED)
        assert isinstance(told.payload, SignStatusPayload)
        refs = tuple(d.ref for d in sealed)
        notes.append(replace(told, payload=replace(told.payload, sealed=refs)))
        await outbox.enqueue_many(session, [n for n in notes if n is not None], at=now)
        completed = webhook_events.request_completed(request=request, sealed=sealed, at=now)
        await emitting.emit(session, completed)
        await requests.record_all(
            session,
            request,
            actor=SEALER,
            action="signature.completed",
            at=now,
            details={"sealed": {d.ref: d.sha256 for d in sealed}},
        )
    return request


def _signed_file(
    request: SignatureRequest, party: Party, document: Document
) -> outbox.NewNotification | None:
    """One sealed PDF for a recipient party's chat; the routing decides if it can go."""
    if party.recipient_id is None:
        return None
    party_id, document_id = id_of(party), id_of(document)
    return outbox.NewNotification(
        org_id=request.org_id,
        channel=Channel.RECIPIENT,
        target=str(party.recipient_id),
        payload=SignedFilePayload(
            request_id=id_of(request), party_id=party_id, document_id=document_id
        ),
        dedupe_key=f"sign:{party_id}:file:{document_id}",
    )


async def _note_failure(env: Env, request_id: int, error: Exception) -> None:
    async with env.sessions() as session, session.begin():
        request = await session.get(SignatureRequest, request_id)
        if request is not None and request.status == requests.SEALING:
            request.last_error = f"{type(error).__name__}: {error}"[:2000]
            session.add(request)
