"""Bulk inserts: the same rows as the ORM would write, in the session's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from storage import bulk
from storage.models import Notification, Share
from tests.conftest import START, Tenant
from tests.helpers import upload
from workflows.context import Env

NOTIFICATION = Notification.__table__  # type: ignore[attr-defined]
SHARE = Share.__table__  # type: ignore[attr-defined]


def notice(key: str, **changes: Any) -> dict[str, Any]:
    row = {
        "org_id": changes.pop("org_id"),
        "channel": "recipient",
        "target": "7",
        "kind": "document.shared",
        "payload": {"share_id": 1, "title": 'Zażółć "gęślą" jaźń'},
        "dedupe_key": key,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": START,
        "created_at": START,
    }
    row.update(changes)
    return row


async def notifications(env: Env) -> list[Notification]:
    async with env.sessions() as session:
        query = select(Notification).order_by(col(Notification.dedupe_key))
        return list((await session.exec(query)).all())


async def test_rows_read_back_as_the_orm_wrote_them(env: Env, tenant: Tenant) -> None:
    later = datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    rows = [notice(f"k{i}", org_id=tenant.org_id) for i in range(3)]
    rows[1]["next_attempt_at"] = later.astimezone(UTC).astimezone()  # another offset
    rows[2]["payload"] = {"nested": [1, None, {"a": True}]}
    async with env.sessions() as session, session.begin():
        assert await bulk.insert(session, NOTIFICATION, rows) == 3
    stored = await notifications(env)
    assert [n.dedupe_key for n in stored] == ["k0", "k1", "k2"]
    assert stored[0].payload == {"share_id": 1, "title": 'Zażółć "gęślą" jaźń'}
    assert stored[2].payload == {"nested": [1, None, {"a": True}]}
    assert [n.next_attempt_at for n in stored] == [START, later, START]
    assert all(n.next_attempt_at.tzinfo is not None for n in stored)
    # Left out: NULL, and the server's default for `result`.
    assert stored[0].claimed_until is None and stored[0].sent_at is None
    assert stored[0].result == {}


async def test_scalar_defaults_fill_the_columns_left_out(env: Env, tenant: Tenant) -> None:
    document_id = await _document(env, tenant)
    async with env.sessions() as session, session.begin():
        ids = await bulk.reserve_ids(session, SHARE, 2)
        rows = [_share(tenant, document_id, share_id) | {"expires_at": None} for share_id in ids]
        assert await bulk.insert(session, SHARE, rows) == 2
    async with env.sessions() as session:
        shares = (await session.exec(select(Share).where(col(Share.id).in_(ids)))).all()
    assert sorted(s.id for s in shares if s.id is not None) == ids
    for share in shares:
        assert (share.download_count, share.open_count, share.notify_unused_expiry) == (0, 0, False)
        assert share.created_at == START and share.expires_at is None


async def test_reserved_ids_are_fresh_and_never_handed_out_again(env: Env, tenant: Tenant) -> None:
    document_id = await _document(env, tenant)
    async with env.sessions() as session, session.begin():
        first = await bulk.reserve_ids(session, SHARE, 5)
        assert len(set(first)) == 5
        await bulk.insert(session, SHARE, [_share(tenant, document_id, i) for i in first])
    async with env.sessions() as session, session.begin():
        share = Share(**{k: v for k, v in _share(tenant, document_id, 0).items() if k != "id"})
        share.token_hash = "f" * 64
        session.add(share)
        await session.flush()
        assert share.id is not None and share.id > max(first)
        second = await bulk.reserve_ids(session, SHARE, 3)
    assert min(second) > share.id
    async with env.sessions() as session, session.begin():
        assert await bulk.reserve_ids(session, SHARE, 0) == []


async def test_conflicting_rows_are_skipped_and_not_counted(env: Env, tenant: Tenant) -> None:
    async with env.sessions() as session, session.begin():
        await bulk.insert(session, NOTIFICATION, [notice("k1", org_id=tenant.org_id)])
    rows = [notice(key, org_id=tenant.org_id, target="8") for key in ("k0", "k1", "k2")]
    async with env.sessions() as session, session.begin():
        inserted = await bulk.insert(session, NOTIFICATION, rows, skip_conflicts_on="dedupe_key")
    assert inserted == 2
    stored = await notifications(env)
    assert [(n.dedupe_key, n.target) for n in stored] == [("k0", "8"), ("k1", "7"), ("k2", "8")]


async def test_rows_are_part_of_the_transaction(env: Env, tenant: Tenant) -> None:
    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with env.sessions() as session, session.begin():
            await bulk.insert(session, NOTIFICATION, [notice("k0", org_id=tenant.org_id)])
            raise Abandoned
    assert await notifications(env) == []


async def test_a_duplicate_without_skipping_fails_the_whole_insert(
    env: Env, tenant: Tenant
) -> None:
    rows = [notice(key, org_id=tenant.org_id) for key in ("k0", "k1", "k0")]
    with pytest.raises(Exception, match="(?i)unique"):
        async with env.sessions() as session, session.begin():
            await bulk.insert(session, NOTIFICATION, rows)
    assert await notifications(env) == []


async def test_rows_the_table_cannot_take_are_refused_before_anything_is_sent(
    env: Env, tenant: Tenant
) -> None:
    async with env.sessions() as session, session.begin():
        with pytest.raises(ValueError, match="notification has no column colour"):
            await bulk.insert(
                session, NOTIFICATION, [notice("k0", org_id=tenant.org_id, colour="red")]
            )
        uneven = [notice("k1", org_id=tenant.org_id), notice("k2", org_id=tenant.org_id)]
        uneven[1]["sent_at"] = uneven[1].pop("created_at")
        with pytest.raises(ValueError, match="rows for notification give different columns"):
            await bulk.insert(session, NOTIFICATION, uneven)
        no_created_at = notice("k1", org_id=tenant.org_id)
        del no_created_at["created_at"]
        with pytest.raises(ValueError, match="notification.created_at has a computed default"):
            await bulk.insert(session, NOTIFICATION, [no_created_at])
    async with env.sessions() as session:
        count = (await session.exec(select(func.count()).select_from(Notification))).one()
    assert count == 0


async def test_many_rows_with_mostly_equal_values(env: Env, tenant: Tenant) -> None:
    rows = [
        notice(f"k{i:05d}", org_id=tenant.org_id, next_attempt_at=START + timedelta(seconds=i % 3))
        for i in range(2500)
    ]
    async with env.sessions() as session, session.begin():
        assert await bulk.insert(session, NOTIFICATION, rows) == 2500
    stored = await notifications(env)
    assert len(stored) == 2500
    assert {n.next_attempt_at - START for n in stored} == {timedelta(seconds=s) for s in range(3)}


async def _document(env: Env, tenant: Tenant) -> int:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    return document.id


def _share(tenant: Tenant, document_id: int, share_id: int) -> dict[str, Any]:
    return {
        "id": share_id,
        "org_id": tenant.org_id,
        "document_id": document_id,
        "kind": "recipient",
        "recipient_id": tenant.recipient_id,
        "token_hash": f"{share_id:064d}",
        "created_at": START,
    }


async def test_rows_inserted_in_a_synchronous_step_read_back_as_the_others(
    env: Env, tenant: Tenant
) -> None:
    rows = [notice(f"k{i}", org_id=tenant.org_id, target=str(i)) for i in range(3)]
    rows[2]["payload"] = {"nested": [1, None, {"a": True}]}
    async with env.sessions() as session, session.begin():
        inserted = await session.run_sync(
            lambda sync: bulk.insert_now(sync.connection(), NOTIFICATION, rows)
        )
        assert inserted == 3
        assert (
            await session.run_sync(
                lambda sync: bulk.insert_now(sync.connection(), NOTIFICATION, [])
            )
            == 0
        )
    stored = await notifications(env)
    assert [(n.dedupe_key, n.target) for n in stored] == [("k0", "0"), ("k1", "1"), ("k2", "2")]
    assert stored[0].payload == {"share_id": 1, "title": 'Zażółć "gęślą" jaźń'}
    assert stored[2].payload == {"nested": [1, None, {"a": True}]}
    assert all(n.next_attempt_at == START for n in stored)


async def test_a_synchronous_step_refuses_rows_of_different_columns_and_writes_nothing(
    env: Env, tenant: Tenant
) -> None:
    rows = [notice("k0", org_id=tenant.org_id), notice("k1", org_id=tenant.org_id)]
    del rows[1]["target"]
    with pytest.raises(ValueError, match="give different columns"):
        async with env.sessions() as session, session.begin():
            await session.run_sync(
                lambda sync: bulk.insert_now(sync.connection(), NOTIFICATION, rows)
            )
    assert await notifications(env) == []
