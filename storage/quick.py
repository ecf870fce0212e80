"""Short reads and writes of a SQLite store run at once on the calling thread.

aiosqlite runs every call of a statement (open a cursor, execute, fetch, close) on a
thread of its own and hands the result back to the event loop: a dozen hand-offs for a
small transaction, each costing more than the statement itself on a warm page cache.
For the hottest paths (resolving a link's token, the signing page, recording visits)
this module offers the same ORM sessions and Core statements on a connection of the
calling thread, so that they run without a single hand-off:

- reads (`read_rows`, `quick_reads`): under WAL a reader neither waits for nor blocks a
  writer, so they never hold up the event loop;
- a write transaction (`quick_transaction`, or `quick_core` for Core statements run in
  one synchronous step) runs there only when SQLite's write lock is free at that very
  moment (it is asked for without waiting); when another writer holds it, the
  transaction waits on a pooled aiosqlite connection as any other would.

Its connections are pooled apart from aiosqlite's and closed with the engine they serve.
SQLAlchemy's asyncio layer drives them as it drives aiosqlite: its sessions run the
synchronous ORM in a greenlet, which here simply never has to wait. Any other database
(PostgreSQL, whose driver needs no thread) and an in-memory SQLite get the ordinary
sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Connection, Engine, Executable, Row, create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.exc import DBAPIError, InvalidRequestError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlalchemy.pool import Pool, QueuePool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import SelectBase
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import READ_ONLY, SessionFactory, prepare_sqlite, read_session

T = TypeVar("T")

BUSY_TIMEOUT_MS = 2_000
"""How long a quick read waits in the rare moments a WAL reader must (recovery after a
crash), with the event loop stopped."""


class _Cursor(sqlite3.Cursor):
    """A sqlite3 cursor with what SQLAlchemy's asyncio layer asks of a driver's cursor."""

    async def _async_soft_close(self) -> None:
        return None


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class QuickSQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite, offered to SQLAlchemy's asyncio layer: statements complete at once."""

    is_async = True
    supports_statement_cache = True


class _Pool(QueuePool):
    """A connection of its own for every session open at once; never waits for one."""

    _is_asyncio = True


registry.register("sqlite.inkpost_quick", __name__, "QuickSQLiteDialect")

_QUICK: weakref.WeakKeyDictionary[Engine, async_sessionmaker[AsyncSession]] = (
    weakref.WeakKeyDictionary()
)
"""The quick session factory of each SQLite file engine."""


def quick_sessions(sessions: SessionFactory) -> async_sessionmaker[AsyncSession] | None:
    """The quick counterpart of ``sessions``; None where there is none (not a SQLite
    file, or a factory bound to anything but one engine, such as a walled one)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine) or sessions.kw.get("info") or sessions.kw.get("binds"):
        return None
    sync = bind.sync_engine
    if sync.dialect.name != "sqlite":
        return None
    quick = _QUICK.get(sync)
    if quick is None:
        database = sync.url.database
        if not database or database == ":memory:":
            return None
        quick = _QUICK[sync] = _make_quick(sync, sessions)
    return quick


def _make_quick(sync: Engine, sessions: SessionFactory) -> async_sessionmaker[AsyncSession]:
    engine = create_engine(
        sync.url.set(drivername="sqlite+inkpost_quick"),
        poolclass=_Pool,
        pool_size=4,
        max_overflow=-1,
        # Nothing to reset: a read takes no transaction, a session ends its own.
        pool_reset_on_return=None,
        connect_args={"check_same_thread": False, "factory": _Connection},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The store is in WAL mode already (its own engine set it): asking again could
        # wait for a writer, with the event loop stopped.
        prepare_sqlite(dbapi_connection, wal=False)
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY, False):
            return
        # The write lock now or never: the event loop must not wait for another writer.
        dbapi_connection = conn.connection.dbapi_connection
        dbapi_connection.execute("PRAGMA busy_timeout=0")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    @event.listens_for(sync, "engine_disposed")
    def _on_dispose(_engine: Any) -> None:
        _QUICK.pop(sync, None)
        readers = _READERS.pop(engine, None)
        if readers is not None:
            readers.close_all()
        engine.dispose()

    kw = {key: value for key, value in sessions.kw.items() if key != "bind"}
    return async_sessionmaker(AsyncEngine(engine), class_=_closing_at_once(sessions.class_), **kw)


class _ClosesAtOnce:
    """A quick session ends as it is left: SQLAlchemy's ``async with`` closes a session in
    a task of its own, shielded from cancellation, which costs the caller a turn of the
    event loop. Nothing a quick session does waits (its statements complete at once), so
    its close cannot be interrupted, and needs no such task."""

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await self.close()  # type: ignore[attr-defined]


_CLOSING_AT_ONCE: dict[type[AsyncSession], type[AsyncSession]] = {}


def _closing_at_once(cls: type[AsyncSession]) -> type[AsyncSession]:
    """``cls`` with `_ClosesAtOnce`'s ending (one class per session class)."""
    quick = _CLOSING_AT_ONCE.get(cls)
    if quick is None:
        quick = _CLOSING_AT_ONCE[cls] = type(f"Quick{cls.__name__}", (_ClosesAtOnce, cls), {})
    return quick


