"""Bookkeeping for chat platforms: files they already hold, updates already handled."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from storage.models import ChannelFile, ProcessedUpdate
from storage.quick import quick_transaction
from workflows.context import Env


async def cached_file_id(env: Env, *, channel: str, blob_key: str) -> str | None:
    """The platform's id for a file it already holds with these bytes, if any."""
    async with env.sessions() as session:
        row = await session.get(ChannelFile, (channel, blob_key))
        return row.file_id if row else None


async def remember_file_id(env: Env, *, channel: str, blob_key: str, file_id: str) -> None:
    async with env.sessions() as session, session.begin():
        row = await session.get(ChannelFile, (channel, blob_key))
        if row is None:
            session.add(
                ChannelFile(
                    channel=channel, blob_key=blob_key, file_id=file_id, created_at=env.clock.now()
                )
            )
        else:
            row.file_id = file_id
            session.add(row)


async def forget_file_id(env: Env, *, channel: str, blob_key: str) -> None:
    async with env.sessions() as session, session.begin():
        row = await session.get(ChannelFile, (channel, blob_key))
        if row is not None:
            await session.delete(row)


async def first_delivery(env: Env, *, source: str, update_id: str) -> bool:
    """True the first time an update arrives; False for a repeat (handled already).

    Every Slack request and Telegram update asks this first, so on SQLite it writes on the
    calling thread whenever the write lock is free (`storage.quick`)."""
    async with quick_transaction(env.sessions) as session:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        result = await session.exec(
            insert(ProcessedUpdate)
            .values(source=source, update_id=update_id, processed_at=env.clock.now())
            .on_conflict_do_nothing(index_elements=["source", "update_id"])
            .returning(col(ProcessedUpdate.source))
        )
        return result.first() is not None


REMEMBERED = timedelta(days=1)
"""How long a handled update is remembered: longer than any platform repeats one (Slack
retries within minutes and a signature is good for five; Telegram within a day)."""


async def forget_handled(env: Env, *, at: datetime) -> int:
    """Drop the record of updates handled longer than ``REMEMBERED`` before ``at``."""
    async with env.sessions() as session, session.begin():
        result = await session.exec(
            delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < at - REMEMBERED)
        )
        return int(result.rowcount or 0)
