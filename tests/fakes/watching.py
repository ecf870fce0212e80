"""Waiting on a fake service: it signals every change; tests wait, boundedly, for a
condition, re-checked on each change and every ``POLL`` seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

POLL = 0.02


class Watched:
    """Mixed into a fake: ``notify()`` on every change, ``wait_for()`` in tests."""

    _changed: asyncio.Event

    def recent_requests(self) -> list[tuple[str, object]]:
        """The last requests, for the message of a wait that timed out."""
        return []

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, at_most: float | None) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await event.wait()

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - bounded by default; the failure lists requests
        what: str = "",
    ) -> Any:
        """Wait until ``predicate()`` is truthy and return it.

        It is re-checked on every change of the fake and every ``POLL`` seconds, so it may
        also look at state outside the fake (a handler's list, a database row).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what or predicate}; "
                    f"last requests: {self.recent_requests()}"
                )
            await self.wait_change(min(remaining, POLL))
        return result
