"""`inkpost serve` as a real process: it answers /healthz and stops cleanly on SIGTERM, and
two of them share one Telegram bot without fighting over its updates."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path

import pytest

from inkpost.server import start_up_heap_frozen
from tests.fakes.telegram_api import FakeTelegramApi, TgUser

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthz(port: int, *, deadline: float) -> dict[str, str]:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                return dict(json.loads(reply.read()))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_and_stops_gracefully(tmp_path: Path, signum: signal.Signals) -> None:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INKPOST_")},
        "PYTHONPATH": str(ROOT),
        "INKPOST_DATA_DIR": str(tmp_path / "data"),
        "INKPOST_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "inkpost", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _healthz(port, deadline=time.monotonic() + 20) == {
            "status": "ok",
            "database": "ok",
            "blobs": "ok",
        }
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, stderr
    assert f"Inkpost is serving on http://127.0.0.1:{port}" in stdout
    assert "stopped" in stderr and "Traceback" not in stderr
    assert (tmp_path / "data" / "inkpost.db").is_file()


def test_serving_keeps_the_start_up_heap_from_the_collector_and_no_garbage() -> None:
    class Node:
        other: object = None

    cycle = Node()
    cycle.other = cycle
    gone = weakref.ref(cycle)
    del cycle
    assert gc.get_freeze_count() == 0
    with start_up_heap_frozen():
        assert gone() is None  # collected first, not kept for the life of the process
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


async def _serving(env: dict[str, str], cwd: Path, *, log: Path) -> asyncio.subprocess.Process:
    """``inkpost serve`` started, once it answers /healthz; its log lines go to ``log``."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "inkpost",
            "serve",
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=output,
        )
    deadline = time.monotonic() + 30
    await asyncio.to_thread(_healthz, int(env["INKPOST_PORT"]), deadline=deadline)
    return process


async def test_of_two_serving_processes_one_polls_telegram_and_the_other_takes_over_at_its_death(
    tmp_path: Path, telegram_api: FakeTelegramApi
) -> None:
    fake = telegram_api
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INKPOST_")},
        "PYTHONPATH": str(ROOT),
        "INKPOST_DATA_DIR": str(tmp_path / "data"),
        "INKPOST_TELEGRAM_TOKEN": fake.token,
        "INKPOST_TELEGRAM_API_URL": fake.url,
        "INKPOST_ROLE_RETRY_SECONDS": "1",
        "INKPOST_SCAN_INTERVAL_SECONDS": "0",
    }
    processes: list[asyncio.subprocess.Process] = []

    async def say_help(chat_id: int) -> None:
        fake.user_sends_text(chat_id, "/help", user=TgUser(id=chat_id))
        await fake.wait_for(lambda: bool(fake.messages_to(chat_id)), timeout=30)

    try:
        for number in range(2):  # one after the other: the first migrates the new store
            env = {**base, "INKPOST_PORT": str(_free_port())}
            log = tmp_path / f"serve-{number}.log"
            processes.append(await _serving(env, tmp_path, log=log))
        first, second = processes
        await say_help(5_000_000_001)

        first.kill()
        await first.wait()
        await say_help(5_000_000_002)
        await say_help(5_000_000_003)

        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 20)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()

    second_log = (tmp_path / "serve-1.log").read_text()
    assert fake.poll_conflicts() == []
    assert second.returncode == 0, second_log
    assert "another process does telegram-bot; this one stands by" in second_log
    assert "this process does telegram-bot" in second_log
    assert fake.pending_updates == []
