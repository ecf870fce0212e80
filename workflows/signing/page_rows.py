"""The rows of a party's page read as plain columns, for the pages shown on every visit.

`party_page.load_page` reads a page through an ORM session, as the transactions that
decide or send a code need it: about ten queries. Looking at a page changes nothing, so
`read_page` reads the same rows with one Core statement through `storage.quick.read_rows`
(on SQLite, on the event loop's thread, without a hand-off to aiosqlite's) and builds
detached models from them: no ORM session or identity map on the path of every view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import cast as as_type

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    Label,
    Select,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import configure_mappers
from sqlmodel import SQLModel

from storage.db import SessionFactory
from storage.detached import ModelColumns
from storage.models import (
    Document,
    Organization,
    Party,
    PartyDecision,
    PartyLink,
    PartySession,
    Recipient,
    RequestDocument,
    SignatureRequest,
)
from storage.quick import read_rows
from workflows.tokens import hash_token, well_formed


@dataclass(frozen=True)
class PageRows:
    """What a party's page is made of, as read from the store."""

    link: PartyLink
    party: Party
    request: SignatureRequest
    organization: Organization
    contact: Recipient | None
    """Whoever decides through the link, when a recipient: the one it was issued to, else
    the party."""
    confirmed_via: str | None
    """How the browser's session confirmed who decides; None without a live one."""
    documents: list[Document]
    """In the request's order; without their extracted text, which no page shows."""
    sealed: dict[int, Document]
    """The sealed version of each document, by the original's id, once sealed."""
    parties: list[Party]
    """In the request's order; ``party`` is one of them."""
    decisions: dict[int, PartyDecision]


async def read_page(
    sessions: SessionFactory, token: str, *, browser: str | None, now: datetime
) -> PageRows | None:
    """The rows behind the party link ``token`` as the browser holding the session token
    ``browser`` sees them at ``now``; None for a link that does not exist."""
    if not well_formed(token):
        return None
    session = hash_token(browser) if browser and well_formed(browser) else None
    params = {"digest": hash_token(token), "session": session, "now": now}
    rows = await read_rows(sessions, _PAGE, params)
    if not rows:
        return None
    # Models built from plain columns need their mappers set up, which a process does by
    # itself only once it runs an ORM statement: this may be its first request.
    configure_mappers()
    head = rows[0]  # every party's row carries the link's columns; the first is enough
    documents: list[Document] = []
    sealed: dict[int, Document] = {}
    parties: list[Party] = []
    decisions: dict[int, PartyDecision] = {}
    for row in rows:
        if row[_KIND] == _DOCUMENT_ROW:
            document = _DOCUMENT_PART.read(row)
            documents.append(document)
            version = _SEALED_PART.read_optional(row)
            if version is not None:
                sealed[as_type(int, document.id)] = version
        else:
            party = _PARTY_PART.read(row)
            parties.append(party)
            decision = _DECISION_PART.read_optional(row)
            if decision is not None:
                decisions[as_type(int, party.id)] = decision
    link = _LINK_PART.read(head)
    return PageRows(
        link=link,
        party=next(p for p in parties if p.id == link.party_id),
        request=_REQUEST_PART.read(head),
        organization=_ORGANIZATION_PART.read(head),
        contact=_CONTACT_PART.read_optional(head),
        confirmed_via=head[_CONFIRMED_VIA_AT],
        documents=documents,
        sealed=sealed,
        parties=parties,
        decisions=decisions,
    )


# -- the statement ------------------------------------------------------------------------


def _table(model: type[SQLModel]) -> FromClause:
    return as_type(FromClause, model.__table__)  # type: ignore[attr-defined]


def _columns(
    table: FromClause, prefix: str, *, leaving_out: tuple[str, ...] = ()
) -> list[Label[Any]]:
    return [c.label(prefix + c.key) for c in table.columns if c.key not in leaving_out]


_LINK = _table(PartyLink)
_OWN = _table(Party).alias("own")
"""The party the link is to."""
_REQUEST = _table(SignatureRequest)
_ORGANIZATION = _table(Organization)
_CONTACT = _table(Recipient).alias("contact")
_SESSION = _table(PartySession)
_PARTY = _table(Party)
_DECISION = _table(PartyDecision)
_REQUEST_DOCUMENT = _table(RequestDocument)
_DOCUMENT = _table(Document)
_SEALED = _table(Document).alias("sealed")

_LINK_COLUMNS = _columns(_LINK, "link_")
_REQUEST_COLUMNS = _columns(_REQUEST, "request_")
_ORGANIZATION_COLUMNS = _columns(_ORGANIZATION, "org_")
_CONTACT_COLUMNS = _columns(_CONTACT, "contact_")
_CONFIRMED_VIA = _SESSION.c.via.label("confirmed_via")
_PARTY_COLUMNS = _columns(_PARTY, "party_")
_DECISION_COLUMNS = _columns(_DECISION, "decision_")
# A PDF's extracted text can be megabytes; no page shows it.
_DOCUMENT_COLUMNS = _columns(_DOCUMENT, "doc_", leaving_out=("text_content",))
_SEALED_COLUMNS = _columns(_SEALED, "sealed_", leaving_out=("text_content",))

