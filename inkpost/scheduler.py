"""The periodic scans of `inkpost serve`: one APScheduler job that runs every scan each
minute, at the system clock's time.

Every process may run it: a scan only queues notices under dedupe keys (and moves a
party's reminder state with a compare-and-set), so two processes on one PostgreSQL queue
each reminder once. A run that overlaps the next is not started twice (``max_instances``)
and runs missed while the loop was busy are folded into one (``coalesce``). Cron users may
turn it off (``INKPOST_SCAN_INTERVAL_SECONDS=0``) and call `inkpost reminders run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from workflows import scans
from workflows.context import Clock, Env, SystemClock

log = logging.getLogger(__name__)
JOB_ID = "reminders"
STOP_TIMEOUT = 30.0
"""Seconds a scan in progress gets to finish when the process stops."""


class ReminderScheduler:
    """Runs `reminders.run_all` every ``interval_seconds`` while started."""

    def __init__(
        self, env: Env, *, interval_seconds: float = 60.0, clock: Clock | None = None
    ) -> None:
        self.env = env
        self.interval_seconds = interval_seconds
        self.clock = clock or SystemClock()
        self.runs = 0
        self._scheduler: AsyncIOScheduler | None = None
        self._running: asyncio.Task[object] | None = None
        self._stopped = False

    async def tick(self) -> scans.ScanReport | None:
        """One run of every scan; a failure is logged and the next run tries again."""
        if self._stopped:  # a run APScheduler had already due when it was told to stop
            return None
        self._running = asyncio.current_task()
        try:
            report = await scans.run_all(self.env, at=self.clock.now())
        except Exception:
            log.exception("the reminder scans failed; they run again in a minute")
            return None
        finally:
            self._running = None
            self.runs += 1
        if report.total:
            counts = ", ".join(f"{k} {v}" for k, v in report.counts().items() if v)
            log.info("reminder scans queued: %s", counts)
        return report

    def start(self) -> None:
        if self._scheduler is not None:
            raise RuntimeError("the reminder scheduler is already running")
        self._stopped = False
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self.interval_seconds, timezone=UTC),
            id=JOB_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(self.interval_seconds)),
        )
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        """Start no more runs, and let one in progress finish (for a while)."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        self._stopped = True
        scheduler.shutdown(wait=False)
        running = self._running
        if running is not None and not running.done():
            _, late = await asyncio.wait({running}, timeout=STOP_TIMEOUT)
            for task in late:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ReminderScheduler]:
        self.start()
        try:
            yield self
        finally:
            await self.stop()


def lifetime(
    env: Env, *, interval_seconds: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The scans as an aiohttp ``cleanup_ctx``: running as long as the app (off at 0)."""

    async def run_scans(_: web.Application) -> AsyncIterator[None]:
        if interval_seconds <= 0:
            yield
            return
        async with ReminderScheduler(env, interval_seconds=interval_seconds).running():
            yield

    return run_scans
