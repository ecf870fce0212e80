"""JSON text built from one template is byte for byte what the encoder gives."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import pytest

from workflows import audit, json_text
from workflows.outbox.kinds import SharePayload

CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
ENCODERS = [json_text.DUMPS, CANONICAL]


class Level(IntEnum):
    HIGH = 2


AWKWARD: list[Any] = [
    0,
    -7,
    10**30,
    True,
    False,
    None,
    1.5,
    "",
    'quote " and \\ backslash',
    "Zażółć gęślą jaźń — ✓ 😀",
    "control \x00 \n \t \x1f",
    "%s %d %% percent",
    "\u2028 line separator",
    Level.HIGH,
    [1, "two", None],
    {"b": 1, "a": {"d": [True], "c": "ż"}},
]


@pytest.mark.parametrize("encoder", ENCODERS, ids=["dumps", "canonical"])
def test_every_kind_of_leaf_is_spelled_as_the_encoder_spells_it(
    encoder: json.JSONEncoder,
) -> None:
    template = json_text.Template(
        encoder,
        {"z": json_text.Slot(1), "fixed": "ż%s", "a": [json_text.Slot(0), 5], "m": None},
    )
    for first in AWKWARD:
        for second in AWKWARD:
            whole = {"z": second, "fixed": "ż%s", "a": [first, 5], "m": None}
            assert template.fill([first, second]) == encoder.encode(whole)


@pytest.mark.parametrize("encoder", ENCODERS, ids=["dumps", "canonical"])
def test_objects_alike_or_not_are_encoded_as_each_alone(encoder: json.JSONEncoder) -> None:
    chooser = random.Random(7)
    alike = [
        {"recipient_id": i, "recipient": chooser.choice(AWKWARD), "group_id": 3, "x": None}
        for i in range(50)
    ]
    assert json_text.objects(encoder, alike) == [encoder.encode(v) for v in alike]
    # Equal but spelled differently: 1 and True, 1 and 1.0.
    mixed = [{"a": 1, "b": 1}, {"a": True, "b": 1.0}, {"a": 1, "b": 1}]
    assert json_text.objects(encoder, mixed) == [encoder.encode(v) for v in mixed]
    other_keys = [{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1}]
    assert json_text.objects(encoder, other_keys) == [encoder.encode(v) for v in other_keys]


def test_the_shape_of_objects_is_what_varies_when_their_keys_agree() -> None:
    alike = [{"id": i, "name": "Ann", "group": 3} for i in range(3)]
    assert json_text.shape(alike) == ["id"]
    assert json_text.shape([{"a": 1, "b": 1}, {"a": True, "b": 1}]) == ["a"]
    assert json_text.shape([{"a": 1, "b": 2}, {"b": 2, "a": 1}]) is None
    assert json_text.shape(alike[:1]) is None and json_text.shape([]) is None
    # Given by the caller, a shape is used as it is; None spells each object whole.
    assert json_text.objects(json_text.DUMPS, alike, ["id"]) == [json.dumps(v) for v in alike]
    assert json_text.objects(json_text.DUMPS, alike, None) == [json.dumps(v) for v in alike]


def test_a_template_refuses_an_indenting_encoder_and_a_slot_used_twice() -> None:
    with pytest.raises(ValueError, match="indent"):
        json_text.Template(json.JSONEncoder(indent=2), {"a": json_text.Slot(0)})
    with pytest.raises(ValueError, match="twice"):
        json_text.Template(json_text.DUMPS, [json_text.Slot(0), json_text.Slot(0)])


def event_row(seq: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "org_id": 1,
        "seq": seq,
        "at": datetime(2027, 1, 31, 17, 0, tzinfo=UTC),
        "actor_type": "staff",
        "actor_id": 4,
        "actor_label": "Ann Żak",
        "action": "document.shared",
        "document_id": 9,
        "share_id": 100 + seq,
        "details": {
            "recipient_id": seq,
            "recipient": f'Recipient "{seq}" ż {AWKWARD[seq % len(AWKWARD)]!r}',
            "group_id": 3,
            "expires_at": None,
        },
        "ip": None,
        "user_agent": None,
    }
    row.update(changes)
    return row


def each_alone(rows: list[dict[str, Any]]) -> list[bytes]:
    return [audit.canonical_json(audit.row_body(row)) for row in rows]


def test_the_events_of_one_share_hash_as_each_event_alone() -> None:
    rows = [event_row(seq) for seq in range(1, 40)]
    rows[5]["share_id"] = None
    rows[6]["details"] = {**rows[6]["details"], "group_id": True}
    assert audit.canonical_bodies(rows) == each_alone(rows)


def test_events_unlike_each_other_hash_as_each_event_alone() -> None:
    rows = [
        event_row(1),
        event_row(2, actor_id=True),  # equal to 1, spelled otherwise
        event_row(3, action="share.revoked"),
        event_row(4, details={"kind": "recipient"}),
    ]
    assert audit.canonical_bodies(rows) == each_alone(rows)
    assert audit.canonical_bodies(rows[:1]) == each_alone(rows[:1])
    assert audit.canonical_bodies([]) == []


def test_share_payload_texts_are_what_the_payload_column_stores() -> None:
    payload = SharePayload(share_id=0, document_id=12)
    ids = [1, 57, 10**12]
    expected = [json.dumps(SharePayload(share_id=i, document_id=12).to_json()) for i in ids]
    assert payload.texts("share_id", ids) == expected
    with pytest.raises(ValueError, match="no field"):
        payload.texts("title", ids)


@pytest.mark.parametrize("encoder", ENCODERS, ids=["dumps", "canonical"])
def test_many_rows_filled_column_by_column_are_each_filled_alone(
    encoder: json.JSONEncoder,
) -> None:
    template = json_text.Template(
        encoder, {"z": json_text.Slot(1), "fixed": "%d", "a": [json_text.Slot(0)]}
    )
    chooser = random.Random(11)
    columns: list[list[Any]] = [
        list(range(-3, 37)),  # ints only
        [chooser.choice(AWKWARD) for _ in range(40)],  # anything
    ]
    rows = list(zip(*columns, strict=True))
    assert template.fill_many(40, columns) == [template.fill(row) for row in rows]
    strings = [["a", 'b"', "ż\n"], [1, 2, 3]]
    assert template.fill_many(3, strings) == [
        template.fill(row) for row in zip(*strings, strict=True)
    ]
    with pytest.raises(ValueError, match="give 3 values in each column"):
        template.fill_many(3, [[1, 2, 3], [1, 2]])
    plain = json_text.Template(encoder, {"fixed": "50% off"})
    assert plain.fill_many(2, []) == [encoder.encode({"fixed": "50% off"})] * 2
