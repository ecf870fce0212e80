"""Pacing calls to Telegram so that its sliding windows never see one message too many."""

from __future__ import annotations

import asyncio
from collections import Counter

from telegram.ext import ExtBot

from bot.telegram.ratelimit import ChatRateLimiter, Pacer
from tests.fakes.telegram_api import FakeTelegramApi, FloodLimits


async def test_a_call_starts_only_after_the_call_count_places_back_was_answered_a_period_ago() -> (
    None
):
    pacer = Pacer(count=3, period=0.2)
    loop = asyncio.get_running_loop()
    starts: list[float] = []
    answers: list[float] = []

    async def call() -> None:
        await pacer.wait()
        starts.append(loop.time())
        await asyncio.sleep(0.01)
        answers.append(loop.time())
        pacer.done()

    await asyncio.gather(*(call() for _ in range(9)))

    assert all(starts[k] >= answers[k - 3] + 0.2 for k in range(3, 9))
    assert starts[-1] - starts[0] < 3 * (0.2 + 0.01) + 0.1  # and not much later than that


async def test_calls_start_at_least_min_gap_apart() -> None:
    pacer = Pacer(count=10, period=1.0, min_gap=0.02)
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def call() -> None:
        await pacer.wait()
        starts.append(loop.time())
        pacer.done()

    await asyncio.gather(*(call() for _ in range(5)))

    assert all(b - a >= 0.02 for a, b in zip(starts, starts[1:], strict=False))


async def test_a_burst_to_many_chats_and_twice_to_each_draws_no_429(
    telegram_api: FakeTelegramApi,
) -> None:
    telegram_api.flood_limits = FloodLimits(overall_per_second=5, private_chat_per_second=1)
    chats = [5_000_000_001 + i for i in range(5)]
    for chat in chats:
        telegram_api.register_chat(chat)
    limiter = ChatRateLimiter(overall_rate=5, max_retries=0)  # a 429 would raise RetryAfter
    async with ExtBot(
        telegram_api.token,
        base_url=telegram_api.base_url,
        base_file_url=telegram_api.base_file_url,
        rate_limiter=limiter,
    ) as bot:
        await asyncio.gather(
            *(bot.send_message(chat_id=chat, text=f"hello {n}") for n in (1, 2) for chat in chats)
        )

    statuses = Counter(r.status for r in telegram_api.requests_for("sendMessage"))
    assert statuses == {200: 10}
