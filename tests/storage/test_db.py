"""The store itself: migrations, SQLite settings, UTC round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col, select

from storage import db, migrate
from storage.db import make_engine, make_session_factory, sqlite_url
from storage.models import Client, Organization
from storage.search import is_search_object


async def test_a_fresh_database_is_migrated_once(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "nested" / "inkpost.db"))
    try:
        assert await migrate.needs_upgrade(engine)
        assert await migrate.upgrade(engine) is True
        assert await migrate.upgrade(engine) is False
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


async def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "inkpost.db"))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_foreign_keys_are_enforced(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            session.add(Client(org_id=4242, name="Orphan"))


async def test_times_come_back_in_utc_whatever_zone_went_in(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    warsaw = timezone(timedelta(hours=1))
    created = datetime(2026, 11, 23, 13, 30, 15, 123456, tzinfo=warsaw)
    async with sessions() as session, session.begin():
        org = Organization(slug="tz", name="TZ", created_at=created)
        session.add(org)
    async with sessions() as session:
        stored = await session.get(Organization, org.id)
    assert stored is not None
    assert stored.created_at == created
    assert stored.created_at.tzinfo == UTC


@pytest.mark.parametrize("typed", ["łucja", "ŁUCJA", "договор", "ДОГОВОР", "åsa"])
async def test_a_search_ignores_case_in_every_script(engine: AsyncEngine, typed: str) -> None:
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        session.add(Organization(slug="ci", name="Łucja Åsa Договор"))
    async with sessions() as session:
        found = (
            await session.exec(select(Organization).where(col(Organization.name).icontains(typed)))
        ).all()
    assert [org.slug for org in found] == ["ci"]


async def test_naive_times_are_refused(engine: AsyncEngine) -> None:
    sessions = make_session_factory(engine)
    with pytest.raises(Exception, match="naive datetime"):
        async with sessions() as session, session.begin():
            session.add(Organization(slug="naive", name="N", created_at=datetime(2026, 1, 1)))


async def test_the_migrations_build_exactly_the_tables_the_models_describe(
    engine: AsyncEngine,
) -> None:
    def differences(connection: object) -> list[object]:
        options = {
            "compare_type": True,
            "include_object": lambda obj, name, type_, reflected, compare_to: (
                not is_search_object(name, type_)
            ),
        }
        context = MigrationContext.configure(connection, opts=options)  # type: ignore[arg-type]
        return list(compare_metadata(context, SQLModel.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_a_postgres_connection_is_pinged_only_after_a_rest(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection back from work a moment ago is handed out at once; one that rested
    longer is pinged first, and replaced when it turns out dead."""
    monkeypatch.setattr(db, "PING_AFTER_REST", 60.0)  # every checkout counts as recent
    engine = make_engine(postgres_database, pool_size=1, max_overflow=0)
    other = make_engine(postgres_database, pool_pre_ping=False)
    dialect = engine.sync_engine.dialect
    pings: list[Any] = []
    ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)

    async def backend() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        first = await backend()
        assert await backend() == first
        assert pings == []  # new, then back a moment ago: no round trip before the query

        async with other.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(db, "PING_AFTER_REST", 0.0)  # every checkout counts as rested
        second = await backend()
        # pinged and found dead; its replacement, checked out anew, pinged and alive
        assert second != first and len(pings) == 2
        assert await backend() == second and len(pings) == 3  # pinged, alive
    finally:
        await engine.dispose()
        await other.dispose()
