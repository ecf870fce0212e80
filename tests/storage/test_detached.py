"""Detached models built from a statement's columns hold what `model_construct` gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import literal, select

from storage.detached import ModelColumns
from storage.models import DEFAULT_CATEGORIES, Organization, Share

SHARE_COLUMNS = [c.label(f"s_{c.key}") for c in Share.__table__.columns]  # type: ignore[attr-defined]
LEFT_OUT = ("categories", "contact_email")
ORGANIZATION_COLUMNS = [
    c.label(f"o_{c.key}")
    for c in Organization.__table__.columns  # type: ignore[attr-defined]
    if c.key not in LEFT_OUT
]
STATEMENT = select(literal(1).label("first"), *SHARE_COLUMNS, *ORGANIZATION_COLUMNS)
KEYS = list(STATEMENT.selected_columns.keys())
WHEN = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


def _row(share: dict[str, Any], organization: dict[str, Any]) -> tuple[Any, ...]:
    return (
        1,
        *(share[c.element.key] for c in SHARE_COLUMNS),
        *(organization[c.element.key] for c in ORGANIZATION_COLUMNS),
    )


SHARE = {
    "id": 7, "org_id": 1, "document_id": 3, "kind": "link", "recipient_id": None,
    "space_id": None, "group_id": None, "token_hash": "ab" * 32, "message": "Hello",
    "created_by_staff_id": 2, "created_at": WHEN, "expires_at": None, "max_downloads": 3,
    "download_count": 1, "open_count": 2, "first_opened_at": WHEN, "revoked_at": None,
    "notify_unused_expiry": False,
}  # fmt: skip
ORGANIZATION = {
    c.element.key: getattr(
        Organization(id=1, slug="firm", name="Firm Law", default_language="sv", created_at=WHEN),
        c.element.key,
    )
    for c in ORGANIZATION_COLUMNS
}


def test_a_read_model_holds_what_model_construct_gives_it() -> None:
    shares = ModelColumns(Share, SHARE_COLUMNS, KEYS)
    row = _row(SHARE, ORGANIZATION)

    read = shares.read(row)
    constructed = Share.model_construct(**SHARE)

    assert read.__dict__ == constructed.__dict__ == SHARE
    assert read.model_fields_set == constructed.model_fields_set
    assert read.token_hash == "ab" * 32 and read.created_at == WHEN
    assert read.model_dump() == constructed.model_dump()


def test_fields_left_out_take_their_defaults_each_its_own() -> None:
    organizations = ModelColumns(Organization, ORGANIZATION_COLUMNS, KEYS)
    row = _row(SHARE, ORGANIZATION)

    first, second = organizations.read(row), organizations.read(row)
    constructed = Organization.model_construct(**ORGANIZATION)

    assert first.__dict__ == constructed.__dict__
    assert first.categories == DEFAULT_CATEGORIES and first.contact_email is None
    assert "categories" not in first.model_fields_set
    first.categories.append("letters")  # a default factory's value is each model's own
    assert second.categories == DEFAULT_CATEGORIES


def test_an_outer_join_that_found_nothing_reads_as_none() -> None:
    shares = ModelColumns(Share, SHARE_COLUMNS, KEYS)
    assert shares.read_optional(_row(dict.fromkeys(SHARE), ORGANIZATION)) is None
    assert shares.read_optional(_row(SHARE, ORGANIZATION)) is not None


def test_columns_that_do_not_fit_the_model_are_refused() -> None:
    with pytest.raises(ValueError, match="not side by side"):
        ModelColumns(Share, [SHARE_COLUMNS[0], SHARE_COLUMNS[2]], KEYS)
    with pytest.raises(ValueError, match="has no fields"):
        ModelColumns(Organization, SHARE_COLUMNS, KEYS)
    not_primary = ModelColumns(Share, SHARE_COLUMNS[1:], KEYS)
    with pytest.raises(ValueError, match="not its primary key"):
        not_primary.read_optional(_row(SHARE, ORGANIZATION))
