"""What staff type after `/inkpost find`: words, and the filters among them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workflows.documents.search import parse_typed
from workflows.errors import InvalidInput


def test_words_and_every_filter_are_taken_apart() -> None:
    typed = parse_typed(
        'fee table category:"fee table" client:"Nordic Timber" from:2026-01-01 to:2026-06-30'
    )

    assert typed.words == "fee table"
    assert typed.category == "fee table" and typed.client == "Nordic Timber"
    assert typed.created_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert typed.created_until == datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)


def test_an_unknown_name_before_a_colon_is_a_word() -> None:
    typed = parse_typed("re:invoice Client:Acme")

    assert typed.words == "re:invoice" and typed.client == "Acme"


def test_dates_alone_are_a_query_and_nothing_is_not() -> None:
    assert not parse_typed("from:2026-01-01").empty
    assert parse_typed("  ").empty
    assert parse_typed("?!").empty


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("from:yesterday", "from: takes a date like 2026-01-31, not 'yesterday'"),
        ("to:2026-02-30", "to: takes a date like 2026-01-31"),
        ("from:2026-03-01 to:2026-02-01", "the date range ends before it starts"),
        ("client:", "say what client"),
        ("category:a category:b", "give category: once"),
        ('client:"Nordic', "unbalanced quotes"),
    ],
)
def test_bad_filters_are_refused_with_what_to_type(typed: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_typed(typed)
