"""Which failures mean the database is out of reach (`storage.errors.store_unreachable`)."""

from __future__ import annotations

import logging
import socket
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import make_engine, sqlite_url
from storage.errors import log_failure, store_unreachable


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        socket.gaierror(-2, "Name or service not known"),
        exc.TimeoutError("QueuePool limit of size 20 overflow 10 reached"),
        exc.DisconnectionError("the connection is closed"),
        exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
        exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
        exc.DBAPIError("SELECT 1", {}, Exception("lost"), connection_invalidated=True),
    ],
    ids=lambda e: type(e).__name__,
)
def test_lost_connections_and_busy_databases_are_out_of_reach(error: BaseException) -> None:
    assert store_unreachable(error)


@pytest.mark.parametrize(
    "error",
    [
        exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
        exc.ProgrammingError("SELEC 1", {}, Exception("syntax error")),
        exc.DBAPIError("SELECT 1", {}, Exception("division by zero")),
        FileNotFoundError(2, "No such file or directory"),
        RuntimeError("a bug"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_refused_statements_and_bugs_are_not(error: BaseException) -> None:
    assert not store_unreachable(error)


async def test_a_busy_sqlite_store_is_out_of_reach_as_sqlalchemy_raises_it(
    tmp_path: Path,
) -> None:
    """The real exception, not one made by hand: a writer that waited out its timeout."""
    holder = make_engine(sqlite_url(tmp_path / "inkpost.db"))
    waiter = create_async_engine(
        sqlite_url(tmp_path / "inkpost.db"), connect_args={"timeout": 0.05}
    )
    try:
        async with holder.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        async with holder.begin() as writing:
            await writing.execute(text("INSERT INTO t VALUES (1)"))
            with pytest.raises(exc.OperationalError) as raised:
                async with waiter.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES (2)"))
        assert store_unreachable(raised.value)
    finally:
        await holder.dispose()
        await waiter.dispose()


def test_an_outage_is_logged_in_one_warning_line_without_a_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("inkpost.test")
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")

    with caplog.at_level(logging.DEBUG, logger="inkpost.test"):
        log_failure(log, refused, "%s: claiming failed", "delivery")

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "delivery: claiming failed (a connection failed: ConnectionRefusedError)"
    )
    assert record.exc_info is None


def test_any_other_failure_is_logged_as_an_error_with_its_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("inkpost.test")
    broken = exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))

    with caplog.at_level(logging.DEBUG, logger="inkpost.test"):
        log_failure(log, broken, "%s: claiming failed", "delivery")

    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "delivery: claiming failed"
    assert record.exc_info is not None and record.exc_info[1] is broken
