"""Inserting many rows of one table at once.

A share with a group of ten thousand writes ten thousand shares, history events and
notices in one transaction. Core's executemany spends more on each of those rows than the
database spends storing it: it builds every row's parameters and runs every value through
its column type, and on PostgreSQL it sends multi-row VALUES statements of thousands of
parameters, which the server parses and plans one after another.

Here each column's own bind processor (the conversion Core would apply) runs once per
distinct value of the batch, as most columns of a bulk insert hold one value throughout
(once in all for a column given as one value for every row, `insert_columns`), and the
rows reach the driver as they are. On PostgreSQL they are copied by binary ``COPY`` in a
savepoint of the transaction under way: the driver streams them as it encodes them, and
the server stores them in batches. Encoding the same rows as one array per column costs
the driver more than the server spends storing them. Where ``COPY`` cannot serve (no
transaction under way yet, a row refused, a dedupe key taken) the arrays are unnested by
one prepared statement, which skips taken keys and raises as SQLAlchemy does. On SQLite
they go by statements of many rows each (`_runs`): an ``INSERT`` run once for every row
costs SQLite a third more, and the driver takes Python's lock back after every row. All
of it happens on the session's own connection, in its transaction.

`Writes` hands inserts to a SQLite store's driver thread and lets the caller go on with
work of its own while they run: a share with a group computes the history of ten thousand
shares while SQLite stores the shares themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import aiosqlite
from sqlalchemy import Column, Connection, Integer, Table, bindparam, exc, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import JSON
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import READ_ONLY

Convert = Callable[[Any], Any]

VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
"""How many parameters one SQLite statement may take: the default limit of the SQLite the
driver runs (raised from 999 in 3.32)."""
MOST_AT_ONCE = 1024
"""The most rows one SQLite statement inserts (fewer when its parameters would exceed
`VARIABLES`)."""
FEW = 8
"""Fewer rows than this left after the full statements go one by one; more go in one
statement for the next power of two as many rows, the places left over filled with rows
of nothing that it skips. Every statement then inserts a power of two rows: each
connection keeps a few prepared statements of each table, not one per batch size."""


SWITCH_INTERVAL = 0.000_2
"""Seconds the event loop's thread may hold Python's lock while the driver's thread waits
for it, as long as writes handed over are under way (`Writes`); Python's own is 0.005.
The driver's thread needs the lock to bind each statement's values and to take back every
result, and the loop's thread, busy with the caller's work, gives it up only when its
interval ends: at 5 ms a share with a group spent more waiting on the lock than it won by
computing beside SQLite."""


class _Switching:
    """Python's switch interval shortened while any `Writes` has writes under way, and
    given back as it was when the last has none."""

    def __init__(self) -> None:
        self.under_way = 0
        self.before = 0.0

    def begin(self) -> None:
        if not self.under_way:
            self.before = sys.getswitchinterval()
            sys.setswitchinterval(min(self.before, SWITCH_INTERVAL))
        self.under_way += 1

    def end(self) -> None:
        self.under_way -= 1
        if not self.under_way:
            sys.setswitchinterval(self.before)


_SWITCHING = _Switching()


@dataclass(frozen=True)
class _Plan:
    """How rows with the given columns become one statement for one dialect."""

    sql: str
    """The statement; on SQLite, for one row."""
    names: tuple[str, ...]
    """The columns given, then those filled with their column's scalar default."""
    processors: tuple[Convert | None, ...]
    memoize: tuple[bool, ...]
    defaults: tuple[Any, ...]
    """The value of each column the rows do not give, in order after theirs."""
    varying: int = 0
    """How many of ``names``, from the first, may differ from row to row; the others hold
    one value in every row."""
    parts: tuple[str, str, str] = ("", "", "")
    """On SQLite, the statement around its one row of values, and that row."""
    many: dict[tuple[int, bool], str] = field(default_factory=dict, compare=False)
    """SQLite's statements for so many rows at once, made as first needed."""

    def for_rows(self, count: int, *, padded: bool = False) -> str:
        """The SQLite statement that inserts ``count`` rows at once. Its parameters are
        the value of each column that holds one value in every row, given once, then the
        values of the varying columns, row after row; ``padded``, each row beginning with
        a value that is true for a row to insert and NULL for a row of nothing to skip."""
        key = (count, padded)
        if key not in self.many:
            head, _, tail = self.parts
            first = 2 if padded else 1
            picked = [f"column{n}" for n in range(first, first + self.varying)]
            picked += ["?"] * (len(self.names) - self.varying)
            row = f"({', '.join(['?'] * (self.varying + padded))})"
            # The WHERE also keeps an ON CONFLICT after it from reading as a join's.
            self.many[key] = (
                f"{head.removesuffix('VALUES ')}SELECT {', '.join(picked)} "
                f"FROM (VALUES {', '.join([row] * count)}) "
                f"WHERE {'column1' if padded else 'true'}{tail}"
            )
        return self.many[key]


