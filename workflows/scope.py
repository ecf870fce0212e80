"""Tenant scoping: every lookup names its organisation; other tenants' rows are not found."""

from __future__ import annotations

import unicodedata
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


KEPT_FORMAT = frozenset("\u200c\u200d")
"""Invisible characters that words need (zero-width non-joiner and joiner: Persian, emoji)."""


def clean_text(
    value: str | None,
    *,
    what: str,
    max_len: int,
    required: bool = True,
    multiline: bool = False,
) -> str | None:
    """A user-typed value as others may be shown it: without control characters and
    invisible formatting (a right-to-left override makes "evil\u202egpj.pdf" read
    "evilfdp.jpg"), white space folded (line breaks kept only when ``multiline``), present
    and not too long."""
    cleaned = _visible(value or "", multiline=multiline)
    if not cleaned:
        if required:
            raise InvalidInput(f"{what} must not be empty")
        return None
    if len(cleaned) > max_len:
        raise InvalidInput(f"{what} is longer than {max_len} characters")
    return cleaned


def _visible(text: str, *, multiline: bool) -> str:
    kept = "".join(
        ch
        for ch in text
        if ch in KEPT_FORMAT
        or ch in "\n\t"
        or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    if not multiline:
        return " ".join(kept.split())
    lines = (" ".join(line.split()) for line in kept.splitlines())
    return "\n".join(lines).strip()
