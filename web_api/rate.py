"""Per-key rate limits: a token bucket per API key, in this process."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateLimit:
    per_minute: int = 600
    """Requests a key may make per minute, on average."""
    burst: int = 60
    """Requests a key may make at once after a quiet while."""


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    limit: RateLimit
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[int, _Bucket] = field(default_factory=dict)

    def take(self, key_id: int) -> float | None:
        """Spend one request of ``key_id``: None if allowed, else seconds to wait."""
        now = self.clock()
        rate = self.limit.per_minute / 60.0
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(tokens=float(self.limit.burst), at=now)
        bucket.tokens = min(float(self.limit.burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate if rate > 0 else math.inf


def retry_after(seconds: float) -> str:
    """The Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