_DRAW = text(
    "SELECT array(SELECT nextval(drawn.sequence) FROM generate_series(1, :count)) "
    "FROM (SELECT CAST(pg_get_serial_sequence(:table, :column) AS regclass) AS sequence) "
    "AS drawn"
)


async def reserve_ids(session: AsyncSession, table: Table, count: int) -> list[int]:
    """``count`` fresh primary key values for ``table``, for rows inserted with their ids.

    PostgreSQL draws them from the column's sequence. SQLite counts on from the largest id:
    its write transactions begin IMMEDIATE (``storage.db``), so no other writer can take
    them before this transaction ends. Call it only in a session that writes."""
    if count <= 0:
        return []
    key = _integer_key(table)
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        # The sequence is looked up once, not once per value: the lookup costs more than
        # drawing the value. One array comes back, not a row per value.
        drawn = await connection.execute(
            _DRAW, {"table": table.name, "column": key.name, "count": count}
        )
        return sorted(drawn.scalar_one())
    top = (await connection.execute(select(func.coalesce(func.max(key), 0)))).scalar_one()
    return list(range(top + 1, top + 1 + count))


async def insert(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_conflicts_on: str | None = None,
    encoded: frozenset[str] = frozenset(),
) -> int:
    """Insert ``rows`` (every one with the same columns) into ``table`` in the session's
    transaction; returns how many were inserted.

    Columns the rows leave out take their scalar Python default, else the server's
    default. With ``skip_conflicts_on`` (a uniquely indexed column), a row whose value
    there is taken is skipped, not an error, and is not counted. The JSON columns named in
    ``encoded`` are given as text already, as ``json.dumps`` spells their values (the
    column's own encoding), and are stored as they are."""
    if not rows:
        return 0
    return await insert_columns(
        session,
        table,
        varying=_by_column(table, rows),
        skip_conflicts_on=skip_conflicts_on,
        encoded=encoded,
    )


def insert_now(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    encoded: frozenset[str] = frozenset(),
) -> int:
    """`insert` on a synchronous connection in a transaction (a step that runs all its
    statements in one ``run_sync``), by one statement: for the few rows of a frequent
    small write, where a ``COPY`` would cost more than it saves."""
    if not rows:
        return 0
    plan, columns = _columns(connection.dialect, table, _by_column(table, rows), {}, None, encoded)
    return _execute(connection, plan, columns)


