"""Locks that name the one process doing a job that must not run twice at once (polling
the Telegram bot, sending through one bot), among all processes sharing one store.

On PostgreSQL a role is a session-level advisory lock held by a connection of its own:
the server lets it go the moment that connection ends, so a holder that dies hands the
role on without waiting for any lease. On SQLite, whose processes all run on the machine
that holds the database file, a role is an exclusive ``flock`` on a file beside the
database: the kernel lets it go when the holder's file is closed, by its exit or its
death. Locks on an in-memory database, which one engine alone can open, are always free.

No lock waits: ``acquire`` answers at once whether this process now holds the role.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

ROLE_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
NAMESPACE = "inkpost-role:"
"""Mixed into every advisory lock key, so that another program's locks never collide."""


class RoleLock(Protocol):
    """The right to do one role, held by at most one process at a time."""

    role: str

    async def acquire(self) -> bool:
        """Take the role if nobody holds it; whether this process holds it now."""

    async def held(self) -> bool:
        """Whether this process still holds the role (a lost connection loses it)."""

    async def release(self) -> None:
        """Let the role go; nothing happens when it is not held."""


def check_role(role: str) -> str:
    if not ROLE_NAME.fullmatch(role):
        raise ValueError(f"a role is a lowercase name of letters, digits and dashes, not {role!r}")
    return role


def advisory_key(role: str) -> int:
    """The PostgreSQL advisory lock key of ``role``: 64 bits of a digest of its name."""
    digest = hashlib.sha256(f"{NAMESPACE}{role}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """A role on PostgreSQL: ``pg_try_advisory_lock`` on a connection kept for it."""

    def __init__(self, engine: AsyncEngine, role: str) -> None:
        self.engine = engine
        self.role = check_role(role)
        self.key = advisory_key(role)
        self._connection: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._connection is not None:
            return await self.held()
        connection = await self.engine.connect()
        try:
            # Autocommit: the lock belongs to the session, and no transaction stays open.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
        except BaseException:
            await _discard(connection)
            raise
        if not taken:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def held(self) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            # The lock lives as long as the session: a session that answers still holds it.
            await connection.scalar(text("SELECT 1"))
        except Exception:
            self._connection = None
            await _discard(connection)
            return False
        return True

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except Exception:  # the connection is gone, and the lock with it
            await _discard(connection)
            return
        await connection.close()


async def _discard(connection: AsyncConnection) -> None:
    """Close a connection that may be broken, without returning it to the pool."""
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


class FileLock:
    """A role on SQLite: an exclusive ``flock`` on ``path``, which is never removed."""

    def __init__(self, path: Path, role: str) -> None:
        self.path = path
        self.role = check_role(role)
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    async def held(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor of the file lets the lock go


class SoleLock:
    """A role on an in-memory database: its one engine is the only process there is."""

    def __init__(self, role: str) -> None:
        self.role = check_role(role)
        self._held = False

    async def acquire(self) -> bool:
        self._held = True
        return True

    async def held(self) -> bool:
        return self._held

    async def release(self) -> None:
        self._held = False


def role_lock(engine: AsyncEngine, role: str) -> RoleLock:
    """The lock of ``role`` among the processes that share ``engine``'s database."""
    url = make_url(engine.url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(engine, role)
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return SoleLock(role)
        path = Path(database)
        return FileLock(path.with_name(f"{path.name}.{check_role(role)}.lock"), role)
    raise ValueError(f"no role locks on {url.get_backend_name()} databases")