_PARTY_ROW, _DOCUMENT_ROW = 1, 2
_EVERY = [
    *_LINK_COLUMNS,
    *_REQUEST_COLUMNS,
    *_ORGANIZATION_COLUMNS,
    *_CONTACT_COLUMNS,
    _CONFIRMED_VIA,
    *_PARTY_COLUMNS,
    *_DECISION_COLUMNS,
    *_DOCUMENT_COLUMNS,
    *_SEALED_COLUMNS,
]
"""The columns of every row of the statement, after its kind and position."""


def _rows(kind: int, position: ColumnElement[Any], *given: Label[Any]) -> Select[Any]:
    """Rows of ``kind`` holding the ``given`` columns in their places among `_EVERY`, the
    others null. The first rows of the union (the parties') type their nulls: the
    statement's result takes the types of its first select, as PostgreSQL types a union's
    columns by their first typed values."""
    mine = {id(c) for c in given}
    first = kind == _PARTY_ROW

    def empty(c: Label[Any]) -> ColumnElement[Any]:
        return (cast(null(), c.type) if first else null()).label(c.name)

    return select(
        literal_column(str(kind), Integer).label("row_kind"),
        position.label("position"),
        *(c if id(c) in mine else empty(c) for c in _EVERY),
    )


_BY_LINK = _LINK.join(_OWN, _OWN.c.id == _LINK.c.party_id)
_DIGEST = _LINK.c.token_hash == bindparam("digest")

_PARTIES = (
    _rows(
        _PARTY_ROW,
        _PARTY.c.position,
        *_LINK_COLUMNS,
        *_REQUEST_COLUMNS,
        *_ORGANIZATION_COLUMNS,
        *_CONTACT_COLUMNS,
        _CONFIRMED_VIA,
        *_PARTY_COLUMNS,
        *_DECISION_COLUMNS,
    )
    .select_from(
        _BY_LINK.join(_REQUEST, _REQUEST.c.id == _OWN.c.request_id)
        .join(_ORGANIZATION, _ORGANIZATION.c.id == _OWN.c.org_id)
        .outerjoin(
            _CONTACT, _CONTACT.c.id == func.coalesce(_LINK.c.recipient_id, _OWN.c.recipient_id)
        )
        .outerjoin(
            _SESSION,
            (_SESSION.c.token_hash == bindparam("session"))
            & (_SESSION.c.party_id == _OWN.c.id)
            & (_SESSION.c.expires_at > bindparam("now")),
        )
        .join(_PARTY, _PARTY.c.request_id == _OWN.c.request_id)
        .outerjoin(_DECISION, _DECISION.c.party_id == _PARTY.c.id)
    )
    .where(_DIGEST)
)
"""The parties of the link's request, each with their decision once taken; each row also
holds the link, its request and organisation, the recipient who decides through it (the
one it was issued to, else the party's own), and how the browser holding the session token
hashed as ``session`` confirmed who decides, when its session is alive at ``now``."""

_DOCUMENTS = (
    _rows(_DOCUMENT_ROW, _REQUEST_DOCUMENT.c.position, *_DOCUMENT_COLUMNS, *_SEALED_COLUMNS)
    .select_from(
        _BY_LINK.join(_REQUEST_DOCUMENT, _REQUEST_DOCUMENT.c.request_id == _OWN.c.request_id)
        .join(_DOCUMENT, _DOCUMENT.c.id == _REQUEST_DOCUMENT.c.document_id)
        .outerjoin(_SEALED, _SEALED.c.id == _REQUEST_DOCUMENT.c.sealed_document_id)
    )
    .where(_DIGEST)
)
"""The documents of the link's request, each with its sealed version once there is one."""

_PAGE = union_all(_PARTIES, _DOCUMENTS).order_by(
    literal_column("row_kind"), literal_column("position")
)
"""A party's page in one statement: the parties in the request's order, then its documents
in theirs."""


# -- reading its rows ---------------------------------------------------------------------

_KEYS = list(_PAGE.selected_columns.keys())
_KIND = _KEYS.index("row_kind")
_CONFIRMED_VIA_AT = _KEYS.index(_CONFIRMED_VIA.name)


_LINK_PART = ModelColumns(PartyLink, _LINK_COLUMNS, _KEYS)
_REQUEST_PART = ModelColumns(SignatureRequest, _REQUEST_COLUMNS, _KEYS)
_ORGANIZATION_PART = ModelColumns(Organization, _ORGANIZATION_COLUMNS, _KEYS)
_CONTACT_PART = ModelColumns(Recipient, _CONTACT_COLUMNS, _KEYS)
_PARTY_PART = ModelColumns(Party, _PARTY_COLUMNS, _KEYS)
_DECISION_PART = ModelColumns(PartyDecision, _DECISION_COLUMNS, _KEYS)
_DOCUMENT_PART = ModelColumns(Document, _DOCUMENT_COLUMNS, _KEYS)
_SEALED_PART = ModelColumns(Document, _SEALED_COLUMNS, _KEYS)