def quick_reads(sessions: SessionFactory) -> AsyncSession:
    """A session for a few short queries (`read_session`), run on the calling thread
    where the store allows it."""
    quick = quick_sessions(sessions)
    return read_session(quick if quick is not None else sessions)


async def read_rows(
    sessions: SessionFactory, statement: Executable, params: Mapping[str, Any]
) -> Sequence[Row[Any]]:
    """The rows of one read-only Core statement, outside any ORM session: on the calling
    thread where the store allows it, else on a pooled connection in a READ ONLY
    transaction (a walled factory reads through `read_session`)."""
    quick = quick_sessions(sessions)
    if quick is not None:
        engine = quick.kw["bind"].sync_engine
        prepared = _prepared(statement, engine.dialect)
        if prepared is not None:
            readers = _readers(engine)
            if not readers.is_open:  # the pool's first connect runs async-aware events
                await greenlet_spawn(readers.connection)
            return prepared.read(readers, params)
        return await greenlet_spawn(_read, engine, statement, params)
    bind = sessions.kw.get("bind")
    if isinstance(bind, AsyncEngine) and not sessions.kw.get("info"):
        sync = bind.sync_engine
        if sync.dialect.driver == "asyncpg":
            prepared = _prepared(statement, sync.dialect)
            if prepared is not None:
                return await prepared.fetch(sync.pool, params)
        async with bind.connect() as connection:
            readonly = await connection.execution_options(postgresql_readonly=True)
            return (await readonly.execute(statement, params)).all()
    async with read_session(sessions) as session:
        return (await session.exec(statement, params=params)).all()  # type: ignore[call-overload]


def _read(engine: Engine, statement: Executable, params: Mapping[str, Any]) -> Sequence[Row[Any]]:
    readers = _readers(engine)
    connection = readers.connection()
    try:
        rows = connection.execute(statement, params).all()
        # Ends the transaction SQLAlchemy began in its books; SQLite's own never began
        # (a read sends no BEGIN), so each read sees what was committed when it ran.
        connection.rollback()
    except BaseException:
        readers.drop()
        raise
    return rows


