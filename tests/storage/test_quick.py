"""Short reads and writes on the calling thread (SQLite), ordinary sessions elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    Connection,
    bindparam,
    event,
    func,
    literal,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import migrate
from storage.db import make_engine, make_session_factory, sqlite_url
from storage.errors import store_unreachable
from storage.models import Organization
from storage.quick import (
    QuickSQLiteDialect,
    quick_core,
    quick_reads,
    quick_sessions,
    quick_transaction,
    read_rows,
)
from storage.types import JSONType, UTCDateTime
from storage.walls import Wall, wall_of, walled

NAMES = select(Organization.name).order_by(col(Organization.id))  # type: ignore[call-overload]


class Refused(Exception):
    pass


def _on_calling_thread(session: AsyncSession) -> bool:
    return isinstance(session.get_bind().dialect, QuickSQLiteDialect)


async def _names(engine: AsyncEngine) -> list[str]:
    async with make_session_factory(engine)() as session:
        return [row.name for row in await session.exec(NAMES)]


async def test_a_write_commits_and_ordinary_sessions_see_it(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    async with quick_transaction(sessions) as session:
        assert _on_calling_thread(session) == (engine.dialect.name == "sqlite")
        session.add(Organization(slug="quick", name="Quick Law"))
    assert await _names(engine) == ["Quick Law"]


async def test_a_write_that_raises_leaves_nothing(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    with pytest.raises(Refused):
        async with quick_transaction(sessions) as session:
            session.add(Organization(slug="quick", name="Quick Law"))
            await session.flush()
            raise Refused
    assert await _names(engine) == []


async def test_a_write_waits_in_an_ordinary_session_while_another_writer_holds_the_lock(
    engine: AsyncEngine,
) -> None:
    sessions = make_session_factory(engine)
    contended = Organization(slug="contended", name="Nobody's yet")
    async with sessions() as session, session.begin():
        session.add(contended)
    holding, release = asyncio.Event(), asyncio.Event()

    async def rename(session: AsyncSession, name: str) -> None:
        organization = await session.get(Organization, contended.id, with_for_update=True)
        assert organization is not None
        organization.name = name
        session.add(organization)
        await session.flush()

    async def first_writer() -> None:
        async with sessions() as session, session.begin():
            await rename(session, "First Law")  # holds the write lock (or the row's)
            holding.set()
            await release.wait()

    async def second_writer() -> bool:
        async with quick_transaction(sessions) as session:
            await rename(session, "Second Law")
            return _on_calling_thread(session)

    first = asyncio.create_task(first_writer())
    await asyncio.wait_for(holding.wait(), timeout=10)
    second = asyncio.create_task(second_writer())
    await asyncio.sleep(0.2)
    assert not second.done()  # it waits for the lock instead of failing
    release.set()
    await first
    assert await second is False
    assert await _names(engine) == ["Second Law"]


ORGANIZATIONS = Organization.__table__  # type: ignore[attr-defined]


def _add(name: str) -> Callable[[Connection], object]:
    slug = name.split()[0].lower()
    return lambda connection: connection.execute(
        ORGANIZATIONS.insert(), {"slug": slug, "name": name, "categories": ["other"]}
    )


async def test_core_steps_and_a_session_commit_together(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    async with quick_core(sessions) as transaction:
        await transaction.run(_add("Core Law"))
        session = transaction.session()
        assert _on_calling_thread(session) == (engine.dialect.name == "sqlite")
        assert [row.name for row in await session.exec(NAMES)] == ["Core Law"]  # one transaction
        session.add(Organization(slug="orm", name="Orm Law"))
        await transaction.run(_add("Later Law"))
    # what the session holds is flushed as the transaction ends, after the later step
    assert await _names(engine) == ["Core Law", "Later Law", "Orm Law"]


async def test_core_steps_without_a_session_commit(engine: AsyncEngine) -> None:
    async with quick_core(make_session_factory(engine)) as transaction:
        await transaction.run(_add("Core Law"))
    assert await _names(engine) == ["Core Law"]


async def test_a_core_transaction_that_raises_leaves_nothing_and_frees_the_lock(
    engine: AsyncEngine,
) -> None:
    sessions = make_session_factory(engine)
    with pytest.raises(Refused):
        async with quick_core(sessions) as transaction:
            await transaction.run(_add("Core Law"))
            transaction.session().add(Organization(slug="orm", name="Orm Law"))
            await transaction.session().flush()
            raise Refused
    assert await _names(engine) == []
    async with quick_core(sessions) as transaction:  # at once, on the calling thread
        await transaction.run(_add("Next Law"))
        assert _on_calling_thread(transaction.session()) == (engine.dialect.name == "sqlite")
    assert await _names(engine) == ["Next Law"]


async def test_a_core_transaction_waits_while_another_writer_holds_the_lock(
    engine: AsyncEngine,
) -> None:
    sessions = make_session_factory(engine)
    holding, release = asyncio.Event(), asyncio.Event()

    async def first_writer() -> None:
        async with sessions() as session, session.begin():
            session.add(Organization(slug="first", name="First Law"))
            await session.flush()  # holds the write lock
            holding.set()
            await release.wait()

    async def second_writer() -> bool:
        async with quick_core(sessions) as transaction:
            await transaction.run(_add("Second Law"))
            return _on_calling_thread(transaction.session())

    first = asyncio.create_task(first_writer())
    await asyncio.wait_for(holding.wait(), timeout=10)
    second = asyncio.create_task(second_writer())
    await asyncio.sleep(0.2)
    if engine.dialect.name == "sqlite":
        assert not second.done()  # it waits for the lock instead of failing
    release.set()
    await first
    assert await second is False
    assert await _names(engine) == ["First Law", "Second Law"]


async def test_reads_see_what_is_committed_and_never_wait_for_a_writer(
    engine: AsyncEngine,
) -> None:
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        session.add(Organization(slug="kept", name="Kept Law"))
    async with sessions() as writer, writer.begin():
        writer.add(Organization(slug="pending", name="Pending Law"))
        await writer.flush()
        rows = await asyncio.wait_for(read_rows(sessions, NAMES, {}), timeout=5)
        assert [row.name for row in rows] == ["Kept Law"]
        async with quick_reads(sessions) as session:
            read = await asyncio.wait_for(session.exec(NAMES), timeout=5)
            assert [row.name for row in read] == ["Kept Law"]


async def test_reads_on_a_kept_connection_see_each_later_commit_and_close_with_the_engine(
    engine: AsyncEngine,
) -> None:
    sessions = make_session_factory(engine)
    seen = []
    for n in range(3):
        async with sessions() as session, session.begin():
            session.add(Organization(slug=f"org-{n}", name=f"Org {n}"))
        seen.append([row.name for row in await read_rows(sessions, NAMES, {})])
    with pytest.raises(Exception, match="missing_column"):
        await read_rows(sessions, select(Organization.name).where(text("missing_column = 1")), {})
    after_failure = await read_rows(sessions, NAMES, {})

    assert seen == [["Org 0"], ["Org 0", "Org 1"], ["Org 0", "Org 1", "Org 2"]]
    assert [row.name for row in after_failure] == ["Org 0", "Org 1", "Org 2"]
    quick = quick_sessions(sessions)
    if quick is not None:  # SQLite: every kept connection goes back when the engine goes
        pool = quick.kw["bind"].sync_engine.pool
        assert pool.checkedout() >= 1
        await engine.dispose()
        assert pool.checkedout() == 0
    else:  # PostgreSQL: each read gives its connection back, a failed one too
        assert engine.sync_engine.pool.checkedout() == 0


async def test_reads_give_the_rows_an_ordinary_execution_gives(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    early, late = datetime(2026, 1, 5, 8, 0, tzinfo=UTC), datetime(2026, 3, 9, 17, 45, tzinfo=UTC)
    async with sessions() as session, session.begin():
        session.add(Organization(slug="early", name="Early Law", created_at=early))
        session.add(Organization(slug="late", name="Late Law", created_at=late, categories=["x"]))
    since = bindparam("since", type_=UTCDateTime)
    statement = union_all(
        select(
            literal("org").label("kind"),
            col(Organization.name).label("name"),
            col(Organization.created_at).label("at"),
            col(Organization.categories).label("categories"),
        ).where(col(Organization.created_at) >= since),
        select(
            literal("cut").label("kind"),
            literal("since").label("name"),
            since.label("at"),
            literal(None, JSONType).label("categories"),
        ),
    ).order_by(literal_column("at"))
    params = {"since": datetime(2026, 2, 1, 12, 0, tzinfo=UTC)}

    rows = await read_rows(sessions, statement, params)
    async with engine.connect() as connection:
        expected = (await connection.execute(statement, params)).all()

    assert rows == expected
    assert [tuple(row) for row in rows] == [
        ("cut", "since", params["since"], None),
        ("org", "Late Law", late, ["x"]),
    ]
    assert rows[1].at.tzinfo is not None and rows[1]._mapping["name"] == "Late Law"
    in_list = select(Organization.name).where(col(Organization.slug).in_(["early", "late"]))
    names = await read_rows(sessions, in_list.order_by(col(Organization.slug)), {})
    assert [row.name for row in names] == ["Early Law", "Late Law"]


async def test_a_failed_read_raises_the_driver_error_wrapped(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    by_slug = select(Organization.name).where(col(Organization.slug) == bindparam("slug"))
    with pytest.raises(SQLAlchemyError, match="slug"):
        await read_rows(sessions, by_slug, {})
    broken = select(Organization.name).where(text("1 = nonsense("))
    with pytest.raises(DBAPIError):
        await read_rows(sessions, broken, {})
    assert await read_rows(sessions, NAMES, {}) == []


async def test_a_walled_factory_reads_through_its_own_sessions(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        session.add(Organization(slug="kept", name="Kept Law"))
    wall = walled(sessions, Wall(client_ids=frozenset({1})))
    assert quick_sessions(wall) is None
    assert [row.name for row in await read_rows(wall, NAMES, {})] == ["Kept Law"]


async def test_a_core_transaction_of_a_walled_factory_gives_walled_sessions(
    engine: AsyncEngine,
) -> None:
    wall = Wall(client_ids=frozenset({1}))
    async with quick_core(walled(make_session_factory(engine), wall)) as transaction:
        await transaction.run(_add("Core Law"))
        assert wall_of(transaction.session().sync_session) == wall
    assert await _names(engine) == ["Core Law"]


async def test_reads_at_once_take_at_most_half_of_the_pool(postgres_database: str) -> None:
    # PostgreSQL only: on SQLite a quick read holds no pooled connection at all
    small = make_engine(postgres_database, pool_size=4)
    opened: list[object] = []
    event.listen(small.sync_engine, "connect", lambda connection, record: opened.append(record))
    napping = select(func.pg_sleep(0.05), literal(1).label("one"))
    try:
        rows = await asyncio.gather(
            *(read_rows(make_session_factory(small), napping, {}) for _ in range(12))
        )
    finally:
        await small.dispose()
    assert [row[0].one for row in rows] == [1] * 12
    assert len(opened) == 2  # the others waited their turn; no overflow opened and closed


async def test_a_read_on_a_connection_lost_a_moment_ago_says_the_store_is_out_of_reach(
    postgres_database: str,
) -> None:
    """A connection back from work a moment ago is not pinged (`storage.db`): if its
    backend died meanwhile, that one read fails as the store out of reach, and the next
    connects anew."""
    engine = make_engine(postgres_database, pool_size=1, max_overflow=0)
    other = make_engine(postgres_database, pool_pre_ping=False)
    sessions = make_session_factory(engine)
    backend = select(func.pg_backend_pid().label("pid"))
    try:
        first = (await read_rows(sessions, backend, {}))[0].pid
        async with other.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        with pytest.raises(DBAPIError) as lost:
            await read_rows(sessions, backend, {})
        assert lost.value.connection_invalidated and store_unreachable(lost.value)
        assert (await read_rows(sessions, backend, {}))[0].pid != first
    finally:
        await engine.dispose()
        await other.dispose()


async def test_a_quick_read_session_ends_without_a_turn_of_the_event_loop(
    tmp_path: Path,
) -> None:
    """SQLAlchemy closes a session left by ``async with`` in a task of its own, a turn of
    the loop for every read; a quick session, whose close cannot wait, ends at once."""
    engine = make_engine(sqlite_url(tmp_path / "inkpost.db"))
    await migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    loop = asyncio.get_running_loop()
    turns = 0

    def turn() -> None:
        nonlocal turns
        turns += 1
        if turns < 1000:
            loop.call_soon(turn)

    try:
        loop.call_soon(turn)
        async with quick_reads(sessions) as session:
            assert (await session.exec(select(literal(1)))).one() == (1,)
        quick = turns
        async with sessions() as session:  # an ordinary session, for contrast
            await session.exec(select(literal(1)))
        assert quick == 0 and turns > 0
    finally:
        await engine.dispose()


async def test_only_a_sqlite_file_has_quick_sessions(engine: AsyncEngine) -> None:
    quick = quick_sessions(make_session_factory(engine))
    assert (quick is not None) == (engine.dialect.name == "sqlite")
