"""Documents: upload (streamed, with the checks of every upload), list, get, download,
versions and history; and the organisation's history."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePath
from typing import Any, Literal, NoReturn

import orjson
from pydantic import AwareDatetime, BaseModel, Field
from sqlmodel import col, select

from storage.models import AuditEvent, Document, document_ref
from web_api.models import Body, EventOut, EventPage, ListQuery, next_cursor
from web_api.pagination import decode_cursor
from web_api.problems import CONFLICT, INVALID, TOO_LARGE, VALIDATION, FieldError, ProblemError
from web_api.registry import Call, Download, Operation, Spelled
from workflows.documents import filing
from workflows.errors import NotFound
from workflows.listing import Page, page_of
from workflows.scope import get_scoped


class DocumentOut(BaseModel):
    """A document: what it is, whose, and its file's size and SHA-256."""

    id: int
    ref: str = Field(description="The short reference staff use, like D-12.")
    title: str
    category: str
    client_id: int
    filename: str
    media_type: str
    size: int
    pages: int | None
    sha256: str
    version_no: int
    version_of: int | None = Field(description="The first version's id (None for the first).")
    direction: Literal["outbound", "inbound"]
    available_from: datetime | None
    available_until: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, document: Document) -> DocumentOut:
        assert document.id is not None
        return cls.model_validate(_shown(dict(zip(_READ, _read(document), strict=True))))


_READ = (
    "id",
    "number",
    "title",
    "category",
    "client_id",
    "filename",
    "media_type",
    "size",
    "page_count",
    "sha256",
    "version_no",
    "version_of",
    "direction",
    "available_from",
    "available_until",
    "created_at",
)
"""The columns of a document that `DocumentOut` shows."""
_read = operator.attrgetter(*_READ)


def _shown(values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `DocumentOut`, from a document's column values."""
    return {
        "id": values["id"],
        "ref": document_ref(values["number"]),
        "title": values["title"],
        "category": values["category"],
        "client_id": values["client_id"],
        "filename": values["filename"],
        "media_type": values["media_type"],
        "size": values["size"],
        "pages": values["page_count"],
        "sha256": values["sha256"],
        "version_no": values["version_no"],
        "version_of": values["version_of"],
        "direction": "inbound" if values["direction"] == "inbound" else "outbound",
        "available_from": values["available_from"],
        "available_until": values["available_until"],
        "created_at": values["created_at"],
    }


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    next_cursor: str | None


def page_answer(page: Page[Document]) -> Spelled:
    """A page of documents as `DocumentPage` spells it, from the values each row loaded
    (its ``__dict__``, three times quicker to read than the ORM's descriptors).

    orjson spells it: nothing is validated on the way out, so no model is made for rows
    the store has just given, and it spells fifty documents in a third of the time
    pydantic's serializer takes. A test holds it to the model's spelling, byte for byte,
    awkward values included."""
    items = [_shown(document.__dict__) for document in page.rows]
    return Spelled(orjson.dumps({"items": items, "next_cursor": next_cursor(page)}, option=_JSON))


_JSON = orjson.OPT_UTC_Z
"""As pydantic spells an aware UTC datetime: ``…Z``, not ``…+00:00``."""


class DocumentQuery(ListQuery):
    client_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    category: str | None = Field(default=None, max_length=64)
    direction: Literal["outbound", "inbound"] | None = None


class DocumentUpload(Body):
    """The fields of an upload, sent before its ``file`` part."""

    client_id: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The client it belongs to (default: the earlier version's).",
    )
    title: str | None = Field(
        default=None,
        max_length=300,
        description="Default: the earlier version's, else the file name without extension.",
    )
    category: str | None = Field(
        default=None, max_length=64, description="Default: the earlier version's, else 'other'."
    )
    version_of: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Upload as a new version of this document."
    )
    available_from: AwareDatetime | None = None
    available_until: AwareDatetime | None = None


async def upload_document(call: Call[Any]) -> DocumentOut:
    fields: DocumentUpload = call.body
    assert call.upload is not None
    previous = None
    if fields.version_of is not None:
        async with call.env.sessions() as session:
            previous = await get_scoped(
                session, Document, org_id=call.org_id, id=fields.version_of, what="document"
            )
    if fields.client_id is not None:
        owner = fields.client_id
    elif previous is not None:
        owner = previous.client_id
    else:
        raise_missing("client_id", "name the client the document belongs to")
    category = fields.category
    if category is None and previous is not None:
        category = previous.category
    stem = PurePath(call.upload.filename).stem
    title = fields.title or (previous.title if previous is not None else stem) or "document"
    document = await filing.upload_document(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        meta=filing.NewDocument(
            title=title,
            category=category,
            client_id=owner,
            filename=call.upload.filename or title,
            available_from=fields.available_from,
            available_until=fields.available_until,
            version_of=previous.id if previous is not None else None,
        ),
        content=call.upload.chunks(),
    )
    return DocumentOut.of(document)