class _Prepared:
    """A SELECT compiled once for the quick dialect, run straight on the driver.

    Executing a Core statement costs SQLAlchemy about 60 µs around a 20 µs SQLite query
    (an execution context, its events, a cursor result). The hottest reads (a link's
    token, a signing page, an API key) are one constant statement each, so this keeps
    what SQLAlchemy compiled (the SQL, the order of its parameters, each column's bind
    and result processing) and on every read only binds, executes and builds the same
    `Row`s a cursor result would."""

    def __init__(self, statement: SelectBase, compiled: SQLCompiler, dialect: Dialect) -> None:
        self.sql = str(compiled)
        self._binds = tuple(
            (name, compiled.binds[name], _bind_processor(compiled.binds[name], dialect))
            for name in compiled.positiontup or ()
        )
        columns = statement.selected_columns
        self._meta = SimpleResultMetaData(tuple(columns.keys()))
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self._processors = processors if any(processors) else None

    def read(self, readers: _Readers, params: Mapping[str, Any]) -> list[Row[Any]]:
        """The rows, read on this thread's kept SQLite connection."""
        values = self._values(params)
        driver = readers.driver()
        try:
            fetched = driver.execute(self.sql, values).fetchall()
        except sqlite3.Error as e:
            readers.drop()
            raise DBAPIError.instance(
                self.sql, values, e, sqlite3.Error, hide_parameters=True
            ) from e
        return self._rows(fetched)

    async def fetch(self, pool: Pool, params: Mapping[str, Any]) -> list[Row[Any]]:
        """The rows, read by asyncpg on a pooled connection: one statement, outside any
        transaction (a BEGIN and a ROLLBACK around it would be two more round trips)."""
        values = self._values(params)
        async with _read_slots(pool):
            return await self._fetch(pool, values)

    async def _fetch(self, pool: Pool, values: list[Any]) -> list[Row[Any]]:
        import asyncpg  # only where the store is PostgreSQL: it takes 40 ms to import

        record = await greenlet_spawn(pool.connect)  # pinged if it rested (storage.db)
        try:
            driver = record.driver_connection
            assert isinstance(driver, asyncpg.Connection)
            fetched = await driver.fetch(self.sql, *values)
        except (
            asyncpg.exceptions.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
            OSError,
        ) as e:
            # The connection went away (its backend terminated, the server restarted):
            # not this statement's fault, and the pool must not hand the connection out
            # again. SQLAlchemy says as much of its own statements.
            record.invalidate(e)
            raise DBAPIError.instance(
                self.sql, values, e, Exception, hide_parameters=True, connection_invalidated=True
            ) from e
        except asyncpg.PostgresError as e:
            raise DBAPIError.instance(
                self.sql, values, e, asyncpg.PostgresError, hide_parameters=True
            ) from e
        except BaseException as e:
            record.invalidate(e if isinstance(e, Exception) else None)  # a broken connection
            raise
        finally:
            await greenlet_spawn(record.close)
        return self._rows(tuple(row) for row in fetched)

    def _values(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, bind, process in self._binds:
            if name in params:
                value = params[name]
            elif bind.required:
                raise InvalidRequestError(f"A value is required for bind parameter {name!r}")
            else:
                value = bind.effective_value
            values.append(value if process is None else process(value))
        return values

    def _rows(self, fetched: Iterable[Sequence[Any]]) -> list[Row[Any]]:
        meta, processors = self._meta, self._processors
        index = meta._key_to_index
        return [Row(meta, processors, index, data) for data in fetched]


def _read_slots(pool: Pool) -> asyncio.Semaphore:
    """How many quick reads may hold a connection of ``pool`` at once: half its size.

    A page view's read holds a connection only for its one statement, but at 64 views at
    once they took every connection of the pool and its overflow, and each wave of views
    opened overflow connections that were closed again as it ended: new PostgreSQL
    backends by the dozen every second, which cut page views at 64 connections to under
    half their rate at 16. Readers past the slots wait their turn here instead, and the
    rest of the pool stays free for writes."""
    loop = asyncio.get_running_loop()
    kept = _SLOTS.get(pool)
    if kept is None or kept[0] is not loop:  # a semaphore serves the loop it first waits in
        size = pool.size() if isinstance(pool, QueuePool) else 2
        kept = _SLOTS[pool] = (loop, asyncio.Semaphore(max(1, size // 2)))
    return kept[1]


_SLOTS: weakref.WeakKeyDictionary[Pool, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _bind_processor(bind: BindParameter[Any], dialect: Dialect) -> Any:
    return bind.type.dialect_impl(dialect).bind_processor(dialect)


_PREPARED: dict[tuple[int, str], tuple[Executable, _Prepared | None]] = {}
"""Each statement read through `read_rows`, by identity and dialect (the statement is
kept with it, so the identity stays its own): module constants, a handful in all."""


def _prepared(statement: Executable, dialect: Dialect) -> _Prepared | None:
    """The prepared form of ``statement``; None for what it cannot run (a statement
    whose SQL is finished only at execution, such as an expanding ``IN``)."""
    key = (id(statement), dialect.name)
    found = _PREPARED.get(key)
    if found is not None and found[0] is statement:
        return found[1]
    prepared = None
    if isinstance(statement, SelectBase):
        compiled = statement.compile(dialect=dialect)
        if (
            isinstance(compiled, SQLCompiler)
            and compiled.positional
            and not compiled.literal_execute_params
            and not compiled.post_compile_params
        ):
            prepared = _Prepared(statement, compiled, dialect)
    if len(_PREPARED) < _MOST_PREPARED:
        _PREPARED[key] = (statement, prepared)
    return prepared


_MOST_PREPARED = 256
"""A bound on `_PREPARED`, should a caller build its statements on the fly."""


def _readers(engine: Engine) -> _Readers:
    readers = _READERS.get(engine)
    if readers is None:
        readers = _READERS[engine] = _Readers(engine)
    return readers


class _Readers(threading.local):
    """Each thread's connection for `read_rows`, kept open between reads: opening one
    for every read (a checkout, its events, a rollback on return) cost more than the
    reads themselves. One thread runs one read at a time on it, start to end, with no
    wait in between; all are closed with the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._open: Connection | None = None
        self._all: set[Connection] = _ALL_READERS.setdefault(engine, set())

    def connection(self) -> Connection:
        if self._open is None:
            self._open = self._engine.connect().execution_options(**{READ_ONLY: True})
            self._all.add(self._open)
        return self._open

    @property
    def is_open(self) -> bool:
        return self._open is not None

    def driver(self) -> sqlite3.Connection:
        """The driver's own connection under `connection`. A prepared read sends no
        BEGIN, and fetches every row before it returns, so it holds no transaction and
        each read sees what was committed when it ran."""
        driver = self.connection().connection.dbapi_connection
        assert isinstance(driver, sqlite3.Connection)
        return driver

    def drop(self) -> None:
        """Close this thread's connection (after a read that failed)."""
        if self._open is not None:
            self._all.discard(self._open)
            with contextlib.suppress(Exception):
                self._open.close()
            self._open = None

    def close_all(self) -> None:
        """Close every thread's connection, when the engine is disposed."""
        for connection in list(self._all):
            with contextlib.suppress(Exception):
                connection.close()
        self._all.clear()
        _ALL_READERS.pop(self._engine, None)


_READERS: weakref.WeakKeyDictionary[Engine, _Readers] = weakref.WeakKeyDictionary()
_ALL_READERS: weakref.WeakKeyDictionary[Engine, set[Connection]] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def quick_transaction(sessions: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session in a write transaction, committed when the block ends (rolled back if it
    raises): on the calling thread when SQLite's write lock is free this instant, else,
    waiting for the lock like any writer, in an ordinary session of ``sessions``.

    Keep what runs in it short and free of other waits: the event loop does nothing else
    while it holds the lock."""
    quick = quick_sessions(sessions)
    if quick is not None:
        session = quick()
        try:
            transaction = await session.begin()
            await session.connection()  # BEGIN IMMEDIATE, or "database is locked" at once
        except OperationalError as e:
            await session.close()
            if not _locked(e):
                raise
        except BaseException:
            await session.close()
            raise
        else:
            try:
                yield session
                await transaction.commit()
            finally:
                await session.close()  # rolls back what was not committed
            return
    async with sessions() as session, session.begin():
        yield session


def _locked(error: OperationalError) -> bool:
    return isinstance(error.orig, sqlite3.OperationalError) and "locked" in str(error.orig)


class CoreTransaction:
    """A write transaction whose statements are Core statements run in one synchronous
    step (`run`), with an ORM session in the same transaction for a step that needs one
    (`session`). Made by `quick_core`."""

    def __init__(
        self,
        factory: SessionFactory,
        *,
        quick: Connection | None = None,
        engine: AsyncEngine | None = None,
        connection: AsyncConnection | None = None,
        session: AsyncSession | None = None,
    ) -> None:
        self._factory = factory
        self._quick = quick
        """The quick connection (its ``engine`` beside it), when the transaction has one."""
        self._engine = engine
        self._connection = connection
        self._session = session

    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` on the transaction's connection; what it returns."""
        if self._quick is not None:
            # The quick driver completes every statement at once: nothing to wait for,
            # so no greenlet to run it in.
            return work(self._quick)
        if self._connection is not None:
            return await self._connection.run_sync(work)
        assert self._session is not None
        return await self._session.run_sync(lambda session: work(session.connection()))

    def session(self) -> AsyncSession:
        """An ORM session of the factory's kind in this transaction (made on first use):
        what it writes is committed, or rolled back, with the rest."""
        if self._session is None:
            bind = self._connection
            if bind is None:
                assert self._quick is not None and self._engine is not None
                bind = AsyncConnection(self._engine, self._quick)
            self._session = self._factory(bind=bind)
        return self._session

    async def end(self, *, commit: bool) -> None:
        """Write what the session holds if ``commit``, and close it. The quick connection
        is then committed (or rolled back) and goes back to its pool, whatever happened;
        a pooled connection's transaction ends with the block that began it."""
        try:
            if self._session is not None:
                try:
                    if commit:
                        await self._session.flush()
                finally:
                    await self._session.close()
        except BaseException:
            if self._quick is not None:
                await greenlet_spawn(self._quick.close)
            raise
        if self._quick is not None:
            await greenlet_spawn(_end, self._quick, commit)


@contextlib.asynccontextmanager
async def _ending(transaction: CoreTransaction) -> AsyncIterator[CoreTransaction]:
    """``transaction``, ended as its block does: committed, or rolled back if it raises."""
    try:
        yield transaction
    except BaseException:
        await transaction.end(commit=False)
        raise
    await transaction.end(commit=True)


@contextlib.asynccontextmanager
async def quick_core(sessions: SessionFactory) -> AsyncIterator[CoreTransaction]:
    """A write transaction for Core statements (`CoreTransaction`), committed when the
    block ends (rolled back if it raises): on the calling thread when SQLite's write lock
    is free this instant, else on a connection of the factory's engine, waiting for the
    lock as `quick_transaction` would.

    Unlike `quick_transaction`, nothing of an ORM session runs unless a step asks for one:
    a transaction of a few statements (a batch of visits) cost a third more through one,
    in its begin, commit and hand-offs."""
    quick = quick_sessions(sessions)
    if quick is not None:
        engine: AsyncEngine = quick.kw["bind"]
        try:
            connection = await greenlet_spawn(_begin, engine.sync_engine)
        except OperationalError as e:
            if not _locked(e):
                raise
        else:
            quickly = CoreTransaction(quick, quick=connection, engine=engine)
            async with _ending(quickly) as transaction:
                yield transaction
            return
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine):  # sessions bound table by table
        async with sessions() as session, session.begin():
            yield CoreTransaction(sessions, session=session)
        return
    async with (
        bind.connect() as pooled,
        pooled.begin(),
        _ending(CoreTransaction(sessions, connection=pooled)) as transaction,
    ):
        yield transaction


def _end(connection: Connection, commit: bool) -> None:
    """Commit (or roll back) and close ``connection``; closed even if the commit fails,
    which rolls back what is left."""
    try:
        if commit:
            connection.commit()
    finally:
        connection.close()


def _begin(engine: Engine) -> Connection:
    """A pooled connection, in a transaction that holds SQLite's write lock (BEGIN
    IMMEDIATE, see `_make_quick`); closed again if the lock is taken."""
    connection = engine.connect()
    try:
        connection.begin()
    except BaseException:
        connection.close()
        raise
    return connection
