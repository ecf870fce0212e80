"""Ethical walls: a staff member limited to named clients sees no row of any other client.

A walled session (made by a factory from `walled`) narrows every ORM query it runs
through SQLAlchemy's ``do_orm_execute`` hook: clients, recipients, documents and spaces
of other clients are simply not there, nor the shares, signature requests, parties and
history of their documents, nor a group with a member outside the wall. A lookup by id
then answers "not found", a list leaves the rows out, a count does not count them, and
whatever a walled member does starts from what they can see. Nothing has to remember to
filter, so a query written tomorrow is walled too.

The few queries that must see the whole organisation whoever asks (the storage quota, a
name that must stay unique) say so with ``execution_options(**EVERY_CLIENT)``. Core
statements run on a connection are not narrowed: the few staff-facing ones filter with
`visible_documents` themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, event, exists, false, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlmodel import col

from storage.models import (
    AuditEvent,
    Client,
    Document,
    Group,
    GroupMember,
    Party,
    Recipient,
    RequestDocument,
    Share,
    SignatureRequest,
    Space,
    SpaceMember,
)

WALL = "inkpost_wall"
"""The key of a walled session's `Wall` in ``Session.info``."""
ALL_CLIENTS = "inkpost_all_clients"
EVERY_CLIENT = {ALL_CLIENTS: True}
"""Execution options of a query that must see every client's rows, walled or not."""

# The subqueries of the criteria read aliases of the plain tables: not narrowed themselves
# (a "no member outside" test must see outside), and never correlated with the same table
# in the query they narrow.
_DOCUMENT = Document.__table__.alias("wall_document")  # type: ignore[attr-defined]
_RECIPIENT = Recipient.__table__.alias("wall_recipient")  # type: ignore[attr-defined]
_GROUP_MEMBER = GroupMember.__table__.alias("wall_group_member")  # type: ignore[attr-defined]
_SPACE = Space.__table__.alias("wall_space")  # type: ignore[attr-defined]
_SPACE_MEMBER = SpaceMember.__table__.alias("wall_space_member")  # type: ignore[attr-defined]
_REQUEST_DOCUMENT = RequestDocument.__table__.alias(  # type: ignore[attr-defined]
    "wall_request_document"
)
_REQUEST = SignatureRequest.__table__.alias("wall_request")  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Wall:
    """The clients a staff member may see; nothing else exists for them."""

    client_ids: frozenset[int]

    @classmethod
    def of(cls, client_ids: Iterable[int]) -> Wall:
        return cls(frozenset(client_ids))


def walled(sessions: async_sessionmaker[Any], wall: Wall) -> async_sessionmaker[Any]:
    """A factory like ``sessions`` whose sessions see only what ``wall`` admits."""
    kw = dict(sessions.kw)
    info = {**(kw.pop("info", None) or {}), WALL: wall}
    return async_sessionmaker(class_=sessions.class_, info=info, **kw)


def wall_of(session: Session) -> Wall | None:
    wall = session.info.get(WALL)
    return wall if isinstance(wall, Wall) else None


def visible_documents(document_id: Any, wall: Wall) -> ColumnElement[bool]:
    """'``document_id`` names a document inside the wall', for Core statements (which
    the hook does not narrow)."""
    inside = select(_DOCUMENT.c.id).where(_DOCUMENT.c.client_id.in_(sorted(wall.client_ids)))
    return document_id.in_(inside)


@event.listens_for(Session, "do_orm_execute")
def _narrow(state: ORMExecuteState) -> None:
    wall = wall_of(state.session)
    if (
        wall is None
        or not state.is_select
        or state.is_column_load
        or state.is_relationship_load
        or state.execution_options.get(ALL_CLIENTS)
    ):
        return
    state.statement = state.statement.options(*_criteria(tuple(sorted(wall.client_ids))))


def _criteria(ids: tuple[int, ...]) -> list[Any]:
    """One criterion per kind of row a wall hides."""
    if not ids:
        return [_criterion(entity, false()) for entity in HIDDEN]
    inside_documents = select(_DOCUMENT.c.id).where(_DOCUMENT.c.client_id.in_(ids))
    inside_recipients = select(_RECIPIENT.c.id).where(_RECIPIENT.c.client_id.in_(ids))
    visible_spaces = select(_SPACE.c.id).where(
        _SPACE.c.client_id.in_(ids), ~_outside_member_of(_SPACE.c.id, ids, _SPACE_MEMBER)
    )
    visible_requests = select(_REQUEST.c.id).where(~_outside_document_of(_REQUEST.c.id, ids))
    return [
        _criterion(Client, col(Client.id).in_(ids)),
        _criterion(Recipient, col(Recipient.client_id).in_(ids)),
        _criterion(Document, col(Document.client_id).in_(ids)),
        _criterion(
            Space,
            and_(col(Space.client_id).in_(ids), ~_outside_member_of(Space.id, ids, _SPACE_MEMBER)),
        ),
        _criterion(Group, ~_outside_member_of(Group.id, ids, _GROUP_MEMBER)),
        _criterion(
            GroupMember,
            and_(
                col(GroupMember.recipient_id).in_(inside_recipients),
                ~_outside_member_of(GroupMember.group_id, ids, _GROUP_MEMBER),
            ),
        ),
        _criterion(
            SpaceMember,
            and_(
                col(SpaceMember.recipient_id).in_(inside_recipients),
                col(SpaceMember.space_id).in_(visible_spaces),
            ),
        ),
        _criterion(Share, col(Share.document_id).in_(inside_documents)),
        _criterion(SignatureRequest, ~_outside_document_of(SignatureRequest.id, ids)),
        _criterion(RequestDocument, col(RequestDocument.request_id).in_(visible_requests)),
        _criterion(Party, col(Party.request_id).in_(visible_requests)),
        _criterion(
            AuditEvent,
            and_(
                col(AuditEvent.document_id).is_not(None),
                col(AuditEvent.document_id).in_(inside_documents),
            ),
        ),
    ]


HIDDEN = (
    Client,
    Recipient,
    Document,
    Space,
    Group,
    GroupMember,
    SpaceMember,
    Share,
    SignatureRequest,
    RequestDocument,
    Party,
    AuditEvent,
)
"""Every kind of row a wall narrows."""


def _outside_member_of(place_id: Any, ids: tuple[int, ...], members: Any) -> Any:
    """'The group (or space) has a member of a client outside ``ids``'."""
    place = members.c.group_id if members is _GROUP_MEMBER else members.c.space_id
    return exists().where(
        place == place_id,
        members.c.recipient_id == _RECIPIENT.c.id,
        _RECIPIENT.c.client_id.not_in(ids),
    )


def _outside_document_of(request_id: Any, ids: tuple[int, ...]) -> Any:
    """'The request holds a document of a client outside ``ids``'."""
    return exists().where(
        _REQUEST_DOCUMENT.c.request_id == request_id,
        _REQUEST_DOCUMENT.c.document_id == _DOCUMENT.c.id,
        _DOCUMENT.c.client_id.not_in(ids),
    )


def _criterion(entity: type, where: Any) -> Any:
    return with_loader_criteria(entity, where, include_aliases=True)
