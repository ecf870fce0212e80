"""`/inkpost find` runs a bounded number of searches at once, so that a burst of them
leaves connections for every other request."""

from __future__ import annotations

import asyncio

import pytest

from bot.slack.blocks import Message
from bot.slack.feature import Who
from bot.slack.features import lookup
from bot.slack.features.lookup import Lookup
from workflows.context import Env


async def test_a_burst_of_finds_runs_a_few_searches_at_a_time(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    finder = Lookup(env, public_url="https://inkpost.example")
    running: list[str] = []
    peak = 0
    release = asyncio.Event()

    async def search(who: Who, args: str) -> Message:
        nonlocal peak
        running.append(args)
        peak = max(peak, len(running))
        await release.wait()
        running.remove(args)
        return {"text": args}

    monkeypatch.setattr(finder, "_find", search)
    who = Who(team_id="T1", user_id="U1")
    burst = [asyncio.create_task(finder.find(who, f"fee {n}")) for n in range(20)]
    for _ in range(50):
        await asyncio.sleep(0)
    assert len(running) == peak == lookup.SEARCHES_AT_ONCE

    release.set()
    answers = await asyncio.gather(*burst)

    assert [a["text"] for a in answers] == [f"fee {n}" for n in range(20)]
    assert peak == lookup.SEARCHES_AT_ONCE and running == []
