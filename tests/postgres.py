"""The test session's PostgreSQL database: created and migrated once, emptied before each
test by one statement on a connection kept open, dropped when the session ends.

Emptying deletes the rows and starts the used sequences over, so every test sees a clean,
migrated store whose ids start at 1. DELETE on tables holding a handful of rows costs
next to nothing, where TRUNCATE creates new files for every table and its indexes.
The connection lives on an event loop of its own (in a thread), because each test runs on
a new loop and an asyncpg connection belongs to the loop that opened it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - every table is in the metadata
from storage import migrate
from storage.db import make_engine

T = TypeVar("T")
LOCK_TIMEOUT = "10s"
"""How long emptying waits for a lock a test left held before failing (not hanging)."""
WAIT = 120.0
"""Seconds the session waits for creating, emptying or dropping the database."""


def emptying_statement(tables: Sequence[str]) -> str:
    """One statement that deletes every row of ``tables`` (given children first, so that
    each DELETE leaves no dangling foreign key) and starts each sequence that was used
    over at its first value."""
    deletes = "\n".join(f'    DELETE FROM "{table}";' for table in tables)
    return f"""DO $empty$
DECLARE
    used record;
BEGIN
{deletes}
    FOR used IN
        SELECT schemaname, sequencename, start_value FROM pg_sequences
        WHERE schemaname = current_schema() AND last_value IS NOT NULL
    LOOP
        PERFORM setval(
            format('%I.%I', used.schemaname, used.sequencename), used.start_value, false
        );
    END LOOP;
END
$empty$"""


class PostgresStore:
    """A database of its own for one test session, on the server at ``admin_url``."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"inkpost_test_{uuid.uuid4().hex[:10]}"
        self.url = f"{admin_url.rsplit('/', 1)[0]}/{self.name}"
        self._emptying = emptying_statement(
            [table.name for table in reversed(SQLModel.metadata.sorted_tables)]
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="postgres-store", daemon=True
        )
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None
        self._created = False

    def create(self) -> None:
        """Create and migrate the database, and open the connection that empties it."""
        self._thread.start()
        self._run(self._create())

    def empty(self) -> None:
        """Delete every row and restart the sequences: a clean store, ids from 1."""
        self._run(self._empty())

    def drop(self) -> None:
        """Close the connection and drop the database (whatever its connections)."""
        try:
            if self._thread.is_alive():
                self._run(self._drop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=WAIT)
            self._loop.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=WAIT)

    async def _admin(self, statement: str) -> None:
        engine = make_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    async def _create(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.name}"')
        self._created = True
        self._engine = make_engine(self.url, pool_size=1, pool_pre_ping=False)
        await migrate.upgrade(self._engine)
        self._connection = await self._engine.connect()
        await self._connection.exec_driver_sql(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        await self._connection.commit()

    async def _empty(self) -> None:
        assert self._connection is not None, "the database was not created"
        try:
            await self._connection.exec_driver_sql(self._emptying)
        except BaseException:
            await self._connection.rollback()  # the next test may try again
            raise
        await self._connection.commit()

    async def _drop(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._engine is not None:
            await self._engine.dispose()
        if self._created:
            await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
