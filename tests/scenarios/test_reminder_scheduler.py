"""The scheduler as `inkpost serve` runs it: an APScheduler job inside the app's lifetime,
scanning at the system clock's time, alone or beside another process's scheduler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel import col, select

from inkpost import scheduler
from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from storage.models import Notification, Organization
from tests.conftest import STAFF, Tenant
from tests.helpers import upload
from workflows import scans
from workflows.context import Env, FixedClock
from workflows.outbox.kinds import Kind
from workflows.sharing import sharing


async def _ending_share(env: Env, tenant: Tenant, clock: FixedClock) -> None:
    """A document shared with the tenant's recipient, ending a day from the real now."""
    clock.at = datetime.now(UTC)
    document = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        available_until=clock.at + timedelta(days=1),
    )
    assert document.id is not None
    await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
        terms=sharing.ShareTerms(staff_id=tenant.staff_id),
    )
    async with env.sessions() as session, session.begin():
        org = await session.get(Organization, tenant.org_id)
        assert org is not None
        org.quiet_hours_start = org.quiet_hours_end = 0  # any hour of the test run
        session.add(org)


async def _kinds(env: Env) -> list[str]:
    async with env.reads() as session:
        rows = await session.exec(select(Notification.kind).order_by(col(Notification.id)))
        return list(rows.all())


async def _until(condition: Callable[[], Awaitable[bool]], *, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the scheduler did not get there in time")
        await asyncio.sleep(0.05)


@dataclass
class Scans:
    """What the app's scheduler did: the APScheduler it started, the scans it ran."""

    schedulers: list[AsyncIOScheduler] = field(default_factory=list)
    finished: int = 0
    shut_down: asyncio.Event = field(default_factory=asyncio.Event)

    async def ran(self, times: int) -> bool:
        return self.finished >= times


@pytest.fixture
def scans_seen(monkeypatch: pytest.MonkeyPatch) -> Scans:
    """Watch the scheduler of `inkpost serve` from outside: the real scans still run."""
    seen = Scans()
    run_all = scans.run_all

    def make_scheduler(**options: Any) -> AsyncIOScheduler:
        made = AsyncIOScheduler(**options)
        made.add_listener(lambda _: seen.shut_down.set(), EVENT_SCHEDULER_SHUTDOWN)
        seen.schedulers.append(made)
        return made

    async def counted(env: Env, *, at: datetime) -> scans.ScanReport:
        try:
            return await run_all(env, at=at)
        finally:
            seen.finished += 1

    monkeypatch.setattr(scheduler, "AsyncIOScheduler", make_scheduler)
    monkeypatch.setattr(scans, "run_all", counted)
    return seen


async def test_the_app_runs_the_scans_every_interval_and_stops_with_it(
    env: Env, tenant: Tenant, clock: FixedClock, scans_seen: Scans
) -> None:
    await _ending_share(env, tenant, clock)
    app = web.Application()
    app.cleanup_ctx.append(scheduler.lifetime(env, interval_seconds=0.2))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await _until(lambda: scans_seen.ran(3))  # the first run queues; two more queue nothing
    finally:
        await runner.cleanup()
    await asyncio.wait_for(scans_seen.shut_down.wait(), timeout=5)  # on the loop's next turn
    [started] = scans_seen.schedulers
    assert not started.running, "the scans stop with the app"
    kinds = await _kinds(env)
    assert kinds.count(Kind.AVAILABILITY_ENDING) == 1
    assert kinds.count(Kind.DOCUMENT_UNOPENED) == 1


async def test_two_schedulers_on_one_store_queue_each_reminder_once(
    env: Env, tenant: Tenant, clock: FixedClock, database_url: str, tmp_path: Path
) -> None:
    await _ending_share(env, tenant, clock)
    other_engine = make_engine(database_url)
    other = Env(sessions=make_session_factory(other_engine), blobs=FileBlobStore(tmp_path / "b"))
    first = scheduler.ReminderScheduler(env, interval_seconds=0.2)
    second = scheduler.ReminderScheduler(other, interval_seconds=0.2)
    try:
        async with first.running(), second.running():

            async def both_ran_twice() -> bool:
                return first.runs >= 2 and second.runs >= 2

            await _until(both_ran_twice)
    finally:
        await other_engine.dispose()
    kinds = await _kinds(env)
    assert kinds.count(Kind.AVAILABILITY_ENDING) == 1
    assert kinds.count(Kind.DOCUMENT_UNOPENED) == 1


async def test_a_failing_scan_is_logged_and_the_next_one_runs(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[datetime] = []

    async def broken(_: Env, *, at: datetime) -> scans.ScanReport:
        calls.append(at)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(scans, "run_all", broken)
    runs = scheduler.ReminderScheduler(env, interval_seconds=0.1)
    with caplog.at_level(logging.ERROR, logger="inkpost.scheduler"):
        async with runs.running():

            async def twice() -> bool:
                return len(calls) >= 2

            await _until(twice)
    assert "the reminder scans failed" in caplog.text
    assert all(at.tzinfo is not None for at in calls)


async def test_a_zero_interval_turns_the_scans_off(env: Env, scans_seen: Scans) -> None:
    app = web.Application()
    app.cleanup_ctx.append(scheduler.lifetime(env, interval_seconds=0))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert scans_seen.schedulers == [], "nothing is scheduled, so no scan can ever run"
    finally:
        await runner.cleanup()
    assert scans_seen.finished == 0


async def test_a_run_already_due_when_the_scheduler_stops_does_nothing(env: Env) -> None:
    reminders = scheduler.ReminderScheduler(env, interval_seconds=60)
    async with reminders.running():
        pass

    assert await reminders.tick() is None
    assert reminders.runs == 0
