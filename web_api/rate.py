"""Per-key rate limits: a token bucket per API key, kept in the store and shared by every
process serving the API (`workflows.api_keys.lease_requests`).

Asking the store on every request would put a write on the path of every API call, so
each process takes a few requests at a time (up to a second's worth: at least one, at
most a quarter of the burst) and lets them through until they are spent, or until the
time the bucket needs to refill them has passed. Whatever a process holds was taken from
the shared bucket before it lets a request through, so all the processes together never
let through more than the limit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from workflows import api_keys
from workflows.context import Env


@dataclass(frozen=True)
class RateLimit:
    per_minute: int = 600
    """Requests a key may make per minute, on average."""
    burst: int = 60
    """Requests a key may make at once after a quiet while."""

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0

    @property
    def lease(self) -> int:
        """How many requests a process takes from the store at a time."""
        return max(1, min(self.burst // 4, math.ceil(self.per_second)))


@dataclass
class _Held:
    requests: int
    until: float
    """When the lease lapses (monotonic seconds): what is left of it is not used."""


@dataclass
class RateLimiter:
    limit: RateLimit
    env: Env
    clock: Callable[[], float] = time.monotonic
    _held: dict[int, _Held] = field(default_factory=dict)

    async def take(self, key_id: int) -> float | None:
        """Spend one request of ``key_id``: None if allowed, else seconds to wait."""
        now = self.clock()
        held = self._held.get(key_id)
        if held is not None and held.requests > 0 and now < held.until:
            held.requests -= 1
            return None
        lease = await api_keys.lease_requests(
            self.env,
            key_id=key_id,
            want=self.limit.lease,
            per_minute=self.limit.per_minute,
            burst=self.limit.burst,
        )
        if not lease.granted:
            return lease.wait
        self._held[key_id] = _Held(
            requests=lease.granted - 1, until=now + lease.granted / self.limit.per_second
        )
        return None


def retry_after(seconds: float) -> str:
    """The Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
