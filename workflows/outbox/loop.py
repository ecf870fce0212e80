"""The one loop every outbox worker runs: claim due rows, handle them, hand back the rest.

A worker (delivery to recipients, staff notices, sealing) supplies only what it claims
(`Claim`) and how it handles the rows of one claim (`Worker.handle`); the loop does the
rest the same way for all. Claimed rows are handled in the background, up to ``ahead``
claims at once, so a worker whose rows wait on a rate limiter claims the next batch while
earlier ones are still out. While a claim is in hand its leases are renewed every third of
a lease, so rows that wait long (a rate limiter, a channel that is down) are not taken
over and sent a second time by another worker. Every wait is bounded: when nothing is due
the loop looks again after ``idle_seconds``. A database that fails is logged and tried
again, each time after twice the last wait (at most `MAX_REST_SECONDS`); an outage gets one
line a try, not a trace (`storage.errors.log_failure`). On a clean stop the rows in hand get
``drain_seconds`` to finish; whatever the worker still holds then is handed back, in a
``finally``, so that it is due again at once rather than when its lease ends.

`OutboxLoop.lifetime` runs the loop as long as an aiohttp application (its
``cleanup_ctx``), the shape of aiohttp's ``examples/background_tasks.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from storage.errors import log_failure
from storage.models import Notification
from storage.rows import id_of
from workflows.context import Env
from workflows.outbox import claims
from workflows.outbox.kinds import Channel

log = logging.getLogger(__name__)

IDLE_SECONDS = 1.0
DRAIN_SECONDS = 15.0
MAX_REST_SECONDS = 30.0
"""The longest a loop waits before trying again a store whose claims keep failing."""


@dataclass(frozen=True)
class Claim:
    """What a worker claims: up to ``batch`` due rows of ``channels`` at a time, each for
    ``lease``, in the name of ``worker`` (unique to the running worker)."""

    worker: str
    channels: tuple[Channel, ...]
    batch: int
    lease: timedelta = claims.LEASE


class Worker(Protocol):
    """One kind of background worker, as the loop drives it."""

    @property
    def claim(self) -> Claim: ...

    async def handle(self, rows: Sequence[Notification]) -> None:
        """Handle the rows of one claim, settling each (sent, failed, waiting…). A row
        left unsettled is claimed again when its lease ends."""


class ClaimingWorker:
    """What every outbox worker has alike: its claim, the loop that runs it, and the few
    ways to drive that loop. A worker sets ``claim`` and ``loop`` and writes ``handle``."""

    claim: Claim
    loop: OutboxLoop

    @property
    def worker_id(self) -> str:
        """The name its claims are taken in; settling a row checks it."""
        return self.claim.worker

    async def run_once(self) -> int:
        """Claim one batch and handle it; returns how many rows were claimed."""
        return await self.loop.run_once()

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and handle until ``stop`` is set, then let the rows in hand finish."""
        await self.loop.run(stop)


