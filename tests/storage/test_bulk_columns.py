"""Bulk inserts given column by column, and how a batch stays part of its transaction
whichever way the database is sent it."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage import bulk
from storage.models import Notification
from tests.conftest import START, Tenant
from tests.storage.test_bulk import NOTIFICATION, notice, notifications
from workflows.context import Env

EAST = timezone(timedelta(hours=5, minutes=30))


def alike(tenant: Tenant) -> dict[str, object]:
    """What every notice of these tests holds."""
    return {
        "org_id": tenant.org_id,
        "channel": "recipient",
        "kind": "document.shared",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": START,
        "created_at": START,
    }


@pytest.mark.parametrize("under_way", [False, True], ids=["first", "under-way"])
async def test_columns_given_apart_read_back_as_rows_would(
    env: Env, tenant: Tenant, under_way: bool
) -> None:
    later = START + timedelta(minutes=5)
    async with env.sessions() as session, session.begin():
        if under_way:
            await session.exec(select(Notification.id))
        inserted = await bulk.insert_columns(
            session,
            NOTIFICATION,
            varying={
                "target": ["7", "8", "9"],
                "dedupe_key": ["k0", "k1", "k2"],
                "payload": [{"share_id": n, "title": 'Zażółć "gęślą"'} for n in range(3)],
            },
            same=alike(tenant) | {"next_attempt_at": later.astimezone(EAST)},
        )
        assert inserted == 3
    stored = await notifications(env)
    assert [(n.dedupe_key, n.target) for n in stored] == [("k0", "7"), ("k1", "8"), ("k2", "9")]
    assert [n.payload for n in stored] == [
        {"share_id": n, "title": 'Zażółć "gęślą"'} for n in range(3)
    ]
    assert {(n.org_id, n.status, n.next_attempt_at, n.created_at) for n in stored} == {
        (tenant.org_id, "pending", later, START)
    }
    assert all(n.result == {} and n.sent_at is None for n in stored)


async def test_columns_that_cannot_make_rows_are_refused_before_anything_is_sent(
    env: Env, tenant: Tenant
) -> None:
    async with env.sessions() as session, session.begin():
        with pytest.raises(ValueError, match="hold different numbers of rows"):
            await bulk.insert_columns(
                session,
                NOTIFICATION,
                varying={"target": ["7", "8"], "dedupe_key": ["k0"], "payload": [{}, {}]},
                same=alike(tenant),
            )
        with pytest.raises(ValueError, match="notification.target is given both"):
            await bulk.insert_columns(
                session,
                NOTIFICATION,
                varying={"target": ["7"], "dedupe_key": ["k0"], "payload": [{}]},
                same=alike(tenant) | {"target": "8"},
            )
        with pytest.raises(ValueError, match="need a column that varies"):
            await bulk.insert_columns(session, NOTIFICATION, varying={}, same=alike(tenant))
        with pytest.raises(ValueError, match="notification has no column colour"):
            await bulk.insert_columns(
                session,
                NOTIFICATION,
                varying={"target": ["7"], "dedupe_key": ["k0"], "payload": [{}]},
                same=alike(tenant) | {"colour": "red"},
            )
        assert (
            await bulk.insert_columns(
                session, NOTIFICATION, varying={"target": [], "dedupe_key": []}, same=alike(tenant)
            )
            == 0
        )
    assert await notifications(env) == []


async def test_a_taken_key_is_skipped_and_what_the_transaction_wrote_before_stays(
    env: Env, tenant: Tenant
) -> None:
    async with env.sessions() as session, session.begin():
        await bulk.insert(session, NOTIFICATION, [notice("k1", org_id=tenant.org_id)])
        inserted = await bulk.insert(
            session,
            NOTIFICATION,
            [notice(key, org_id=tenant.org_id, target="8") for key in ("k0", "k1", "k2", "k0")],
            skip_conflicts_on="dedupe_key",
        )
        assert inserted == 2
        # The transaction goes on after the taken key.
        await bulk.insert(session, NOTIFICATION, [notice("k3", org_id=tenant.org_id)])
    stored = await notifications(env)
    assert [(n.dedupe_key, n.target) for n in stored] == [
        ("k0", "8"),
        ("k1", "7"),
        ("k2", "8"),
        ("k3", "7"),
    ]


async def test_a_refused_batch_in_a_transaction_under_way_keeps_nothing(
    env: Env, tenant: Tenant
) -> None:
    with pytest.raises(IntegrityError, match="(?i)unique"):
        async with env.sessions() as session, session.begin():
            await session.exec(select(Notification.id))  # the transaction is under way
            await bulk.insert(session, NOTIFICATION, [notice("k9", org_id=tenant.org_id)])
            await bulk.insert(
                session,
                NOTIFICATION,
                [notice(key, org_id=tenant.org_id) for key in ("k0", "k1", "k0")],
            )
    assert await notifications(env) == []


async def test_a_batch_is_undone_with_its_transaction_wherever_it_comes(
    env: Env, tenant: Tenant
) -> None:
    class Abandoned(Exception):
        pass

    many = [notice(f"k{n:04d}", org_id=tenant.org_id) for n in range(1500)]
    with pytest.raises(Abandoned):
        async with env.sessions() as session, session.begin():
            await session.exec(select(Notification.id).where(col(Notification.id) < 0))
            assert await bulk.insert(session, NOTIFICATION, many) == 1500
            seen = await session.exec(select(Notification.dedupe_key))
            assert len(seen.all()) == 1500  # visible inside the transaction
            raise Abandoned
    assert await notifications(env) == []
    async with env.sessions() as session:
        assert (await session.exec(text("SELECT count(*) FROM notification"))).scalar_one() == 0
