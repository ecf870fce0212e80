"""Documents: upload onto the durable medium, versions, lookup by reference."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath

from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.blobs import StagedBlob, stage
from storage.errors import BlobTooLarge, EmptyBlob, StorageError
from storage.models import Client, Document, Organization
from storage.walls import EVERY_CLIENT
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import InvalidInput, NotFound, Size, Unavailable
from workflows.media import EXTENSIONS, PDF, PdfFacts, check_name, inspect_pdf, sniff
from workflows.scope import clean_text, get_scoped

REF = re.compile(r"^\s*(?:d-?)?(\d{1,12})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class NewDocument:
    """What staff say about a file they upload."""

    title: str
    category: str | None
    """None: the organisation's default (`default_category`)."""
    client_id: int
    filename: str
    available_from: datetime | None = None
    available_until: datetime | None = None
    version_of: int | None = None
    direction: str = "outbound"


def parse_ref(ref: str) -> int:
    """``D-12``, ``d12`` or ``12`` → 12."""
    match = REF.match(ref)
    if not match:
        raise InvalidInput(f"'{ref}' is not a document reference (like D-12)")
    return int(match.group(1))


def safe_filename(name: str) -> str:
    """The last path component, without control characters, at most 255 characters."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"\\/').strip(" .")
    return base[:255] or "document"


def check_window(available_from: datetime | None, available_until: datetime | None) -> None:
    for value, what in ((available_from, "available from"), (available_until, "available until")):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"'{what}' needs a time zone")
    if available_from and available_until and available_until <= available_from:
        raise InvalidInput(
            f"the availability window ends ({available_until:%Y-%m-%d %H:%M}) "
            f"before it starts ({available_from:%Y-%m-%d %H:%M})"
        )


def default_category(categories: Sequence[str]) -> str:
    """Where a document goes when nobody names a category: "other", else the last one."""
    return "other" if "other" in categories else categories[-1]


def match_category(categories: Sequence[str], category: str) -> str:
    wanted = category.strip().lower()
    for known in categories:
        if known.lower() == wanted:
            return known
    raise InvalidInput(
        f"unknown category '{category}'; this organisation uses: {', '.join(categories)}"
    )


async def upload_document(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    meta: NewDocument,
    content: AsyncIterable[bytes],
    uploaded_by_staff_id: int | None = None,
    uploaded_by_recipient_id: int | None = None,
) -> Document:
    """Check, stream onto the medium and record a document. Nothing is kept on refusal."""
    title = clean_text(meta.title, what="title", max_len=300)
    assert title is not None
    check_window(meta.available_from, meta.available_until)
    async with env.sessions() as session:
        org = await session.get(Organization, org_id)
        if org is None:
            raise NotFound(f"organisation {org_id} not found")
        category = (
            default_category(org.categories)
            if meta.category is None
            else match_category(org.categories, meta.category)
        )
        await get_scoped(session, Client, org_id=org_id, id=meta.client_id, what="client")
        if meta.version_of is not None:
            previous = await get_scoped(
                session, Document, org_id=org_id, id=meta.version_of, what="document"
            )
            if previous.client_id != meta.client_id:
                raise InvalidInput("a new version must belong to the same client")

    staged = await _stage(env, content)
    try:
        if meta.version_of is not None:
            await _refuse_unchanged(env, org_id, meta.version_of, staged.sha256)
        media_type, facts = await _inspect(env, staged, filename=meta.filename)
        active = _active_content(facts, allowed=org.allow_active_content)
        filename = safe_filename(meta.filename)
        if "." not in filename:
            filename += EXTENSIONS[media_type]
        await _check_quota(env, org_id, staged.size)
        # The bytes go onto the medium before the rows: every refusal has happened by now,
        # the same bytes are stored once, and the medium is never written inside a
        # database transaction.
        try:
            await env.blobs.commit(staged)
        except StorageError as e:
            raise Unavailable(
                f"the document store could not save the file: {e}", says="refusal.store.unavailable"
            ) from e
        async with env.sessions() as session, session.begin():
            org = await session.get(Organization, org_id, with_for_update=True)
            assert org is not None
            number = org.next_document_number
            await session.exec(
                update(Organization)
                .where(col(Organization.id) == org_id)
                .values(next_document_number=number + 1)
            )
            root, version_no = await _next_version(session, org_id, meta.version_of)
            document = Document(
                org_id=org_id,
                number=number,
                client_id=meta.client_id,
                title=title,
                category=category,
                filename=filename,
                media_type=media_type,
                size=staged.size,
                sha256=staged.sha256,
                blob_key=staged.key,
                page_count=facts.pages if facts else None,
                text_content=facts.text if facts else None,
                active_content=active,
                available_from=meta.available_from,
                available_until=meta.available_until,
                version_of=root,
                version_no=version_no,
                direction=meta.direction,
                uploaded_by_staff_id=uploaded_by_staff_id,
                uploaded_by_recipient_id=uploaded_by_recipient_id,
                created_at=env.clock.now(),
            )
            session.add(document)
            await session.flush()
            await audit.record(
                session,
                org_id=org_id,
                actor=actor,
                action="document.returned" if meta.direction == "inbound" else "document.added",
                at=env.clock.now(),
                document_id=document.id,
                details={
                    "ref": document.ref,
                    "title": title,
                    "category": category,
                    "filename": filename,
                    "media_type": media_type,
                    "size": staged.size,
                    "sha256": staged.sha256,
                    "version_no": version_no,
                    **({"active_content": active} if active else {}),
                },
            )
    finally:
        staged.discard()
    return document


async def _stage(env: Env, content: AsyncIterable[bytes]) -> StagedBlob:
    try:
        return await stage(
            content, staging_dir=env.blobs.staging_dir, max_bytes=env.limits.max_upload_bytes
        )
    except BlobTooLarge as e:
        raise InvalidInput(str(e), says="refusal.file.too_large", limit=Size(e.limit)) from e
    except EmptyBlob as e:
        raise InvalidInput(str(e), says="refusal.file.empty") from e


async def _refuse_unchanged(env: Env, org_id: int, version_of: int, sha256: str) -> None:
    """A new version must differ from the newest one it follows."""
    async with env.sessions() as session:
        previous = await get_scoped(
            session, Document, org_id=org_id, id=version_of, what="document"
        )
        root = previous.version_of or previous.id
        newest = (
            await session.exec(
                select(Document)
                .where(Document.org_id == org_id)
                .where((Document.id == root) | (Document.version_of == root))
                .order_by(col(Document.version_no).desc())
                .limit(1)
            )
        ).one()
    if newest.sha256 == sha256:
        raise InvalidInput(
            f"the file is identical to {newest.ref} (version {newest.version_no}): "
            "a new version must change something"
        )


async def same_content(env: Env, *, org_id: int, document: Document) -> Sequence[Document]:
    """Other documents of the organisation whose bytes are exactly ``document``'s."""
    async with env.sessions() as session:
        return (
            await session.exec(
                select(Document)
                .where(
                    Document.org_id == org_id,
                    Document.sha256 == document.sha256,
                    Document.id != document.id,
                )
                .order_by(col(Document.id))
                .limit(10)
            )
        ).all()


