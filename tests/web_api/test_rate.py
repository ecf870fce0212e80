"""A key's rate limit is one bucket in the store, however many processes serve the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.models import ApiKey
from tests.conftest import STAFF, Tenant
from web_api.rate import RateLimit, RateLimiter
from workflows import api_keys
from workflows.api_keys import BadKey
from workflows.context import Env, FixedClock

LIMIT = RateLimit(per_minute=600, burst=20)  # taken five at a time by each process


@pytest.fixture
async def key_id(env: Env, tenant: Tenant) -> int:
    issued = await api_keys.create_key(
        env, org_id=tenant.org_id, actor=STAFF, name="erp-sync", scopes=["read"]
    )
    assert issued.key.id is not None
    return issued.key.id


async def _budget(env: Env, key_id: int) -> float | None:
    async with env.sessions() as session:
        key = await session.get(ApiKey, key_id)
        assert key is not None
        return key.budget


async def test_two_processes_together_let_through_no_more_than_the_burst(
    env: Env, key_id: int
) -> None:
    first, second = RateLimiter(LIMIT, env), RateLimiter(LIMIT, env)

    waits = [await limiter.take(key_id) for _ in range(20) for limiter in (first, second)]

    assert LIMIT.lease == 5
    assert sum(wait is None for wait in waits) == 20
    assert waits[:20] == [None] * 20  # taken in turns, five at a time, until none is left
    refused = [wait for wait in waits if wait is not None]
    assert refused and all(wait == pytest.approx(0.1) for wait in refused)  # 10 a second
    assert await _budget(env, key_id) == 0


async def test_the_bucket_refills_at_the_rate_whichever_process_asks(
    env: Env, clock: FixedClock, key_id: int
) -> None:
    first, second = RateLimiter(LIMIT, env), RateLimiter(LIMIT, env)
    while await first.take(key_id) is None:
        pass

    clock.at += timedelta(seconds=1)  # ten more requests

    waits = [await second.take(key_id) for _ in range(12)]
    assert waits[:10] == [None] * 10 and all(wait is not None for wait in waits[10:])
    clock.at += timedelta(hours=1)  # never more than the burst
    assert [await first.take(key_id) is None for _ in range(21)].count(True) == 20


async def test_requests_a_process_took_and_did_not_use_lapse_after_their_second(
    env: Env, key_id: int
) -> None:
    now = [100.0]
    limiter = RateLimiter(LIMIT, env, clock=lambda: now[0])
    assert await limiter.take(key_id) is None  # five taken from the store, one used
    assert await _budget(env, key_id) == 15
    assert await limiter.take(key_id) is None  # from those held: the store is not asked
    assert await _budget(env, key_id) == 15

    now[0] += 0.5  # the five were a half-second's worth
    assert await limiter.take(key_id) is None
    assert await _budget(env, key_id) == 10


async def test_a_clock_running_back_refills_nothing(
    env: Env, clock: FixedClock, key_id: int
) -> None:
    taken = await api_keys.lease_requests(env, key_id=key_id, want=20, per_minute=60, burst=20)
    assert (taken.granted, taken.wait) == (20, 0.0)
    clock.at -= timedelta(minutes=5)  # another machine's clock, behind this one's
    behind = await api_keys.lease_requests(env, key_id=key_id, want=1, per_minute=60, burst=20)
    assert behind.granted == 0 and behind.wait == pytest.approx(1.0)
    clock.at += timedelta(minutes=5, seconds=2)
    ahead = await api_keys.lease_requests(env, key_id=key_id, want=5, per_minute=60, burst=20)
    assert ahead.granted == 2


async def test_a_key_that_is_gone_gets_no_lease_and_nothing_changes(env: Env, key_id: int) -> None:
    with pytest.raises(BadKey):
        await api_keys.lease_requests(env, key_id=key_id + 1, want=1, per_minute=60, burst=5)
    with pytest.raises(ValueError, match="at least one request"):
        await api_keys.lease_requests(env, key_id=key_id, want=0, per_minute=60, burst=5)
    assert await _budget(env, key_id) is None
