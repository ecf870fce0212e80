"""The quick question every command asks first: is the schema current? Answered without
alembic, it must agree with alembic's own answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.util import CommandError
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.db import make_engine, sqlite_url
from tests.conftest import PG_ADMIN_URL, _postgres_reachable


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    migrate.newest_revision.cache_clear()
    yield
    migrate.newest_revision.cache_clear()


def test_the_newest_revision_is_alembics_head() -> None:
    assert migrate.newest_revision() == migrate.head_revision()


async def test_a_migrated_database_is_current(engine: AsyncEngine) -> None:
    assert await migrate.is_current(engine)
    assert not await migrate.needs_upgrade(engine)


async def test_an_empty_database_is_not_current_until_migrated(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "inkpost.db"))
    try:
        assert not await migrate.is_current(engine)
        await migrate.upgrade(engine)
        assert await migrate.is_current(engine)
    finally:
        await engine.dispose()


async def test_a_database_behind_the_newest_revision_is_not_current(engine: AsyncEngine) -> None:
    """The PostgreSQL store is the test session's, kept between tests: its revision is
    put back, or every later test of the process would find it behind."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        assert not await migrate.is_current(engine)
        assert await migrate.needs_upgrade(engine)
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE alembic_version SET version_num = :newest"),
                {"newest": migrate.newest_revision()},
            )
    assert await migrate.is_current(engine)


def write_revision(directory: Path, revision: str, down: str) -> None:
    (directory / f"{revision}.py").write_text(
        f'revision: str = "{revision}"\ndown_revision: str | None = {down}\n'
    )


def test_revision_files_read_as_one_line_give_its_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: None
) -> None:
    (tmp_path / "versions").mkdir()
    write_revision(tmp_path / "versions", "a1", "None")
    write_revision(tmp_path / "versions", "b2", '"a1"')
    write_revision(tmp_path / "versions", "c3", '"b2"')
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)

    assert migrate.newest_revision() == "c3"


def test_two_heads_are_left_to_alembic_which_refuses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: None
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    write_revision(versions, "a1", "None")
    write_revision(versions, "b2", '"a1"')
    write_revision(versions, "b3", '"a1"')
    (tmp_path / "script.py.mako").write_text("")
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)

    with pytest.raises(CommandError, match="multiple heads"):
        migrate.newest_revision()


def test_a_revision_that_is_not_a_plain_literal_is_left_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_cache: None
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    write_revision(versions, "a1", "None")
    (versions / "b2.py").write_text('PARENT = "a1"\nrevision = "b2"\ndown_revision = PARENT\n')
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)
    asked: list[str] = []

    def alembic_head() -> str:
        asked.append("head")
        return "b2"

    monkeypatch.setattr(migrate, "head_revision", alembic_head)

    assert migrate.newest_revision() == "b2"
    assert asked == ["head"]


async def test_processes_migrating_postgresql_at_once_take_turns() -> None:
    if not _postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"inkpost_migrate_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engines = [make_engine(url) for _ in range(3)]
    try:
        racing = asyncio.gather(*(migrate.upgrade(engine) for engine in engines))
        applied = await asyncio.wait_for(racing, timeout=60)  # without turns: deadlock

        assert sorted(applied) == [False, False, True], "one applies, the others find it done"
        assert await migrate.is_current(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
