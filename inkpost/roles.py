"""Work that one process alone may do among all that serve one installation.

Telegram answers a second poller of the same bot with 409 Conflict, and counts its 30
messages a second per bot, not per process; Slack's one message a second per channel is
per app too. So `inkpost serve` runs the Telegram bot's polling and sending, and the
Slack notices, only in the process that holds the matching role lock
(`storage.role_locks`); every other process serves the web pages and the rest of the
workers, and tries for the role every ``retry_seconds``. When the holder stops or dies,
its lock goes with it and another process takes the work over within ``retry_seconds``.
A holder that loses its lock (its database connection broke) stops the work at its next
check, so two processes overlap for at most ``retry_seconds`` even then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from storage.errors import log_failure
from storage.role_locks import RoleLock

log = logging.getLogger(__name__)

Work = Callable[[], AbstractAsyncContextManager[object]]
"""Starts the role's work on entering, stops it on leaving."""


class RoleHolder:
    """Contends for one role and runs its ``work`` while it holds it."""

    def __init__(self, lock: RoleLock, work: Work, *, retry_seconds: float) -> None:
        if retry_seconds <= 0:
            raise ValueError(f"retry_seconds must be positive, not {retry_seconds}")
        self.lock = lock
        self.work = work
        self.retry_seconds = retry_seconds
        self.holding = False
        """Whether the work runs in this process now."""
        self.terms = 0
        """How many times this process has taken the role."""

    @contextlib.asynccontextmanager
    async def contending(self) -> AsyncIterator[RoleHolder]:
        """Contend for the role for the duration of the block; the work is stopped and the
        lock let go on leaving it.

        The first try is made before the block starts, and a failure to start the work
        then is raised: a process that could take the role but cannot do its work does not
        start. Later failures are logged and the role is tried again."""
        stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as first:
            if await self.lock.acquire():
                first.push_async_callback(self.lock.release)
                await first.enter_async_context(self._term())
            else:
                log.info("another process does %s; this one stands by", self.lock.role)
            term = first.pop_all()
        task = asyncio.create_task(self._contend(stop, term), name=f"role {self.lock.role}")
        try:
            yield self
        finally:
            stop.set()
            await task

    @contextlib.asynccontextmanager
    async def _term(self) -> AsyncIterator[None]:
        async with self.work():
            self.holding = True
            self.terms += 1
            log.info("this process does %s", self.lock.role)
            try:
                yield
            finally:
                self.holding = False

    async def _contend(self, stop: asyncio.Event, term: contextlib.AsyncExitStack) -> None:
        """Keep the term in hand while the lock holds; take the role when it is free."""
        try:
            while not stop.is_set():
                if self.holding:
                    if not await self.lock.held():
                        log.warning("this process lost %s; stopping it", self.lock.role)
                        await self._end(term)
                        term = contextlib.AsyncExitStack()
                else:
                    term = await self._try_to_take()
                await _wait(stop, self.retry_seconds)
        finally:
            await self._end(term)

    async def _end(self, term: contextlib.AsyncExitStack) -> None:
        """Stop the work and let the lock go; a failure to stop is logged, and the lock
        is let go all the same."""
        try:
            await term.aclose()
        except Exception:
            log.exception("stopping %s failed", self.lock.role)

    async def _try_to_take(self) -> contextlib.AsyncExitStack:
        term = contextlib.AsyncExitStack()
        try:
            if await self.lock.acquire():
                term.push_async_callback(self.lock.release)
                await term.enter_async_context(self._term())
        except Exception as error:  # the database or the work's service is down for a moment
            log_failure(log, error, "could not take %s; trying again shortly", self.lock.role)
            await term.aclose()
            return contextlib.AsyncExitStack()
        return term


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
