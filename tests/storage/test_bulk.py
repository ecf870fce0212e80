"""Bulk inserts: the same rows as the ORM would write, in the session's transaction."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
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


@pytest.mark.parametrize(
    "count", [1, bulk.FEW - 1, bulk.FEW, bulk.FEW + 5, 1023, 1024, 1025, 2 * 1024 + 300]
)
async def test_every_row_goes_in_once_whatever_their_number(
    env: Env, tenant: Tenant, count: int
) -> None:
    """Statements of many rows, the rest in one filled up with rows of nothing, or one by
    one: each row stored once, and none of the filling."""
    rows = [notice(f"k{i:05d}", org_id=tenant.org_id, target=str(i)) for i in range(count)]
    async with env.sessions() as session, session.begin():
        assert await bulk.insert(session, NOTIFICATION, rows) == count
    stored = await notifications(env)
    assert [(n.dedupe_key, n.target) for n in stored] == [
        (row["dedupe_key"], row["target"]) for row in rows
    ]


async def test_skipped_conflicts_are_not_counted_in_a_filled_statement(
    env: Env, tenant: Tenant
) -> None:
    async with env.sessions() as session, session.begin():
        await bulk.insert(session, NOTIFICATION, [notice("k00003", org_id=tenant.org_id)])
    rows = [notice(f"k{i:05d}", org_id=tenant.org_id, target="8") for i in range(bulk.FEW + 2)]
    async with env.sessions() as session, session.begin():
        inserted = await bulk.insert(session, NOTIFICATION, rows, skip_conflicts_on="dedupe_key")
    assert inserted == bulk.FEW + 1
    stored = await notifications(env)
    assert [n.target for n in stored].count("7") == 1 and len(stored) == bulk.FEW + 2


async def test_writes_handed_over_are_stored_in_turn_and_counted(env: Env, tenant: Tenant) -> None:
    rows = [notice(f"k{i:05d}", org_id=tenant.org_id) for i in range(1500)]
    async with env.sessions() as session, session.begin():
        writes = bulk.Writes(session)
        await writes.insert(NOTIFICATION, rows[:1400])
        await writes.insert_columns(
            NOTIFICATION,
            varying={"dedupe_key": [row["dedupe_key"] for row in rows[1400:]]},
            same={key: value for key, value in rows[0].items() if key != "dedupe_key"},
        )
        await writes.update(
            NOTIFICATION,
            key="dedupe_key",
            rows=[{"dedupe_key": "k00007", "status": "sent", "sent_at": START}],
        )
        await writes.insert(NOTIFICATION, [])
        # What the session asks meanwhile waits for them: it sees every row.
        seen = (await session.exec(select(func.count()).select_from(Notification))).one()
        assert seen == 1500
        assert await writes.finish() == 1500
    stored = await notifications(env)
    assert len(stored) == 1500
    assert [(n.dedupe_key, n.sent_at) for n in stored if n.status == "sent"] == [("k00007", START)]


async def test_a_failed_write_is_raised_at_the_end_and_nothing_is_kept(
    env: Env, tenant: Tenant
) -> None:
    rows = [notice(f"k{i:05d}", org_id=tenant.org_id) for i in range(300)]
    rows.append(notice("k00001", org_id=tenant.org_id))  # taken, and not skipped
    with pytest.raises(IntegrityError, match="(?i)unique") as raised:
        async with (
            env.sessions() as session,
            session.begin(),
            bulk.writing(session) as writes,
        ):
            await writes.insert(NOTIFICATION, rows)
            await writes.insert(NOTIFICATION, [notice("later", org_id=tenant.org_id)])
    assert "[parameters:" not in str(raised.value)  # the values stay out of the message
    assert await notifications(env) == []


async def test_a_block_that_fails_waits_for_its_writes_and_keeps_nothing(
    env: Env, tenant: Tenant
) -> None:
    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with (
            env.sessions() as session,
            session.begin(),
            bulk.writing(session) as writes,
        ):
            await writes.insert(
                NOTIFICATION, [notice(f"k{i}", org_id=tenant.org_id) for i in range(500)]
            )
            raise Abandoned
    assert await notifications(env) == []


async def test_an_update_names_its_key_and_columns_the_table_has(env: Env, tenant: Tenant) -> None:
    async with env.sessions() as session, session.begin():
        writes = bulk.Writes(session)
        with pytest.raises(ValueError, match="give dedupe_key and a column to set"):
            await writes.update(NOTIFICATION, key="dedupe_key", rows=[{"status": "sent"}])
        with pytest.raises(ValueError, match="give dedupe_key and a column to set"):
            await writes.update(NOTIFICATION, key="dedupe_key", rows=[{"dedupe_key": "k"}])
        with pytest.raises(ValueError, match="notification has no column colour"):
            await writes.update(
                NOTIFICATION, key="dedupe_key", rows=[{"dedupe_key": "k", "colour": "red"}]
            )
        assert await writes.finish() == 0


async def test_writes_go_after_what_the_session_holds(env: Env, tenant: Tenant) -> None:
    document_id = await _document(env, tenant)
    async with env.sessions() as session, session.begin():
        [share_id] = await bulk.reserve_ids(session, SHARE, 1)
        session.add(Share(**_share(tenant, document_id, share_id)))  # not flushed yet
        async with bulk.writing(session) as writes:
            await writes.update(SHARE, key="id", rows=[{"id": share_id, "message": "Read me"}])
    async with env.sessions() as session:
        stored = await session.get(Share, share_id)
    assert stored is not None and stored.message == "Read me"


@pytest.mark.parametrize("handed_over", [False, True])
@pytest.mark.parametrize("count", [bulk.FEW - 1, bulk.FEW + 5, 1024, 1024 + 300])
async def test_a_value_given_once_is_stored_in_every_row(
    env: Env, tenant: Tenant, count: int, handed_over: bool
) -> None:
    """Columns that hold one value go into a statement once, beside the rows' own values:
    each row gets its own values in its own columns, and every row the shared ones,
    a conflict skipped among them."""
    async with env.sessions() as session, session.begin():
        await bulk.insert(session, NOTIFICATION, [notice("k00002", org_id=tenant.org_id)])
    keys = [f"k{i:05d}" for i in range(count)]
    same = notice("", org_id=tenant.org_id, status="sent", attempts=3)
    del same["dedupe_key"], same["target"]
    varying = {"target": [str(1000 + i) for i in range(count)], "dedupe_key": keys}
    async with env.sessions() as session, session.begin():
        if handed_over:
            async with bulk.writing(session) as writes:
                await writes.insert_columns(
                    NOTIFICATION, varying=varying, same=same, skip_conflicts_on="dedupe_key"
                )
                inserted = await writes.finish()
        else:
            inserted = await bulk.insert_columns(
                session, NOTIFICATION, varying=varying, same=same, skip_conflicts_on="dedupe_key"
            )
    assert inserted == count - 1
    stored = [n for n in await notifications(env) if n.status == "sent"]
    assert [(n.dedupe_key, n.target) for n in stored] == [
        (key, str(1000 + i)) for i, key in enumerate(keys) if key != "k00002"
    ]
    assert {(n.attempts, n.kind, n.next_attempt_at, n.org_id) for n in stored} == {
        (3, "document.shared", START, tenant.org_id)
    }
    assert {n.payload["title"] for n in stored} == {'Zażółć "gęślą" jaźń'}


async def test_python_switches_threads_often_only_while_writes_are_under_way(
    env: Env, tenant: Tenant, engine: AsyncEngine
) -> None:
    """Writes handed to SQLite's driver thread shorten the switch interval until the last
    of two sets under way at once has ended; then it is as it was. Writes that run at once
    (PostgreSQL) leave it alone."""
    before = sys.getswitchinterval()
    quick = pytest.approx(bulk.SWITCH_INTERVAL if engine.dialect.name == "sqlite" else before)
    rows = [notice(f"k{i:05d}", org_id=tenant.org_id) for i in range(30)]
    async with env.sessions() as session, session.begin(), bulk.writing(session) as writes:
        assert sys.getswitchinterval() == before  # nothing handed over yet
        await writes.insert(NOTIFICATION, rows[:10])
        assert sys.getswitchinterval() == quick
        other = bulk.Writes(session)
        await other.insert(NOTIFICATION, rows[10:20])
        assert await other.finish() == 10
        assert sys.getswitchinterval() == quick  # the first is still under way
        assert await writes.finish() == 10
        assert sys.getswitchinterval() == before
        await writes.insert(NOTIFICATION, rows[20:])
        assert sys.getswitchinterval() == quick
    assert sys.getswitchinterval() == before
    assert len(await notifications(env)) == 30


async def test_a_failed_write_gives_back_the_switch_interval(env: Env, tenant: Tenant) -> None:
    before = sys.getswitchinterval()
    rows = [notice(f"k{i:05d}", org_id=tenant.org_id) for i in range(2)]
    with pytest.raises(IntegrityError):
        async with (
            env.sessions() as session,
            session.begin(),
            bulk.writing(session) as writes,
        ):
            await writes.insert(NOTIFICATION, rows + rows)
    assert sys.getswitchinterval() == before
