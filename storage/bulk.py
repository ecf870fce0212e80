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
they go through the driver's ``executemany``. All of it happens on the session's own
connection, in its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Connection, Integer, Table, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import JSON
from sqlmodel.ext.asyncio.session import AsyncSession

Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class _Plan:
    """How rows with the given columns become one statement for one dialect."""

    sql: str
    names: tuple[str, ...]
    """The columns given, then those filled with their column's scalar default."""
    processors: tuple[Convert | None, ...]
    memoize: tuple[bool, ...]
    defaults: tuple[Any, ...]
    """The value of each column the rows do not give, in order after theirs."""


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
    if not varying:
        raise ValueError(f"rows for {table.name} need a column that varies: give one")
    both = sorted(set(varying) & set(same))
    if both:
        raise ValueError(f"{table.name}.{both[0]} is given both as varying and as the same")
    count = len(next(iter(varying.values())))
    if any(len(values) != count for values in varying.values()):
        raise ValueError(f"columns for {table.name} hold different numbers of rows: give one each")
    if count == 0:
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
    plan = _plan(table, (*varying, *same), dialect, skip_conflicts_on, encoded)
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
    SQLite one row after another."""
    params: Any = tuple(columns)
    if connection.dialect.name != "postgresql":
        params = list(zip(*columns, strict=True))
    result = connection.exec_driver_sql(plan.sql, params)
    return max(result.rowcount, 0)


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
    return _Plan(
        sql=_statement(table, columns, dialect, skip_conflicts_on),
        names=names,
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
) -> str:
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in columns)
    if dialect.name == "postgresql":
        arrays = ", ".join(
            f"${n}::{column.type.compile(dialect=dialect)}[]"
            for n, column in enumerate(columns, start=1)
        )
        sql = f"INSERT INTO {quote(table.name)} ({names}) SELECT * FROM unnest({arrays})"
    else:
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"
    if skip_conflicts_on is not None:
        sql += f" ON CONFLICT ({quote(table.c[skip_conflicts_on].name)}) DO NOTHING"
    return sql


def _integer_key(table: Table) -> Column[Any]:
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or not isinstance(keys[0].type, Integer):
        raise ValueError(f"{table.name} has no single integer primary key")
    return keys[0]
