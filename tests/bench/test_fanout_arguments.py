"""The fan-out bench's arguments: counts are whole numbers, 1 or more, and options that
make no run together are refused, each with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--n", "x"], "argument --n: 'x' is not a whole number"),
        (["--n", "0"], "argument --n: 0 is too few: give 1 or more"),
        (["--enqueue-only", "--repeat", "-2"], "argument --repeat: -2 is too few"),
        (["--processes", "0"], "argument --processes: 0 is too few: give 1 or more"),
        (["--crash", "--processes", "2"], "--crash kills the one serving process"),
        (["--enqueue-only", "--processes", "2"], "--enqueue-only starts no serving process"),
    ],
)
def test_counts_that_make_no_run_are_refused_before_anything_starts(
    arguments: list[str], problem: str
) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fanout.py"), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert problem in done.stderr
    assert "Traceback" not in done.stderr
