"""Every event a webhook endpoint may ask for, defined once, each with its typed payload.

An event is built here, from the rows of the change it reports, by the workflow that makes
that change (`document_shared`, `request_completed`…), and becomes the JSON body every
endpoint that asked for its type receives, as Standard Webhooks recommends it: ``type``,
``timestamp`` and the payload under ``data``. ``key`` names the change itself: an event
offered twice for one change (a second visit of a space's member, a repeated scan) is
queued once per endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from storage.models import Document, Notification, Party, SignatureRequest
from storage.rows import id_of
from workflows.errors import InvalidInput
from workflows.outbox import NewNotification
from workflows.outbox.kinds import Kind, VisitPayload


class EventType(StrEnum):
    """What an endpoint can be told of (the names receivers switch on)."""

    DOCUMENT_SHARED = "document.shared"
    DOCUMENT_OPENED = "document.opened"
    """A recipient (or a link's holder) opened a shared document for the first time."""
    DOCUMENT_DOWNLOADED = "document.downloaded"
    """A recipient (or a link's holder) downloaded a shared document for the first time."""
    DOCUMENT_RETURNED = "document.returned"
    REQUEST_PARTY_DECIDED = "request.party_decided"
    REQUEST_COMPLETED = "request.completed"
    REQUEST_DECLINED = "request.declined"
    REQUEST_EXPIRED = "request.expired"
    REQUEST_CANCELLED = "request.cancelled"
    """Staff (or an integration) called a pending request off."""
    DELIVERY_DEAD = "delivery.dead"
    """A notification to a recipient, a party or staff was given up."""


def parse_event_types(names: list[str] | tuple[str, ...]) -> tuple[EventType, ...]:
    """Event types as people type them, each once and in a stable order; an unknown name
    or none at all is refused, naming the known ones."""
    if not names:
        raise InvalidInput("name at least one event: " + ", ".join(EventType))
    found: list[EventType] = []
    for name in names:
        try:
            event = EventType(name.strip())
        except ValueError:
            raise InvalidInput(
                f"unknown event '{name.strip()}': choose from " + ", ".join(EventType)
            ) from None
        if event not in found:
            found.append(event)
    return tuple(sorted(found, key=list(EventType).index))


SEALED_PDF_PATH = "/api/v1/documents/{document_id}/file"
"""Where the integration API serves a document's file, relative to Inkpost's public URL."""


# -- payloads -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DocumentShared:
    document_id: int
    document_ref: str
    title: str
    share_id: int
    share_kind: str
    """``recipient``, ``space`` or ``link``."""
    recipient_id: int | None = None
    space_id: int | None = None
    expires_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class DocumentVisited:
    document_id: int
    share_id: int
    recipient_id: int | None = None
    """None when the visit came through a link nobody in particular holds."""


@dataclass(frozen=True, kw_only=True)
class DocumentReturned:
    document_id: int
    document_ref: str
    title: str
    recipient_id: int


@dataclass(frozen=True, kw_only=True)
class PartyDecided:
    request_id: int
    request_ref: str
    party_id: int
    party_name: str
    role: str
    decision: str
    """``approved``, ``signed`` or ``declined``."""


@dataclass(frozen=True, kw_only=True)
class SealedDocument:
    document_id: int
    document_ref: str
    title: str
    sha256: str
    href: str
    """The sealed PDF in the integration API, relative to Inkpost's public URL."""


@dataclass(frozen=True, kw_only=True)
class RequestCompleted:
    request_id: int
    request_ref: str
    title: str
    sealed: tuple[SealedDocument, ...]


@dataclass(frozen=True, kw_only=True)
class RequestEnded:
    request_id: int
    request_ref: str
    title: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeliveryDead:
    notification_id: int
    notification_kind: str
    channel: str
    error: str


EventData = (
    DocumentShared
    | DocumentVisited
    | DocumentReturned
    | PartyDecided
    | RequestCompleted
    | RequestEnded
    | DeliveryDead
)


@dataclass(frozen=True, kw_only=True)
class Event:
    """One change to tell the organisation's endpoints of."""

    org_id: int
    type: EventType
    key: str
    """Names the change: the same change offered again is queued once per endpoint."""
    data: EventData
    at: datetime

    def body(self) -> str:
        """The JSON every endpoint receives for this event, byte for byte."""
        document = {"type": self.type.value, "timestamp": self.at.isoformat(), "data": _data(self)}
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _data(event: Event) -> dict[str, Any]:
    return asdict(event.data)


# -- building events from the rows of a change -----------------------------------------------


def document_shared(*, document: Document, share: Mapping[str, Any], at: datetime) -> Event:
    """A share just written, from its row as inserted."""
    expires = share.get("expires_at")
    return Event(
        org_id=document.org_id,
        type=EventType.DOCUMENT_SHARED,
        key=f"share:{share['id']}",
        data=DocumentShared(
            document_id=id_of(document),
            document_ref=document.ref,
            title=document.title,
            share_id=int(share["id"]),
            share_kind=str(share["kind"]),
            recipient_id=share.get("recipient_id"),
            space_id=share.get("space_id"),
            expires_at=expires.isoformat() if expires else None,
        ),
        at=at,
    )


def document_visited(
    *,
    org_id: int,
    opened: bool,
    share_id: int,
    document_id: int,
    recipient_id: int | None,
    at: datetime,
) -> Event:
    """A first open (``opened``) or download of a share by one recipient, or through a link."""
    kind = EventType.DOCUMENT_OPENED if opened else EventType.DOCUMENT_DOWNLOADED
    who = f"recipient:{recipient_id}" if recipient_id is not None else "link"
    return Event(
        org_id=org_id,
        type=kind,
        key=f"{kind.value}:{share_id}:{who}",
        data=DocumentVisited(document_id=document_id, share_id=share_id, recipient_id=recipient_id),
        at=at,
    )


def document_returned(*, document: Document, recipient_id: int, at: datetime) -> Event:
    return Event(
        org_id=document.org_id,
        type=EventType.DOCUMENT_RETURNED,
        key=f"returned:{id_of(document)}",
        data=DocumentReturned(
            document_id=id_of(document),
            document_ref=document.ref,
            title=document.title,
            recipient_id=recipient_id,
        ),
        at=at,
    )


def party_decided(*, request: SignatureRequest, party: Party, decision: str, at: datetime) -> Event:
    return Event(
        org_id=request.org_id,
        type=EventType.REQUEST_PARTY_DECIDED,
        key=f"decided:{id_of(request)}:{id_of(party)}",
        data=PartyDecided(
            request_id=id_of(request),
            request_ref=request.ref,
            party_id=id_of(party),
            party_name=party.name,
            role=party.role,
            decision=decision,
        ),
        at=at,
    )


def request_completed(
    *, request: SignatureRequest, sealed: Sequence[Document], at: datetime
) -> Event:
    """A request every party agreed to, with where each sealed PDF can be fetched."""
    return Event(
        org_id=request.org_id,
        type=EventType.REQUEST_COMPLETED,
        key=f"completed:{id_of(request)}",
        data=RequestCompleted(
            request_id=id_of(request),
            request_ref=request.ref,
            title=request.title,
            sealed=tuple(
                SealedDocument(
                    document_id=id_of(d),
                    document_ref=d.ref,
                    title=d.title,
                    sha256=d.sha256,
                    href=SEALED_PDF_PATH.format(document_id=id_of(d)),
                )
                for d in sealed
            ),
        ),
        at=at,
    )


ENDINGS = {
    "declined": EventType.REQUEST_DECLINED,
    "expired": EventType.REQUEST_EXPIRED,
    "cancelled": EventType.REQUEST_CANCELLED,
}
"""Each end of a request, as the event that reports it."""


def request_ended(
    *, request: SignatureRequest, status: str, reason: str | None, at: datetime
) -> Event | None:
    """A request declined, expired or cancelled; None for an end that is no event."""
    kind = ENDINGS.get(status)
    if kind is None:
        return None
    return Event(
        org_id=request.org_id,
        type=kind,
        key=f"{status}:{id_of(request)}",
        data=RequestEnded(
            request_id=id_of(request), request_ref=request.ref, title=request.title, reason=reason
        ),
        at=at,
    )


def delivery_dead(*, row: Notification, error: str, at: datetime) -> Event:
    return Event(
        org_id=row.org_id,
        type=EventType.DELIVERY_DEAD,
        key=f"dead:{id_of(row)}:{at.isoformat()}",
        data=DeliveryDead(
            notification_id=id_of(row),
            notification_kind=row.kind,
            channel=row.channel,
            error=error[:300],
        ),
        at=at,
    )


def of_visits(notices: Iterable[NewNotification], *, at: datetime) -> list[Event]:
    """The events of the first visits whose staff notices are being queued: a visit that
    tells staff nothing new (a second open) is no event either."""
    found = []
    for notice in notices:
        payload = notice.payload
        if isinstance(payload, VisitPayload):
            found.append(
                document_visited(
                    org_id=notice.org_id,
                    opened=payload.kind == Kind.DOCUMENT_OPENED,
                    share_id=payload.share_id,
                    document_id=payload.document_id,
                    recipient_id=payload.recipient_id,
                    at=at,
                )
            )
    return found
