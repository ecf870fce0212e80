"""The periodic jobs of `inkpost serve`, run by APScheduler at the system clock's time: the
scans (every minute) and the checkpoints of the history (every hour).

Every process may run them. A scan only queues notices under dedupe keys (and moves a
party's reminder state with a compare-and-set), so two processes on one PostgreSQL queue
each reminder once; a checkpoint is recorded under a lock on the chain head, so two
processes write one checkpoint for one head. A run that overlaps the next is not started
twice (``max_instances``) and runs missed while the loop was busy are folded into one
(``coalesce``). Cron users may turn either off (``INKPOST_SCAN_INTERVAL_SECONDS=0``,
``INKPOST_CHECKPOINT_INTERVAL_SECONDS=0``) and call `inkpost reminders run` and
`inkpost audit checkpoint` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Self, TypeVar

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from pyhanko.sign.timestamps.api import TimeStamper

from inkpost import sealer
from inkpost.settings import Settings
from storage.errors import log_failure
from workflows import checkpoints, scans
from workflows.context import Clock, Env, SystemClock
from workflows.signing.seal_keys import SealKey

log = logging.getLogger(__name__)
JOB_ID = "reminders"
CHECKPOINT_JOB_ID = "checkpoints"
STOP_TIMEOUT = 30.0
"""Seconds a run in progress gets to finish when the process stops."""

R = TypeVar("R")


class PeriodicJob(Generic[R]):
    """One APScheduler job that calls ``run`` every ``interval_seconds`` while started."""

    job_id = "job"
    failure = "the job failed; it runs again at its next interval"

    def __init__(self, *, interval_seconds: float, clock: Clock | None = None) -> None:
        self.interval_seconds = interval_seconds
        self.clock = clock or SystemClock()
        self.runs = 0
        self._scheduler: AsyncIOScheduler | None = None
        self._running: asyncio.Task[object] | None = None
        self._stopped = False

    async def run(self, at: datetime) -> R:
        raise NotImplementedError

    def done(self, result: R) -> None:
        """Log what a run did."""

    async def tick(self) -> R | None:
        """One run; a failure is logged and the next run tries again."""
        if self._stopped:  # a run APScheduler had already due when it was told to stop
            return None
        self._running = asyncio.current_task()
        try:
            result = await self.run(self.clock.now())
        except Exception as error:
            log_failure(log, error, self.failure)
            return None
        finally:
            self._running = None
            self.runs += 1
        self.done(result)
        return result

    def start(self) -> None:
        if self._scheduler is not None:
            raise RuntimeError(f"the {self.job_id} scheduler is already running")
        self._stopped = False
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self.interval_seconds, timezone=UTC),
            id=self.job_id,
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
    async def running(self) -> AsyncIterator[Self]:
        self.start()
        try:
            yield self
        finally:
            await self.stop()


class ReminderScheduler(PeriodicJob[scans.ScanReport]):
    """Runs `scans.run_all` every ``interval_seconds`` while started."""

    job_id = JOB_ID
    failure = "the reminder scans failed; they run again in a minute"

    def __init__(
        self, env: Env, *, interval_seconds: float = 60.0, clock: Clock | None = None
    ) -> None:
        super().__init__(interval_seconds=interval_seconds, clock=clock)
        self.env = env

    async def run(self, at: datetime) -> scans.ScanReport:
        return await scans.run_all(self.env, at=at)

    def done(self, result: scans.ScanReport) -> None:
        if result.total:
            counts = ", ".join(f"{k} {v}" for k, v in result.counts().items() if v)
            log.info("reminder scans queued: %s", counts)


@dataclass(frozen=True)
class Checkpointing:
    """What the checkpoint job needs: the seal, the timestamp authority's client (None
    without one), and how often it runs."""

    seal: SealKey
    timestamper: TimeStamper | None
    interval_seconds: float


def checkpoint_plan(settings: Settings, seal: SealKey | None) -> Checkpointing | None:
    """The checkpoint job as the settings ask for it; None when it is off (no seal to sign
    with, or an interval of 0)."""
    if seal is None or settings.checkpoint_interval_seconds <= 0:
        return None
    return Checkpointing(
        seal=seal,
        timestamper=sealer.timestamper(settings),
        interval_seconds=settings.checkpoint_interval_seconds,
    )


class CheckpointScheduler(PeriodicJob[checkpoints.AnchorReport]):
    """Writes a checkpoint of every organisation's history that moved since its last one,
    every ``interval_seconds`` while started."""

    job_id = CHECKPOINT_JOB_ID
    failure = "writing the checkpoints failed; they are tried again at the next interval"

    def __init__(self, env: Env, plan: Checkpointing) -> None:
        super().__init__(interval_seconds=plan.interval_seconds)
        self.env = env
        self.plan = plan

    async def run(self, at: datetime) -> checkpoints.AnchorReport:
        return await checkpoints.anchor_moved_chains(
            self.env, seal=self.plan.seal, timestamper=self.plan.timestamper
        )

    def done(self, result: checkpoints.AnchorReport) -> None:
        for checkpoint in result.written:
            log.info(
                "checkpoint %s of organisation %s covers event %s",
                checkpoint.number,
                checkpoint.org_id,
                checkpoint.seq,
            )
        for slug, problem in result.failed.items():
            log.error("no checkpoint for organisation %s: %s", slug, problem)


def lifetime(
    env: Env, *, interval_seconds: float, checkpointing: Checkpointing | None = None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The periodic jobs as an aiohttp ``cleanup_ctx``, running as long as the app: the
    scans (off at an interval of 0) and, when given, the checkpoints."""

    async def run_jobs(_: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if interval_seconds > 0:
                scans_job = ReminderScheduler(env, interval_seconds=interval_seconds)
                await stack.enter_async_context(scans_job.running())
            if checkpointing is not None:
                job = CheckpointScheduler(env, checkpointing)
                await stack.enter_async_context(job.running())
            yield

    return run_jobs
