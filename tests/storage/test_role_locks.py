"""Role locks: one holder at a time among the processes sharing a store, and a holder that
dies lets the role go."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import make_engine
from storage.role_locks import AdvisoryLock, FileLock, SoleLock, role_lock

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import asyncio, sys
from storage.db import make_engine
from storage.role_locks import role_lock

async def main() -> None:
    lock = role_lock(make_engine(sys.argv[1]), "telegram-bot")
    print("held" if await lock.acquire() else "refused", flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_a_role_has_one_holder_until_it_lets_go(database_url: str) -> None:
    first_engine, second_engine = make_engine(database_url), make_engine(database_url)
    try:
        first = role_lock(first_engine, "telegram-bot")
        second = role_lock(second_engine, "telegram-bot")
        other_role = role_lock(second_engine, "slack-notices")

        assert await first.acquire()
        assert await first.acquire()  # taking it again is holding it still
        assert not await second.acquire()
        assert await other_role.acquire()
        assert await first.held() and not await second.held()

        await first.release()
        assert not await first.held()
        assert await second.acquire()
        assert not await first.acquire()
        await second.release()
        await other_role.release()
        await second.release()  # letting go of a role not held changes nothing
    finally:
        await first_engine.dispose()
        await second_engine.dispose()


async def test_a_holder_that_dies_lets_the_role_go(database_url: str) -> None:
    engine = make_engine(database_url)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD,
        database_url,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"
        lock = role_lock(engine, "telegram-bot")
        assert not await lock.acquire()

        holder.kill()
        await holder.wait()
        deadline = time.monotonic() + 30
        while not await lock.acquire():
            assert time.monotonic() < deadline, "the dead holder's role was never let go"
            await asyncio.sleep(0.1)
        assert await lock.held()
        await lock.release()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await engine.dispose()


async def test_a_holder_whose_session_ends_knows_it_lost_the_role(
    postgres_database: str,
) -> None:
    engine = make_engine(postgres_database)
    try:
        first, second = AdvisoryLock(engine, "telegram-bot"), AdvisoryLock(engine, "telegram-bot")
        assert await first.acquire()
        async with engine.connect() as admin:
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            await admin.commit()
        deadline = time.monotonic() + 30
        while await first.held():
            assert time.monotonic() < deadline, "the holder never noticed its session ended"
            await asyncio.sleep(0.1)
        assert await second.acquire()
        await second.release()
        await first.release()
    finally:
        await engine.dispose()


def test_the_lock_file_of_a_sqlite_store_sits_beside_the_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store' / 'inkpost.db'}")

    lock = role_lock(engine, "telegram-bot")

    assert isinstance(lock, FileLock)
    assert lock.path == tmp_path / "store" / "inkpost.db.telegram-bot.lock"


async def test_an_in_memory_store_has_one_process_and_its_roles_are_free() -> None:
    engine: AsyncEngine = make_engine("sqlite+aiosqlite:///:memory:")
    lock = role_lock(engine, "telegram-bot")

    assert isinstance(lock, SoleLock)
    assert await lock.acquire() and await lock.held()
    await lock.release()
    assert not await lock.held()
    await engine.dispose()


@pytest.mark.parametrize("role", ["", "Telegram", "telegram bot", "../etc", "x" * 64])
def test_a_role_that_is_not_a_plain_name_is_refused(tmp_path: Path, role: str) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'inkpost.db'}")

    with pytest.raises(ValueError, match="a role is a lowercase name"):
        role_lock(engine, role)
    assert list(tmp_path.iterdir()) == []