def raise_missing(name: str, detail: str) -> NoReturn:
    raise ProblemError(
        VALIDATION, detail, errors=[FieldError(pointer=name, detail="Field required")]
    )


async def list_documents(call: Call[Any]) -> Spelled:
    query: DocumentQuery = call.query
    where: list[Any] = []
    if query.client_id is not None:
        where.append(Document.client_id == query.client_id)
    if query.category is not None:
        where.append(Document.category == query.category)
    if query.direction is not None:
        where.append(Document.direction == query.direction)
    page = await page_of(
        call.env,
        Document,
        org_id=call.org_id,
        where=where,
        after=decode_cursor(query.cursor),
        limit=query.limit,
    )
    return page_answer(page)


async def _document(call: Call[Any]) -> Document:
    async with call.env.reads() as session:
        return await get_scoped(
            session, Document, org_id=call.org_id, id=call.ids["document_id"], what="document"
        )


async def get_document(call: Call[Any]) -> DocumentOut:
    return DocumentOut.of(await _document(call))


async def download_document(call: Call[Any]) -> Download:
    document = await _document(call)
    if not await call.env.blobs.exists(document.blob_key):
        raise NotFound(f"the file of {document.ref} is missing from the store")
    return Download(
        blob_key=document.blob_key,
        filename=document.filename,
        media_type=document.media_type,
        size=document.size,
    )


async def document_versions(call: Call[Any]) -> Spelled:
    query: ListQuery = call.query
    document = await _document(call)
    root = document.version_of or document.id
    page = await page_of(
        call.env,
        Document,
        org_id=call.org_id,
        where=[(col(Document.id) == root) | (col(Document.version_of) == root)],
        after=decode_cursor(query.cursor),
        limit=query.limit,
        newest_first=False,
    )
    return page_answer(page)


async def document_history(call: Call[Any]) -> EventPage:
    query: ListQuery = call.query
    document = await _document(call)
    root = document.version_of or document.id
    family = select(Document.id).where(
        Document.org_id == call.org_id, (col(Document.id) == root) | (Document.version_of == root)
    )
    page = await page_of(
        call.env,
        AuditEvent,
        org_id=call.org_id,
        where=[col(AuditEvent.document_id).in_(family)],
        after=decode_cursor(query.cursor),
        limit=query.limit,
        key="seq",
        newest_first=False,
    )
    return EventPage(items=[EventOut.of(e) for e in page.rows], next_cursor=next_cursor(page))


class EventQuery(ListQuery):
    action: str | None = Field(default=None, max_length=64, description="Only this action.")


async def list_events(call: Call[Any]) -> EventPage:
    query: EventQuery = call.query
    where = [AuditEvent.action == query.action] if query.action else []
    page = await page_of(
        call.env,
        AuditEvent,
        org_id=call.org_id,
        where=where,
        after=decode_cursor(query.cursor),
        limit=query.limit,
        key="seq",
        newest_first=False,
    )
    return EventPage(items=[EventOut.of(e) for e in page.rows], next_cursor=next_cursor(page))


def operations() -> list[Operation]:
    return [
        Operation(
            method="POST",
            path="/documents",
            operation_id="uploadDocument",
            summary="Upload a document (multipart: the fields, then a 'file' part)",
            description="The file is streamed and checked like every upload: its type must "
            "match its name, a damaged or oversized file is refused and nothing is stored.",
            tag="documents",
            scope="write",
            handler=upload_document,
            upload=DocumentUpload,
            response=DocumentOut,
            status=201,
            problems=(TOO_LARGE, INVALID, CONFLICT),
        ),
        Operation(
            method="GET",
            path="/documents",
            operation_id="listDocuments",
            summary="List documents, newest first",
            tag="documents",
            scope="read",
            handler=list_documents,
            query=DocumentQuery,
            response=DocumentPage,
        ),
        Operation(
            method="GET",
            path="/documents/{document_id}",
            operation_id="getDocument",
            summary="Get a document",
            tag="documents",
            scope="read",
            handler=get_document,
            response=DocumentOut,
        ),
        Operation(
            method="GET",
            path="/documents/{document_id}/file",
            operation_id="downloadDocument",
            summary="Download a document's file",
            tag="documents",
            scope="read",
            handler=download_document,
            binary="*/*",
        ),
        Operation(
            method="GET",
            path="/documents/{document_id}/versions",
            operation_id="listDocumentVersions",
            summary="List every version of a document, oldest first",
            tag="documents",
            scope="read",
            handler=document_versions,
            query=ListQuery,
            response=DocumentPage,
        ),
        Operation(
            method="GET",
            path="/documents/{document_id}/history",
            operation_id="listDocumentHistory",
            summary="List the history of a document and its versions, oldest first",
            tag="documents",
            scope="read",
            handler=document_history,
            query=ListQuery,
            response=EventPage,
        ),
        Operation(
            method="GET",
            path="/events",
            operation_id="listEvents",
            summary="List the organisation's history, oldest first",
            tag="events",
            scope="read",
            handler=list_events,
            query=EventQuery,
            response=EventPage,
        ),
    ]
