"""A role's work runs in one contending process at a time, moves on when its holder
leaves or loses the lock, and a holder that cannot start the work does not start."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest

from inkpost.roles import RoleHolder


class SharedLock:
    """One role's lock as the store keeps it: whoever holds it, or nobody."""

    def __init__(self) -> None:
        self.holder: object | None = None


class Lock:
    """One process's handle on a ``SharedLock``."""

    role = "telegram-bot"

    def __init__(self, shared: SharedLock) -> None:
        self.shared = shared

    async def acquire(self) -> bool:
        if self.shared.holder is None:
            self.shared.holder = self
        return self.shared.holder is self

    async def held(self) -> bool:
        return self.shared.holder is self

    async def release(self) -> None:
        if self.shared.holder is self:
            self.shared.holder = None


class Work:
    """Counts where the work runs."""

    def __init__(self) -> None:
        self.running: list[str] = []
        self.starts: list[str] = []

    def of(self, name: str) -> Callable[[], contextlib.AbstractAsyncContextManager[None]]:
        @contextlib.asynccontextmanager
        async def work() -> AsyncIterator[None]:
            assert not self.running, f"{name} started while {self.running} ran"
            self.running.append(name)
            self.starts.append(name)
            try:
                yield
            finally:
                self.running.remove(name)

        return work


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.01)


async def test_the_work_runs_in_one_holder_and_moves_on_when_it_leaves() -> None:
    shared, work = SharedLock(), Work()
    first = RoleHolder(Lock(shared), work.of("first"), retry_seconds=0.02)
    second = RoleHolder(Lock(shared), work.of("second"), retry_seconds=0.02)

    async with second.contending():
        async with first.contending():
            pass  # the second holds the role from its start; the first stands by
        assert work.running == ["second"] and work.starts == ["second"]
    assert work.running == [] and shared.holder is None

    async with contextlib.AsyncExitStack() as standing_by:
        async with contextlib.AsyncExitStack() as holding:
            await holding.enter_async_context(first.contending())
            await standing_by.enter_async_context(second.contending())
            assert work.running == ["first"]
        await until(lambda: work.running == ["second"], "the second took the role over")
    assert work.starts == ["second", "first", "second"]


async def test_a_holder_that_lost_its_lock_takes_the_role_again_once_it_is_free() -> None:
    shared, work = SharedLock(), Work()
    holder = RoleHolder(Lock(shared), work.of("only"), retry_seconds=0.02)

    async with holder.contending():
        shared.holder = object()  # someone else holds it now
        await until(lambda: not holder.holding, "the lost role's work stopped")
        assert work.running == []
        shared.holder = None
        await until(lambda: holder.holding, "the role was taken again")
        assert holder.terms == 2


async def test_a_holder_that_cannot_start_the_work_does_not_start_and_lets_the_role_go() -> None:
    shared = SharedLock()

    @contextlib.asynccontextmanager
    async def refused() -> AsyncIterator[None]:
        raise RuntimeError("the bot's token was refused")
        yield

    holder = RoleHolder(Lock(shared), refused, retry_seconds=0.02)
    with pytest.raises(RuntimeError, match="token was refused"):
        async with holder.contending():
            pass
    assert shared.holder is None


async def test_work_that_fails_to_start_later_is_tried_again() -> None:
    shared, attempts = SharedLock(), []
    shared.holder = object()

    @contextlib.asynccontextmanager
    async def flaky() -> AsyncIterator[None]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("Telegram is down for a moment")
        yield

    holder = RoleHolder(Lock(shared), flaky, retry_seconds=0.02)
    async with holder.contending():
        shared.holder = None
        await until(lambda: holder.holding, "the work started at the second try")
    assert len(attempts) == 2 and shared.holder is None


@pytest.mark.parametrize("seconds", [0, -1])
def test_a_retry_interval_that_is_not_positive_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="retry_seconds must be positive"):
        RoleHolder(Lock(SharedLock()), Work().of("x"), retry_seconds=seconds)