def _by_column(table: Table, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    keys = rows[0].keys()
    if any(row.keys() != keys for row in rows):
        raise ValueError(f"rows for {table.name} give different columns: give the same in each")
    return {name: [row[name] for row in rows] for name in keys}


async def insert_columns(
    session: AsyncSession,
    table: Table,
    *,
    varying: Mapping[str, Sequence[Any]],
    same: Mapping[str, Any] | None = None,
    skip_conflicts_on: str | None = None,
    encoded: frozenset[str] = frozenset(),
) -> int:
    """Insert rows given column by column, as `insert` does: ``varying`` holds the values
    of the rows in each of its columns (one per row, so as many in each), ``same`` the one
    value every row holds in each of its columns. Returns how many were inserted.

    A share with a group writes ten thousand rows alike but for a few columns; given so,
    no row is built only to be taken apart again, and a value every row holds is converted
    once."""
    same = same or {}
    if not _count(table, varying, same):
        return 0
    connection = await session.connection()
    plan, columns = _columns(connection.dialect, table, varying, same, skip_conflicts_on, encoded)
    if connection.dialect.name == "postgresql":
        copied = await _copy(connection, table, plan.names, columns)
        if copied is not None:
            return copied
    # Through the session's own greenlet: a driver whose statements complete at once
    # (`storage.quick`) runs it as well as one that waits.
    return await session.run_sync(lambda sync: _execute(sync.connection(), plan, columns))


def _count(table: Table, varying: Mapping[str, Sequence[Any]], same: Mapping[str, Any]) -> int:
    """How many rows the columns give; raises ValueError when they do not fit together."""
    if not varying:
        raise ValueError(f"rows for {table.name} need a column that varies: give one")
    both = sorted(set(varying) & set(same))
    if both:
        raise ValueError(f"{table.name}.{both[0]} is given both as varying and as the same")
    count = len(next(iter(varying.values())))
    if any(len(values) != count for values in varying.values()):
        raise ValueError(f"columns for {table.name} hold different numbers of rows: give one each")
    return count


class Writes:
    """Inserts and updates handed to the database one after another, while the caller
    goes on with work of its own; `writing` waits for them all.

    On a SQLite store served by aiosqlite, each goes to the connection's thread as the
    driver's own calls, inserts in statements of many rows (`_runs`): while SQLite stores
    them, Python's lock is free, and the caller's work runs beside them on the other core.
    Statements the session runs meanwhile queue behind them on that thread, so everything
    still happens in the order it was asked for. Anywhere else each runs at once.

    Between handing a write over and `writing`'s end, the caller must not rely on its
    having succeeded: a failure is raised at the end."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._inserted = 0
        self._pending: list[asyncio.Future[int]] = []

    def _hand_over(self, run: Coroutine[Any, Any, int]) -> None:
        if not self._pending:
            _SWITCHING.begin()
        self._pending.append(asyncio.ensure_future(run))

    async def _ended(self) -> list[int | BaseException]:
        """What became of each write handed over, once all have ended."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        try:
            return await asyncio.gather(*pending, return_exceptions=True)
        finally:
            _SWITCHING.end()

    async def insert(
        self,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        skip_conflicts_on: str | None = None,
        encoded: frozenset[str] = frozenset(),
    ) -> None:
        """Hand over the rows `insert` would insert."""
        if rows:
            await self.insert_columns(
                table,
                varying=_by_column(table, rows),
                skip_conflicts_on=skip_conflicts_on,
                encoded=encoded,
            )

    async def insert_columns(
        self,
        table: Table,
        *,
        varying: Mapping[str, Sequence[Any]],
        same: Mapping[str, Any] | None = None,
        skip_conflicts_on: str | None = None,
        encoded: frozenset[str] = frozenset(),
    ) -> None:
        """Hand over the rows `insert_columns` would insert."""
        same = same or {}
        if not _count(table, varying, same):
            return
        connection = await self._connection()
        driver = await _driver_thread(connection)
        if driver is None:
            self._inserted += await insert_columns(
                self._session,
                table,
                varying=varying,
                same=same,
                skip_conflicts_on=skip_conflicts_on,
                encoded=encoded,
            )
            return
        plan, columns = _columns(
            connection.dialect, table, varying, same, skip_conflicts_on, encoded
        )
        dialect = connection.dialect
        for sql, params in _runs(plan, columns):
            self._hand_over(_run(driver, dialect, sql, params))
        # One turn of the loop: each call reaches the driver's queue before the caller's
        # own work holds the loop.
        await asyncio.sleep(0)

    async def update(self, table: Table, *, key: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Hand over an update of ``rows`` of ``table``: each row gives the value of the
        ``key`` column that finds it and the new values of its other columns (the same
        columns in every row). Not counted in what `finish` returns."""
        if not rows:
            return
        columns = _by_column(table, rows)
        if key not in columns or len(columns) < 2:
            raise ValueError(f"rows of {table.name} to update give {key} and a column to set")
        unknown = [name for name in columns if name not in table.c]
        if unknown:
            raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
        connection = await self._connection()
        dialect = connection.dialect
        names = [name for name in columns if name != key] + [key]
        driver = await _driver_thread(connection)
        if driver is None:
            statement = (
                table.update()
                .where(table.c[key] == bindparam(f"_{key}"))
                .values({name: bindparam(f"_{name}") for name in names[:-1]})
            )
            named = [{f"_{name}": row[name] for name in names} for row in rows]
            await self._session.run_sync(lambda sync: sync.connection().execute(statement, named))
            return
        quote = dialect.identifier_preparer.quote
        sql = (
            f"UPDATE {quote(table.name)} SET "
            + ", ".join(f"{quote(name)} = ?" for name in names[:-1])
            + f" WHERE {quote(key)} = ?"
        )
        processors = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ]
        converted = [
            _converted(list(columns[name]), process, False)
            for name, process in zip(names, processors, strict=True)
        ]
        params: list[Sequence[Any]] = list(zip(*converted, strict=True))
        self._hand_over(_run(driver, dialect, sql, params, counted=False))
        await asyncio.sleep(0)

    async def _connection(self) -> AsyncConnection:
        """The session's connection, with what the session holds flushed first: the
        driver's calls would otherwise run before the rows they may refer to."""
        session = self._session
        if session.new or session.dirty or session.deleted:
            await session.flush()
        return await session.connection()

    async def finish(self) -> int:
        """Wait for every insert handed over; how many rows they inserted. Raises the
        first failure, as SQLAlchemy raises it, once all have ended."""
        for result in await self._ended():
            if isinstance(result, BaseException):
                raise result
            self._inserted += result
        return self._inserted

    async def settle(self) -> None:
        """Wait for every insert handed over, whatever became of it."""
        await self._ended()


@contextlib.asynccontextmanager
async def writing(session: AsyncSession) -> AsyncIterator[Writes]:
    """`Writes` in the session's transaction, all ended when the block ends: a failure of
    one of them is raised there, and a block that fails waits for them before it raises."""
    writes = Writes(session)
    try:
        yield writes
    except BaseException:
        await writes.settle()
        raise
    await writes.finish()


async def _driver_thread(connection: AsyncConnection) -> aiosqlite.Connection | None:
    """The aiosqlite connection under ``connection`` when it writes in a transaction: the
    driver whose calls run on a thread of its own."""
    sync = connection.sync_connection
    if connection.dialect.name != "sqlite" or sync is None or not sync.in_transaction():
        return None
    if sync.get_execution_options().get(READ_ONLY, False):
        return None  # no transaction on SQLite: each insert would commit by itself
    driver = (await connection.get_raw_connection()).driver_connection
    return driver if isinstance(driver, aiosqlite.Connection) else None


async def _run(
    driver: aiosqlite.Connection,
    dialect: Dialect,
    sql: str,
    params: list[Sequence[Any]],
    *,
    counted: bool = True,
) -> int:
    """Run ``sql`` once for each of ``params`` on the driver's thread; how many rows it
    changed (0 when not ``counted``)."""
    try:
        cursor = await driver.executemany(sql, params)
    except sqlite3.Error as error:
        # As SQLAlchemy raises it, without the values: they may hold tokens' hashes.
        raise exc.DBAPIError.instance(
            sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True
        ) from error
    return max(cursor.rowcount, 0) if counted else 0


def _columns(
    dialect: Dialect,
    table: Table,
    varying: Mapping[str, Sequence[Any]],
    same: Mapping[str, Any],
    skip_conflicts_on: str | None,
    encoded: frozenset[str],
) -> tuple[_Plan, list[list[Any]]]:
    """The statement for these rows, and the values of each of its columns, converted as
    the column's type converts them."""
    count = len(next(iter(varying.values())))
    plan = _plan(table, (*varying, *same), len(varying), dialect, skip_conflicts_on, encoded)
    columns: list[list[Any]] = []
    for index, name in enumerate(plan.names):
        process = plan.processors[index]
        if name in varying:
            columns.append(_converted(list(varying[name]), process, plan.memoize[index]))
            continue
        value = same[name] if name in same else plan.defaults[index - len(varying) - len(same)]
        columns.append([value if process is None else process(value)] * count)
    return plan, columns


def _execute(connection: Connection, plan: _Plan, columns: list[list[Any]]) -> int:
    """Run ``plan``'s statement on the driver: PostgreSQL takes one array per column,
    SQLite rows by `_runs`."""
    if connection.dialect.name == "postgresql":
        return max(connection.exec_driver_sql(plan.sql, tuple(columns)).rowcount, 0)
    return sum(
        max(connection.exec_driver_sql(sql, params).rowcount, 0)
        for sql, params in _runs(plan, columns)
    )


def _runs(plan: _Plan, columns: list[list[Any]]) -> list[tuple[str, list[Sequence[Any]]]]:
    """The SQLite statements that insert the rows, each with its runs' parameters: as many
    rows at once as `MOST_AT_ONCE` and `VARIABLES` allow, then the rest in one statement,
    or one by one when they are fewer than `FEW`.

    Few statements, each of many rows, is what lets the caller's work go on beside them
    (`Writes`): the driver takes Python's lock back at the end of every run, and waits for
    it when the caller holds it. A value every row holds is given once a statement, not
    once a row: binding the parameters is the part of a run that holds Python's lock, and
    in a share most columns hold one value.

    A run's parameters are those values, then its rows' varying values one row after
    another, laid out a column at a time (every ``width``-th place holds the same
    column)."""
    count = len(columns[0])
    varying = columns[: plan.varying]
    fixed = tuple(column[0] for column in columns[plan.varying :])
    most = MOST_AT_ONCE
    while most > 1 and most * (len(varying) + 1) + len(fixed) > VARIABLES:
        most //= 2
    runs: list[tuple[str, list[Sequence[Any]]]] = []
    full = count - count % most
    if full:
        runs.append(
            (
                plan.for_rows(most),
                [fixed + _flat(varying, at, most) for at in range(0, full, most)],
            )
        )
    rest = count - full
    if rest >= FEW:
        size = 1 << (rest - 1).bit_length()
        marked = [[True] * rest + [None] * (size - rest)]
        marked += [column[full:] + [None] * (size - rest) for column in varying]
        runs.append((plan.for_rows(size, padded=True), [fixed + _flat(marked, 0, size)]))
    elif rest:
        runs.append((plan.sql, list(zip(*(column[full:] for column in columns), strict=True))))
    return runs


def _flat(columns: list[list[Any]], at: int, size: int) -> tuple[Any, ...]:
    """The values of rows ``at`` to ``at + size`` one row after another."""
    width = len(columns)
    flat: list[Any] = [None] * (size * width)
    for index, column in enumerate(columns):
        flat[index::width] = column[at : at + size]
    return tuple(flat)


async def _copy(
    connection: AsyncConnection, table: Table, names: tuple[str, ...], columns: list[list[Any]]
) -> int | None:
    """Copy the rows into ``table`` by binary ``COPY``, in a savepoint of the transaction
    under way; how many were copied, or None when they were not (no transaction under way
    yet, or the database refused a row), nothing of them kept.

    ``COPY`` streams the rows as the driver encodes them and stores them in batches; it
    cannot skip a row, so a refusal (a dedupe key taken) is answered by the statement that
    can, or that raises as it always did."""
    import asyncpg  # the PostgreSQL driver: loaded already here, never on SQLite

    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None or not driver.is_in_transaction():
        return None
    try:
        async with driver.transaction():
            status = await driver.copy_records_to_table(
                table.name,
                schema_name=table.schema,
                records=zip(*columns, strict=True),
                columns=names,
            )
    except (asyncpg.PostgresError, asyncpg.InterfaceError):
        return None
    return int(status.rsplit(" ", 1)[1])


def _converted(values: list[Any], process: Convert | None, memoize: bool) -> list[Any]:
    if process is None:
        return values
    if not memoize:
        return [process(value) for value in values]
    seen: dict[Any, Any] = {}
    converted = []
    for value in values:
        try:
            converted.append(seen[value])
        except KeyError:
            seen[value] = done = process(value)
            converted.append(done)
    return converted


@lru_cache(maxsize=64)
def _plan(
    table: Table,
    given: tuple[str, ...],
    varying: int,
    dialect: Dialect,
    skip_conflicts_on: str | None,
    encoded: frozenset[str],
) -> _Plan:
    unknown = [name for name in given if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
    for name in sorted(encoded):
        if name not in given or not isinstance(table.c[name].type, JSON):
            raise ValueError(f"{table.name}.{name} is not a JSON column the rows give")
    if encoded and getattr(dialect, "_json_serializer", None) is not None:
        raise ValueError("the engine encodes JSON its own way: give the values unencoded")
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given or column.default is None:
            continue
        if not column.default.is_scalar:
            raise ValueError(
                f"{table.name}.{column.name} has a computed default: give it in every row"
            )
        defaults[column.name] = column.default.arg  # type: ignore[attr-defined]
    names = (*given, *defaults)
    columns = [table.c[name] for name in names]
    parts = _statement(table, columns, dialect, skip_conflicts_on)
    return _Plan(
        sql="".join(parts),
        parts=parts,
        names=names,
        varying=varying,
        processors=tuple(
            None
            if column.name in encoded
            else column.type.dialect_impl(dialect).bind_processor(dialect)
            for column in columns
        ),
        memoize=tuple(not isinstance(column.type, JSON) for column in columns),
        defaults=tuple(defaults.values()),
    )


def _statement(
    table: Table, columns: list[Column[Any]], dialect: Dialect, skip_conflicts_on: str | None
) -> tuple[str, str, str]:
    """The statement for the rows: what comes before the values, the values (on SQLite, of
    one row, which a statement for many repeats), and what comes after."""
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in columns)
    tail = ""
    if skip_conflicts_on is not None:
        tail = f" ON CONFLICT ({quote(table.c[skip_conflicts_on].name)}) DO NOTHING"
    if dialect.name == "postgresql":
        arrays = ", ".join(
            f"${n}::{column.type.compile(dialect=dialect)}[]"
            for n, column in enumerate(columns, start=1)
        )
        return (
            f"INSERT INTO {quote(table.name)} ({names}) SELECT * FROM unnest(",
            arrays,
            f"){tail}",
        )
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {quote(table.name)} ({names}) VALUES ", f"({marks})", tail


def _integer_key(table: Table) -> Column[Any]:
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or not isinstance(keys[0].type, Integer):
        raise ValueError(f"{table.name} has no single integer primary key")
    return keys[0]
