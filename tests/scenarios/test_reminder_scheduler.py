"""The scheduler as `inkpost serve` runs it: an APScheduler job inside the app's lifetime,
scanning at the system clock's time, alone or beside another process's scheduler."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sqlmodel import col, select

from inkpost import scheduler
from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from storage.models import Notification, Organization
from tests.conftest import STAFF, Tenant
from tests.helpers import upload
from workflows import scans
from workflows.context import Env, FixedClock
from workflows.sharing import sharing, staff_notices


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


async def _until(condition: object, *, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the scheduler did not get there in time")
        await asyncio.sleep(0.05)


async def test_the_app_runs_the_scans_every_interval_and_stops_with_it(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _ending_share(env, tenant, clock)
    app = web.Application()
    app.cleanup_ctx.append(scheduler.lifetime(env, interval_seconds=1))
    runner = web.AppRunner(app)
    await runner.setup()
    try:

        async def reminded() -> bool:
            return scans.AVAILABILITY in await _kinds(env)

        await _until(reminded)
        await asyncio.sleep(1.5)  # more runs: nothing is queued twice
    finally:
        await runner.cleanup()
    kinds = await _kinds(env)
    assert kinds.count(scans.AVAILABILITY) == 1
    assert kinds.count(staff_notices.UNOPENED) == 1


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
    assert kinds.count(scans.AVAILABILITY) == 1
    assert kinds.count(staff_notices.UNOPENED) == 1


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


async def test_a_zero_interval_turns_the_scans_off(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _ending_share(env, tenant, clock)
    app = web.Application()
    app.cleanup_ctx.append(scheduler.lifetime(env, interval_seconds=0))
    runner = web.AppRunner(app)
    await runner.setup()
    await asyncio.sleep(0.3)
    await runner.cleanup()
    assert scans.AVAILABILITY not in await _kinds(env)
