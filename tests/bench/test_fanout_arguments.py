"""The fan-out bench's arguments: counts are whole numbers, 1 or more, and options that
make no run together are refused, each with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import fanout

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
def test_counts_that_make_no_run_are_refused_with_one_line(
    arguments: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        fanout.parse(arguments)
    assert exit.value.code == 2
    said = capsys.readouterr().err
    assert problem in said
    assert said.strip().splitlines()[-1].startswith("fanout.py: error: ")


def test_a_run_that_makes_sense_is_taken_as_given() -> None:
    arguments = fanout.parse(["--n", "300", "--processes", "2", "--postgres", "postgresql://h"])
    assert (arguments.n, arguments.processes, arguments.crash) == (300, 2, False)
    assert arguments.postgres == "postgresql://h"
    assert not arguments.enqueue_only
    assert fanout.parse([]).n == 2000


def test_the_script_refuses_before_anything_starts() -> None:
    """Run as a script, a refused count ends the process with status 2 and no traceback,
    before any store or serving process exists."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fanout.py"), "--n", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "argument --n: 0 is too few: give 1 or more" in done.stderr
    assert "Traceback" not in done.stderr