class OutboxLoop:
    """Runs one worker; several loops may claim from one PostgreSQL (claims skip each
    other's rows)."""

    def __init__(
        self,
        env: Env,
        worker: Worker,
        *,
        name: str,
        ahead: int = 1,
        idle_seconds: float = IDLE_SECONDS,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.env = env
        self.worker = worker
        self.name = name
        self.ahead = ahead
        self.idle_seconds = idle_seconds
        self.drain_seconds = drain_seconds
        self._stop = asyncio.Event()

    @property
    def stopping(self) -> bool:
        """Whether the loop has been told to stop: work in hand may defer what it can."""
        return self._stop.is_set()

    async def run_once(self) -> int:
        """Claim one batch and handle it; returns how many rows were claimed."""
        rows = await self._claim()
        if rows:
            await self.worker.handle(rows)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and handle until ``stop`` is set, then let the claims in hand finish (for
        at most ``drain_seconds``) and hand back what is still held."""
        self._stop = stop
        in_hand: set[asyncio.Task[None]] = set()
        held: dict[asyncio.Task[None], list[int]] = {}
        renewing = asyncio.create_task(self._renew(held), name=f"{self.name}: leases")
        caught_up = False  # the last claim took every due row: rest before the next
        failures = 0  # claims failed in a row
        try:
            while not stop.is_set():
                if len(in_hand) < self.ahead:
                    try:
                        rows = await self._claim()
                    except Exception as error:  # the loop must outlive the database's outages
                        failures += 1
                        rest = self._rest_after(failures)
                        log_failure(
                            log,
                            error,
                            "%s: claiming failed (%d in a row); trying again in %.3g s",
                            self.name,
                            failures,
                            rest,
                        )
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), rest)
                        continue
                    if failures:
                        log.info("%s: claiming works again after %d failures", self.name, failures)
                        failures = 0
                    if rows:
                        task = asyncio.create_task(self._handle(rows))
                        in_hand.add(task)
                        held[task] = [id_of(row) for row in rows]
                        task.add_done_callback(in_hand.discard)
                        task.add_done_callback(lambda done: held.pop(done, None))
                    caught_up = len(rows) < self.worker.claim.batch
                if len(in_hand) >= self.ahead:
                    await _first_of(in_hand, stop, seconds=self.idle_seconds)
                if len(in_hand) < self.ahead and caught_up:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.idle_seconds)
                    caught_up = False
        finally:
            try:
                await self._drain(in_hand, graceful=stop.is_set())
            finally:
                renewing.cancel()
                await asyncio.gather(renewing, return_exceptions=True)

    def _rest_after(self, failures: int) -> float:
        """The wait after ``failures`` failed claims in a row: ``idle_seconds``, doubled
        for each failure after the first, up to `MAX_REST_SECONDS`."""
        return min(self.idle_seconds * 2 ** min(failures - 1, 32), MAX_REST_SECONDS)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the loop for the duration of the block."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(stop), name=self.name)
        try:
            yield
        finally:
            stop.set()
            await task

    def lifetime(self) -> Callable[[object], AsyncIterator[None]]:
        """The loop as an aiohttp ``cleanup_ctx`` entry: started with the application,
        stopped (and drained) with it."""

        async def lifetime(_: object) -> AsyncIterator[None]:
            async with self.running():
                yield

        return lifetime

    async def _claim(self) -> list[Notification]:
        claim = self.worker.claim
        return await claims.claim_due(
            self.env,
            worker=claim.worker,
            channels=claim.channels,
            limit=claim.batch,
            lease=claim.lease,
        )

    async def _renew(self, held: dict[asyncio.Task[None], list[int]]) -> None:
        """Every third of a lease, renew the leases of the rows of the claims in hand (the
        worker settles each row when done with it; a settled row is not renewed)."""
        claim = self.worker.claim
        period = claim.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            ids = [row_id for ids in list(held.values()) for row_id in ids]
            try:
                await claims.renew(self.env, worker=claim.worker, ids=ids, lease=claim.lease)
            except Exception as error:  # the next round tries again before the leases end
                log_failure(log, error, "%s: renewing leases failed", self.name)

    async def _handle(self, rows: Sequence[Notification]) -> None:
        try:
            await self.worker.handle(rows)
        except Exception as error:
            # Its rows stay claimed; their leases run out and they are tried again.
            log_failure(log, error, "%s: handling %d claimed rows failed", self.name, len(rows))

    async def _drain(self, in_hand: set[asyncio.Task[None]], *, graceful: bool) -> None:
        """Finish the claims in hand (on a clean stop, for a while), then hand back every
        row the worker still holds."""
        try:
            if in_hand:
                if graceful:
                    await asyncio.wait(set(in_hand), timeout=self.drain_seconds)
                for task in in_hand:
                    task.cancel()
                await asyncio.gather(*in_hand, return_exceptions=True)
        finally:
            try:
                await claims.release_claims(self.env, worker=self.worker.claim.worker)
            except Exception as error:  # their leases will end by themselves
                log_failure(log, error, "%s: could not hand back claimed rows", self.name)


async def _first_of(tasks: set[asyncio.Task[None]], stop: asyncio.Event, *, seconds: float) -> None:
    """Wait until one of ``tasks`` finishes or ``stop`` is set, for at most ``seconds``."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({*tasks, stopping}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
