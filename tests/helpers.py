"""Small helpers the tests share: put things in the store as staff would, read back what
the workflows left there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import func
from sqlmodel import col, select

from inkpost.sample_pdf import make_pdf
from storage.models import AuditEvent, Document, Notification, RequestDocument, SignatureRequest
from tests.conftest import Tenant
from workflows.context import Actor, Env
from workflows.documents import filing
from workflows.people import linking, recipients
from workflows.people.linking import ChatIdentity
from workflows.signing import creation, identity, party_page
from workflows.signing.creation import NewParty, NewRequest

STAFF = Actor.system("tests")


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def upload(
    env: Env, *, org_id: int, client_id: int, data: bytes | None = None, **meta: object
) -> Document:
    fields: dict[str, object] = {
        "title": "Fee table 2027",
        "category": "fee table",
        "client_id": client_id,
        "filename": "fee-table-2027.pdf",
    }
    fields.update(meta)
    return await filing.upload_document(
        env,
        org_id=org_id,
        actor=STAFF,
        meta=filing.NewDocument(**fields),  # type: ignore[arg-type]
        content=chunks(data if data is not None else make_pdf("Fee table 2027", pages=3)),
    )


def blob_files(root: Path) -> list[Path]:
    """Every stored blob and leftover staging file under a file store's root."""
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file())


# -- people --------------------------------------------------------------------------------


async def add_person(env: Env, tenant: Tenant, *, name: str, **extra: object) -> int:
    """Another recipient at the tenant's client; their id."""
    person = await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, name=name, **extra
    )
    assert person.id is not None
    return person.id


async def link_chat(
    env: Env, tenant: Tenant, *, chat: ChatIdentity, recipient_id: int | None = None
) -> None:
    """The recipient (the tenant's own unless ``recipient_id``) redeems an invitation from
    ``chat``, as ``/start <code>`` does in Telegram."""
    invite = await linking.create_invite(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        recipient_id=tenant.recipient_id if recipient_id is None else recipient_id,
    )
    await linking.redeem_invite(env, code=invite.code, chat=chat)


# -- signing -------------------------------------------------------------------------------


async def request_signatures(
    env: Env,
    tenant: Tenant,
    *parties: NewParty,
    message: str | None = None,
    client_id: int | None = None,
) -> creation.CreatedRequest:
    """Staff asks ``parties`` to decide on a freshly uploaded document of ``client_id``
    (the tenant's client unless given)."""
    document = await upload(env, org_id=tenant.org_id, client_id=client_id or tenant.client_id)
    assert document.id is not None
    return await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(document_ids=[document.id], parties=parties, message=message),
    )


async def request_status(env: Env, request_id: int | None) -> str:
    async with env.reads() as session:
        request = await session.get(SignatureRequest, request_id)
        assert request is not None
        return request.status


# -- what the store holds ------------------------------------------------------------------


async def stored_notifications(
    env: Env, *, kind: str | None = None, channels: tuple[str, ...] = ()
) -> list[Notification]:
    """The outbox's rows, oldest first: all of them, or those of ``kind`` and for
    ``channels``."""
    query = select(Notification).order_by(col(Notification.id))
    if kind is not None:
        query = query.where(Notification.kind == kind)
    if channels:
        query = query.where(col(Notification.channel).in_(channels))
    async with env.reads() as session:
        return list((await session.exec(query)).all())


async def audit_events(env: Env, *, org_id: int, action: str | None = None) -> list[AuditEvent]:
    """The organisation's audit trail in order, or its events of one ``action``."""
    query = select(AuditEvent).where(AuditEvent.org_id == org_id).order_by(col(AuditEvent.seq))
    if action is not None:
        query = query.where(AuditEvent.action == action)
    async with env.reads() as session:
        return list((await session.exec(query)).all())


async def count_rows(env: Env, model: type) -> int:
    async with env.reads() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def sealed_documents(env: Env, *, org_id: int, request_id: int) -> list[Document]:
    """The sealed PDFs of a completed request, in the request's order."""
    async with env.reads() as session:
        rows = await session.exec(
            select(Document)
            .join(RequestDocument, col(RequestDocument.sealed_document_id) == Document.id)
            .where(RequestDocument.request_id == request_id, RequestDocument.org_id == org_id)
            .order_by(col(RequestDocument.position))
        )
        return list(rows.all())


async def confirmed_browser(env: Env, token: str, *, via: str = "email") -> str:
    """The session token of a browser in which whoever decides through ``token`` has just
    confirmed who they are (by a code sent by ``via``), as the signing page keeps it."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        page = await party_page.load_page(session, token, now)
        return identity.open_session(session, page.party, via=via, now=now).token
