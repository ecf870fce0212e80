"""Async engines and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]

READ_ONLY = "inkpost_read_only"
"""Execution option of sessions that only read (``read_session``)."""


POOL_SIZE = 20
"""Connections an engine keeps open: enough for the web requests in flight, the access
recorder and the workers of one process. Below that, every burst of requests opens and
closes overflow connections (a thread on SQLite, a server process on PostgreSQL), which
costs more than the queries they run."""


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and writer-first transactions."""
    parsed = make_url(url)
    # A failed statement's message names its values only as hidden: a bulk insert's
    # thousands of them (tokens' hashes among them) stay out of errors and logs.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("pool_size", POOL_SIZE)  # in memory, one connection is all
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", POOL_SIZE)
    ping_when_rested = "pool_pre_ping" not in kwargs
    engine = create_async_engine(url, **kwargs)
    if ping_when_rested:
        _ping_when_rested(engine)
    return engine


PING_AFTER_REST = 1.0
"""Seconds a pooled PostgreSQL connection may rest in the pool and still be handed out
without a ping first."""

_RESTED_SINCE = "inkpost_rested_since"


def _ping_when_rested(engine: AsyncEngine) -> None:
    """Ping a pooled connection before handing it out only when it has rested in the pool
    for more than `PING_AFTER_REST` (a dead one is replaced, as ``pool_pre_ping`` would).

    A ping on every checkout is a round trip to the database before every statement a
    request reads outside a transaction: on a page view, a quick read, an API call's
    key. A connection back from work a moment ago was alive a moment ago; one that has
    rested may have been closed by a restart, a proxy or an idle timeout. A server that
    dies within that moment fails the statements in flight, which a ping would not have
    saved either, and its first disconnect error invalidates the whole pool."""
    sync = engine.sync_engine
    dialect = sync.dialect

    @event.listens_for(sync, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RESTED_SINCE] = time.monotonic()

    @event.listens_for(sync, "checkin")
    def _rest(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RESTED_SINCE] = time.monotonic()

    @event.listens_for(sync, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_RESTED_SINCE, 0.0) <= PING_AFTER_REST:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as e:
            if dialect.is_disconnect(e, dbapi_connection, None):
                raise DisconnectionError(str(e)) from e  # the pool connects anew
            raise


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        prepare_sqlite(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A session that only reads opens no transaction at all: each of its statements
        # reads one consistent snapshot, as under PostgreSQL's READ COMMITTED, beside the
        # writer (WAL) and without the round trips of BEGIN.
        if not conn.get_execution_options().get(READ_ONLY, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def prepare_sqlite(dbapi_connection: Any, *, wal: bool = True) -> None:
    """Set up a new SQLite connection as every connection of an Inkpost store is; without
    ``wal`` it leaves the journal mode as it is (setting it may wait for a writer)."""
    # Take control of transactions so that each one starts as a writer: two
    # concurrent read-then-write transactions then wait instead of failing.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    if wal:
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # SQLite's own lower() folds ASCII letters only, so a search for "łucja" or
    # "договор" would miss "Łucja" and "Договор"; as on PostgreSQL, fold every letter.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def read_session(sessions: SessionFactory) -> AsyncSession:
    """A session of ``sessions`` for queries only.

    On SQLite it takes no write lock and waits for no writer: each statement reads its own
    snapshot, as under READ COMMITTED on PostgreSQL, where its transactions are READ ONLY.
    Never write in it: PostgreSQL refuses, but SQLite would commit each write at once.
    """
    return sessions(execution_options={READ_ONLY: True, "postgresql_readonly": True})
