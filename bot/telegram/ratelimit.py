"""Telegram's flood limits: 30 messages per second overall and one per second to each
private chat, paced rather than bucketed.

PTB's ``AIORateLimiter`` uses leaky buckets, which let a full bucket through at once and
then refill it: a server that counts messages in a sliding window of one second sees up
to twice the limit and answers 429. Here each limit is a ``Pacer`` instead, which counts
a call from its start until its answer. PTB's limiter still handles group chats (20 per
minute), paid broadcasts and the retry after a 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram.constants import FloodLimit
from telegram.ext import AIORateLimiter

JSONDict = dict[str, Any]
Result = bool | JSONDict | list[JSONDict]

OVERALL_RATE = float(FloodLimit.MESSAGES_PER_SECOND)  # messages per second, all chats
PRIVATE_CHAT_RATE = 1.0  # messages per second to one private chat
SMOOTHING = 0.75
"""Overall, calls start at least this fraction of 1/30 s apart: near-even spacing, with
room to make up for a slow call."""
MAX_TRACKED_CHATS = 4096


class Pacer:
    """Lets calls start one at a time, so that a server counting them in any sliding
    window of ``period`` seconds never counts more than ``count``, and no two start
    closer together than ``min_gap``.

    Wherever the server counts a call, it is between the call's start and its answer.
    So a call is held back until fewer than ``count`` earlier calls are still running or
    were answered less than ``period`` ago: however late a request travels or an answer
    comes back, the server's window never holds one too many. Time lost to a slow call
    is made up by starting the next ones closer together, down to ``min_gap``.
    """

    def __init__(self, *, count: int, period: float, min_gap: float = 0.0) -> None:
        self.count = count
        self.period = period
        self.min_gap = min_gap
        self._running = 0
        self._answered: deque[float] = deque()
        self._last_start = -math.inf
        self._lock = asyncio.Lock()
        self._answer = asyncio.Event()

    @classmethod
    def for_rate(cls, per_second: float, *, smoothing: float = 0.0) -> Pacer:
        """``per_second`` calls a second; ``smoothing`` (0 to 1) spaces them that fraction
        of ``1 / per_second`` apart at least."""
        count = max(1, round(per_second))
        period = count / per_second
        return cls(count=count, period=period, min_gap=smoothing * period / count)

    def _ready_at(self, now: float) -> float | None:
        """When the next call may start; None while it must wait for an answer."""
        while self._answered and self._answered[0] <= now - self.period:
            self._answered.popleft()
        ready = self._last_start + self.min_gap
        excess = self._running + len(self._answered) - (self.count - 1)
        if excess > 0:
            if excess > len(self._answered):
                return None
            ready = max(ready, self._answered[excess - 1] + self.period)
        return ready

    async def wait(self, then: Callable[[], Awaitable[None]] | None = None) -> None:
        """Return once this call may start, and count it as running until ``done``.
        ``then`` (another pacer's turn) runs first, so the start is when the call starts."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            while (ready := self._ready_at(loop.time())) is None or ready > loop.time():
                self._answer.clear()
                timeout = None if ready is None else ready - loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._answer.wait(), timeout)
            if then is not None:
                await then()
            self._running += 1
            self._last_start = loop.time()

    def done(self) -> None:
        """The call was answered (or failed): it now counts until ``period`` has passed."""
        self._running -= 1
        self._answered.append(asyncio.get_running_loop().time())
        self._answer.set()

    @property
    def idle(self) -> bool:
        """Nobody waiting or running, and a call could start now."""
        now = asyncio.get_running_loop().time()
        ready = self._ready_at(now)
        return not self._lock.locked() and not self._running and ready is not None and ready <= now


class ChatRateLimiter(AIORateLimiter):
    """PTB's limiter with its overall bucket replaced by pacers: one for every call to a
    chat, and one per private chat (positive chat ids) for ``send*`` calls."""

    def __init__(
        self,
        *,
        overall_rate: float = OVERALL_RATE,
        per_chat_rate: float = PRIVATE_CHAT_RATE,
        smoothing: float = SMOOTHING,
        **kwargs: Any,
    ) -> None:
        super().__init__(overall_max_rate=0, **kwargs)
        self._overall = Pacer.for_rate(overall_rate, smoothing=smoothing) if overall_rate else None
        self._per_chat_rate = per_chat_rate
        self._chats: OrderedDict[int, Pacer] = OrderedDict()

    def _chat_pacer(self, chat_id: int) -> Pacer:
        pacer = self._chats.pop(chat_id, None) or Pacer.for_rate(self._per_chat_rate)
        self._chats[chat_id] = pacer
        if len(self._chats) > MAX_TRACKED_CHATS:
            # Forget chats whose pacer holds nothing back any more, oldest first.
            for old in [chat for chat, p in self._chats.items() if p.idle and chat != chat_id]:
                del self._chats[old]
                if len(self._chats) <= MAX_TRACKED_CHATS // 2:
                    break
        return pacer

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        chat_id: Any = data.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)
        pacers: list[Pacer] = []
        private = isinstance(chat_id, int) and chat_id > 0
        if private and endpoint.startswith("send") and self._per_chat_rate:
            pacers.append(self._chat_pacer(chat_id))
        if chat_id is not None and self._overall and not data.get("allow_paid_broadcast"):
            pacers.append(self._overall)
        if not pacers:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )

        async def paced(*a: Any, **kw: Any) -> Result:
            # Runs on each try, after PTB's group limiter and any wait for retry_after.
            await _wait_all(pacers)
            try:
                return await callback(*a, **kw)
            finally:
                for pacer in pacers:
                    pacer.done()

        return await super().process_request(paced, args, kwargs, endpoint, data, rate_limit_args)


async def _wait_all(pacers: list[Pacer]) -> None:
    """Each pacer in turn, the outer one holding its turn while the inner ones wait."""
    first, rest = pacers[0], pacers[1:]
    await first.wait((lambda: _wait_all(rest)) if rest else None)
