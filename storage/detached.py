"""Table models built straight from the columns of a Core statement's rows.

The pages shown on every visit read their rows with one Core statement (`storage.quick`)
and need the models only to read them: these belong to no session, carry no ORM state,
and are for reading only. They hold what `model_construct` would give them, built with
the field bookkeeping done once per statement instead of once per row (pydantic's loop
over every field was a tenth of a page view).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic.fields import FieldInfo
from sqlalchemy import Label, Row
from sqlmodel import SQLModel

_M = TypeVar("_M", bound=SQLModel)

_new = object.__new__
_set = object.__setattr__


class ModelColumns(Generic[_M]):
    """A model's labelled columns, side by side in the rows of a statement whose columns
    are named ``keys``."""

    def __init__(self, model: type[_M], columns: Sequence[Label[Any]], keys: Sequence[str]) -> None:
        at = {name: i for i, name in enumerate(keys)}
        self.model = model
        self.fields = tuple(str(c.element.key) for c in columns)
        self.start = at[columns[0].name]
        self.stop = self.start + len(columns)
        if [at[c.name] for c in columns] != list(range(self.start, self.stop)):
            raise ValueError(f"{model.__name__}'s columns are not side by side")
        unknown = set(self.fields) - set(model.model_fields)
        if unknown:
            raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
        if model.__pydantic_post_init__:
            raise ValueError(f"{model.__name__} must be built through model_construct")
        self._primary = bool(getattr(columns[0].element, "primary_key", False))
        self._left_out: tuple[tuple[str, FieldInfo], ...] = tuple(
            (name, field) for name, field in model.model_fields.items() if name not in self.fields
        )

    def read(self, row: Row[Any] | Sequence[Any]) -> _M:
        """A detached model of the row's columns, the fields left out at their defaults."""
        values = dict(zip(self.fields, row[self.start : self.stop], strict=True))
        for name, field in self._left_out:
            values[name] = field.get_default(call_default_factory=True, validated_data=values)
        model = _new(self.model)
        _set(model, "__dict__", values)
        _set(model, "__pydantic_fields_set__", set(self.fields))
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model

    def read_optional(self, row: Row[Any] | Sequence[Any]) -> _M | None:
        """`read`, or None where an outer join found no row (the first column, the
        primary key, is null)."""
        if not self._primary:
            raise ValueError(f"{self.model.__name__}'s first column is not its primary key")
        return None if row[self.start] is None else self.read(row)
