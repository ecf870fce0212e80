"""The JSON text of many values alike but for a few leaves, built from one encoding.

A share with a group of ten thousand writes ten thousand history events and notices whose
JSON differs only in a few numbers and a name. Encoding each whole costs more than the
database spends storing it; a `Template` encodes the common shape once, with a marker in
each place that varies, and builds each text by putting the leaves' own encodings between
the fixed pieces. The result is byte for byte what the encoder gives for the whole value.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Slot:
    """A place in a template's sample that varies: the ``index``-th value given to `fill`."""

    index: int


class Template:
    """The text ``encoder`` gives for ``sample`` with each `Slot` in it replaced by a value.

    Slots may stand for any value; ints, strings and None are spelled here directly, others
    by the encoder itself (a leaf's encoding does not depend on where it sits when the
    encoder does not indent). Raises ValueError when the sample's fixed text happens to hold
    a marker, so that the caller encodes the values whole instead."""

    __slots__ = ("_encoder", "_format", "_order", "_string")
    _encoder: json.JSONEncoder
    _format: str
    _order: tuple[int, ...]
    _string: Callable[[str], str]

    def __init__(self, encoder: json.JSONEncoder, sample: Any) -> None:
        if encoder.indent is not None:
            raise ValueError("a template needs an encoder that does not indent")
        self._encoder = encoder
        self._string = encode_basestring_ascii if encoder.ensure_ascii else encode_basestring
        mark = f"\x00{secrets.token_hex(8)}:"
        slots: list[int] = []
        text = encoder.encode(_marked(sample, mark, slots))
        pieces: list[str] = []
        order: list[int] = []
        rest = text
        for _ in slots:
            start = rest.find('"\\u0000' + mark[1:])
            if start < 0:
                raise ValueError("the sample's text lost a slot")
            end = rest.index('"', start + 1)
            number = rest[start + len(mark) + 6 : end]
            pieces.append(rest[:start])
            order.append(int(number))
            rest = rest[end + 1 :]
        pieces.append(rest)
        if sorted(order) != sorted(slots) or len(set(order)) != len(order):
            raise ValueError("the sample's fixed text holds a slot's marker")
        if any(mark[1:] in piece for piece in pieces):
            raise ValueError("the sample's fixed text holds a slot's marker")
        self._format = "%s".join(piece.replace("%", "%%") for piece in pieces)
        self._order = tuple(order)

    def fill(self, values: Sequence[Any]) -> str:
        """The text of the sample with slot ``i`` holding ``values[i]``."""
        string, leaf = self._string, self._leaf
        parts = []
        for index in self._order:
            value = values[index]
            kind = type(value)
            parts.append(
                int.__repr__(value)
                if kind is int
                else string(value)
                if kind is str
                else leaf(value)
            )
        return self._format % tuple(parts)

    def fill_many(self, count: int, columns: Sequence[Sequence[Any]]) -> list[str]:
        """The texts `fill` gives for ``count`` rows of values, given column by column: slot
        ``i`` of the ``n``-th text holds ``columns[i][n]``.

        Each column is spelled at once (its ints by ``int.__repr__``, its strings by the
        encoder's string function, both mapped over it) and each text is then one ``%``
        formatting: about a quarter of what `fill` costs a row."""
        spelled = [self._spelled(columns[index]) for index in self._order]
        if any(len(texts) != count for texts in spelled):
            raise ValueError(f"give {count} values in each column")
        if not spelled:
            return [self._format % ()] * count
        form = self._format
        return [form % row for row in zip(*spelled, strict=True)]

    def _spelled(self, values: Sequence[Any]) -> list[str]:
        kinds = set(map(type, values))
        if kinds == {int}:
            return list(map(int.__repr__, values))
        if kinds == {str}:
            return list(map(self._string, values))
        return list(map(self._leaf, values))

    def _leaf(self, value: Any) -> str:
        kind = type(value)
        if kind is int:
            return int.__repr__(value)
        if kind is str:
            return self._string(value)
        if value is None:
            return "null"
        return self._encoder.encode(value)


def _marked(value: Any, mark: str, slots: list[int]) -> Any:
    """``value`` with each slot replaced by a string no value holds; ``slots`` collects them."""
    if isinstance(value, Slot):
        if value.index in slots:
            raise ValueError(f"slot {value.index} appears twice in the sample")
        slots.append(value.index)
        return f"{mark}{value.index}"
    if isinstance(value, dict):
        return {key: _marked(item, mark, slots) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_marked(item, mark, slots) for item in value]
    return value


DUMPS = json.JSONEncoder()
"""The encoder ``json.dumps`` uses with its default options."""


def shape(values: Sequence[dict[str, Any]]) -> list[str] | None:
    """What one template for all of ``values`` would leave open: the keys whose values
    vary (`varying_keys`), when there are several and all have the same keys in the same
    order; else None. A caller spelling the same objects twice (with two encoders) finds
    it once."""
    if len(values) < 2:
        return None
    keys = tuple(values[0])
    if not all(tuple(value) == keys for value in values):
        return None
    return varying_keys(values)


def objects(
    encoder: json.JSONEncoder,
    values: Sequence[dict[str, Any]],
    varying: list[str] | None | Literal["ask"] = "ask",
) -> list[str]:
    """The text ``encoder`` gives for each of ``values``: from one template when they all
    have the same keys in the same order, else each encoded whole. ``varying`` is their
    `shape`, unless it is to be found here."""
    if varying == "ask":
        varying = shape(values)
    if varying is not None:
        sample = {
            key: Slot(varying.index(key)) if key in varying else value
            for key, value in values[0].items()
        }
        try:
            template = Template(encoder, sample)
        except ValueError:
            pass
        else:
            return template.fill_many(
                len(values), [[value[key] for value in values] for key in varying]
            )
    return [encoder.encode(value) for value in values]


CONSTANT = (str, int, type(None), bool)
"""Types whose equal values always have the same text."""


def varying_keys(values: Sequence[dict[str, Any]]) -> list[str]:
    """The keys of the first of ``values`` whose value is not the same in all of them:
    equal and of a type in `CONSTANT`, so that it is spelled the same (``1 == True``,
    but their texts differ)."""
    first = values[0]
    varying = []
    for key, value in first.items():
        kind = type(value)
        if kind not in CONSTANT or any(
            type(other[key]) is not kind or other[key] != value for other in values
        ):
            varying.append(key)
    return varying