async def _inspect(env: Env, staged: StagedBlob, *, filename: str) -> tuple[str, PdfFacts | None]:
    media_type = await asyncio.to_thread(sniff, staged.path)
    check_name(filename, media_type)
    if media_type != PDF:
        return media_type, None
    facts = await asyncio.to_thread(
        inspect_pdf, staged.path, max_text_chars=env.limits.max_text_chars
    )
    return media_type, facts


def _active_content(facts: PdfFacts | None, *, allowed: bool) -> str | None:
    """What in the PDF runs by itself, to record; refused unless the organisation accepts
    such files."""
    if facts is None or not facts.active:
        return None
    found = "; ".join(facts.active)
    if not allowed:
        raise InvalidInput(
            f"the PDF holds content that runs by itself ({found}), which could harm whoever "
            "opens it; send it without, or ask an admin to accept such files",
            says="refusal.pdf.active",
        )
    return found[:500]


async def _check_quota(env: Env, org_id: int, size: int) -> None:
    async with env.sessions() as session:
        org = await session.get(Organization, org_id)
        assert org is not None
        if org.storage_quota_bytes is None:
            return
        used = (
            await session.exec(
                select(func.coalesce(func.sum(Document.size), 0))
                .where(Document.org_id == org_id)
                .execution_options(**EVERY_CLIENT)
            )
        ).one()
    if used + size > org.storage_quota_bytes:
        raise InvalidInput(
            "the organisation's storage quota would be exceeded by this file",
            says="refusal.quota",
            org=org.name,
        )


async def _next_version(
    session: AsyncSession, org_id: int, version_of: int | None
) -> tuple[int | None, int]:
    if version_of is None:
        return None, 1
    previous = await session.get(Document, version_of)
    assert previous is not None and previous.org_id == org_id
    root = previous.version_of or previous.id
    newest = (
        await session.exec(
            select(func.max(Document.version_no)).where(
                (Document.id == root) | (Document.version_of == root)
            )
        )
    ).one()
    return root, (newest or 1) + 1


async def find_document(env: Env, *, org_id: int, ref: str) -> Document:
    number = parse_ref(ref)
    async with env.sessions() as session:
        document = (
            await session.exec(
                select(Document).where(Document.org_id == org_id, Document.number == number)
            )
        ).first()
    if document is None:
        raise NotFound(f"document D-{number} not found")
    return document


async def list_documents(
    env: Env, *, org_id: int, client_id: int | None = None, limit: int = 100
) -> Sequence[Document]:
    query = select(Document).where(Document.org_id == org_id)
    if client_id is not None:
        query = query.where(Document.client_id == client_id)
    async with env.sessions() as session:
        return (await session.exec(query.order_by(col(Document.id).desc()).limit(limit))).all()


async def versions(env: Env, *, org_id: int, document_id: int) -> Sequence[Document]:
    """The whole chain a document belongs to, oldest first."""
    async with env.sessions() as session:
        document = await get_scoped(
            session, Document, org_id=org_id, id=document_id, what="document"
        )
        root = document.version_of or document.id
        return (
            await session.exec(
                select(Document)
                .where(
                    Document.org_id == org_id, (Document.id == root) | (Document.version_of == root)
                )
                .order_by(col(Document.version_no))
            )
        ).all()
