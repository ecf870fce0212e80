"""`inkpost serve` as a real process: it answers /healthz and stops cleanly on SIGTERM."""

from __future__ import annotations

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
