"""Finding documents by their words, category, client, date and reference."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inkpost.sample_pdf import make_pdf
from tests.conftest import STAFF, START, Tenant, make_tenant
from tests.helpers import upload
from workflows.context import Env, FixedClock
from workflows.documents import search
from workflows.documents.search import SearchQuery, find_documents
from workflows.errors import InvalidInput
from workflows.people import organizations


async def _library(env: Env, tenant: Tenant, clock: FixedClock) -> dict[str, int]:
    other_client = await organizations.add_client(
        env, org_id=tenant.org_id, actor=STAFF, name="Baltic Shipping"
    )
    assert other_client.id is not None
    made = {}
    for day, (title, category, client, lines) in enumerate(
        [
            ("Fee table 2027", "fee table", tenant.client_id, ["Hourly rates for partners"]),
            ("Framework contract", "contract", tenant.client_id, ["Governing law: Sweden"]),
            ("Invoice for Zażółć Sp. z o.o.", "invoice", other_client.id, ["Net 30 days"]),
        ]
    ):
        clock.at = START + timedelta(days=day)
        document = await upload(
            env,
            org_id=tenant.org_id,
            client_id=client,
            title=title,
            category=category,
            filename=f"{category}.pdf",
            data=make_pdf(title, pages=1, lines=lines),
        )
        assert document.id is not None
        made[title] = document.id
    return made


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("fee", ["Fee table 2027"]),
        ("governing sweden", ["Framework contract"]),  # words inside the PDF
        ("partn", ["Fee table 2027"]),  # prefixes
        ("zażółć", ["Invoice for Zażółć Sp. z o.o."]),
        ("contract OR fee", []),  # no query syntax: every word must match
        ('"; DROP TABLE document; --', []),
        ("D-2", ["Framework contract"]),
    ],
)
async def test_words_are_found_in_titles_and_in_pdf_text(
    env: Env, tenant: Tenant, clock: FixedClock, words: str, expected: list[str]
) -> None:
    await _library(env, tenant, clock)
    found = await find_documents(env, org_id=tenant.org_id, query=SearchQuery(words=words))
    assert [d.title for d in found] == expected


async def test_filters_combine(env: Env, tenant: Tenant, clock: FixedClock) -> None:
    await _library(env, tenant, clock)
    by_client = await find_documents(
        env, org_id=tenant.org_id, query=SearchQuery(client_id=tenant.client_id)
    )
    assert [d.title for d in by_client] == ["Framework contract", "Fee table 2027"]
    by_category = await find_documents(
        env, org_id=tenant.org_id, query=SearchQuery(category="INVOICE")
    )
    assert [d.title for d in by_category] == ["Invoice for Zażółć Sp. z o.o."]
    by_date = await find_documents(
        env,
        org_id=tenant.org_id,
        query=SearchQuery(created_from=START + timedelta(hours=12), words="contract"),
    )
    assert [d.title for d in by_date] == ["Framework contract"]


async def test_other_tenants_documents_are_never_found(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _library(env, tenant, clock)
    other = await make_tenant(env, "globex")
    assert await find_documents(env, org_id=other.org_id, query=SearchQuery(words="fee")) == []


@pytest.mark.parametrize(
    ("words", "limit", "expected"),
    [
        ("lease", 3, [8, 7, 6]),  # common: the newest windows fill the results
        ("fee", 3, [8, 5, 3]),  # rare: the older matches come from the index
        ("fee", 10, [8, 5, 3, 2, 1]),
        ("fee lease", 2, [8, 5]),
        ("nowhere", 3, []),
    ],
)
async def test_the_newest_matches_come_first_however_common_the_words(
    env: Env,
    tenant: Tenant,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    words: str,
    limit: int,
    expected: list[int],
) -> None:
    """Windows of two documents, so every way through a search on PostgreSQL is taken
    (SQLite answers the same from its own index)."""
    monkeypatch.setattr(search, "WINDOW", 2)
    numbers = {}
    for number in range(1, 9):
        clock.at = START + timedelta(hours=number)
        title = f"Lease {number}" + (" fee" if number in (1, 2, 3, 5, 8) else "")
        document = await upload(
            env,
            org_id=tenant.org_id,
            client_id=tenant.client_id,
            title=title,
            category="contract",
            filename=f"lease-{number}.pdf",
            data=make_pdf(title, pages=1),
        )
        numbers[document.id] = number
    found = await find_documents(
        env, org_id=tenant.org_id, query=SearchQuery(words=words, limit=limit)
    )
    assert [numbers[d.id] for d in found] == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (SearchQuery(limit=0), "between 1 and 200"),
        (
            SearchQuery(created_from=START, created_until=START - timedelta(days=1)),
            "ends before it starts",
        ),
    ],
)
async def test_bad_searches_are_refused(
    env: Env, tenant: Tenant, query: SearchQuery, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        await find_documents(env, org_id=tenant.org_id, query=query)
