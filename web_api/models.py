"""Models shared by the resources: what every list takes and answers, and the history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from storage.models import AuditEvent
from web_api.pagination import DEFAULT_LIMIT, MAX_LIMIT, encode_cursor
from workflows.listing import Page


class Body(BaseModel):
    """A request body: unknown fields are refused, so a misspelt one is not ignored."""

    model_config = ConfigDict(extra="forbid")


class ListQuery(BaseModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Rows per page.")
    cursor: str | None = Field(
        default=None, max_length=40, description="Where to go on: `next_cursor` of a page."
    )


def next_cursor(page: Page[Any]) -> str | None:
    return encode_cursor(page.next_after) if page.next_after is not None else None


class EventOut(BaseModel):
    """One event of the organisation's hash-chained history."""

    seq: int
    at: datetime
    actor_type: str
    actor_label: str | None
    action: str
    document_id: int | None
    share_id: int | None
    details: dict[str, Any]

    @classmethod
    def of(cls, event: AuditEvent) -> EventOut:
        return cls(
            seq=event.seq,
            at=event.at,
            actor_type=event.actor_type,
            actor_label=event.actor_label,
            action=event.action,
            document_id=event.document_id,
            share_id=event.share_id,
            details=event.details,
        )


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None
