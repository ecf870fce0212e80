"""What code around the store may ask of any row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

CHUNK = 1000
"""Values sent in one IN list."""
T = TypeVar("T")


class Row(Protocol):
    @property
    def id(self) -> int | None: ...


def id_of(row: Row) -> int:
    """The id of a stored row. The database gives it at the first flush, so asking before
    then is a bug: it raises rather than let None travel on as an id."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush the session first")
    return row.id


def chunks(values: Sequence[T]) -> list[Sequence[T]]:
    """``values`` in runs of at most `CHUNK`, each small enough for one IN list."""
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]


async def rows_in(
    session: AsyncSession, table: type[T], column: Any, ids: Iterable[int | None]
) -> list[T]:
    """The rows of ``table`` whose ``column`` is one of ``ids``, read chunk by chunk."""
    found: list[T] = []
    for chunk in chunks(sorted(i for i in ids if i is not None)):
        found.extend((await session.exec(select(table).where(column.in_(chunk)))).all())
    return found
