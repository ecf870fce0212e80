"""What code around the store may ask of any row."""

from __future__ import annotations

from typing import Protocol


class Row(Protocol):
    @property
    def id(self) -> int | None: ...


def id_of(row: Row) -> int:
    """The id of a stored row. The database gives it at the first flush, so asking before
    then is a bug: it raises rather than let None travel on as an id."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush the session first")
    return row.id
