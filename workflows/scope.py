"""Tenant scoping: every lookup names its organisation; other tenants' rows are not found."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from workflows.errors import InvalidInput, NotFound

T = TypeVar("T", bound=SQLModel)


async def get_scoped(
    session: AsyncSession, model: type[T], *, org_id: int, id: int, what: str, lock: bool = False
) -> T:
    """The row ``id`` of ``model`` if it belongs to ``org_id``; NotFound otherwise."""
    row = await session.get(model, id, with_for_update=lock or None)
    if row is None or _org_of(row) != org_id:
        raise NotFound(f"{what} {id} not found")
    return row


def _org_of(row: Any) -> int | None:
    return getattr(row, "org_id", None)


def clean_text(value: str | None, *, what: str, max_len: int, required: bool = True) -> str | None:
    """Strip a user-typed value and check it is present and not too long."""
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            raise InvalidInput(f"{what} must not be empty")
        return None
    if len(cleaned) > max_len:
        raise InvalidInput(f"{what} is longer than {max_len} characters")
    return cleaned
