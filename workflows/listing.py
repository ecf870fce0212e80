"""Keyset pages of an organisation's rows: at most ``limit`` at a time, each page
continuing after the last row of the one before, whatever was added meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from sqlalchemy import Text
from sqlalchemy.orm import defer
from sqlmodel import SQLModel, select

from storage.quick import quick_reads
from workflows.context import Env
from workflows.errors import InvalidInput

T = TypeVar("T", bound=SQLModel)
MAX_PAGE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_after: int | None
    """Where the next page starts (the last row's key), or None on the last page."""


async def page_of(
    env: Env,
    model: type[T],
    *,
    org_id: int,
    where: Sequence[Any] = (),
    after: int | None = None,
    limit: int,
    key: str = "id",
    newest_first: bool = True,
) -> Page[T]:
    """One page of ``model``'s rows of the organisation matching ``where``, ordered by
    ``key`` (newest first, or oldest first), starting after ``after``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"a page holds 1 to {MAX_PAGE} rows")
    column = getattr(model, key)
    query = select(model).where(model.org_id == org_id, *where)  # type: ignore[attr-defined]
    query = query.options(*_left_unread(model))
    if after is not None:
        query = query.where(column < after if newest_first else column > after)
    query = query.order_by(column.desc() if newest_first else column.asc()).limit(limit + 1)
    # Unfiltered, a page walks the index on (org_id, key): a few dozen rows, read on the
    # calling thread where the store allows it (`storage.quick`), with no hand-off to
    # aiosqlite's thread and back, which cost a fifth of an API page. A filtered page may
    # pass over many rows first, and is read where it cannot hold up the event loop.
    reads = quick_reads(env.sessions) if not where else env.reads()
    async with reads as session:
        rows = list((await session.exec(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows=rows, next_after=getattr(rows[-1], key) if more and rows else None)


@cache
def _left_unread(model: type[SQLModel]) -> tuple[Any, ...]:
    """Loader options leaving the unbounded text columns of ``model`` (a document's
    extracted text) unread: no list shows them. Made once per model: building them
    cost as much as reading a page."""
    table = model.__table__  # type: ignore[attr-defined]
    return tuple(defer(getattr(model, c.key)) for c in table.columns if isinstance(c.type, Text))
