"""How long a staff member waits for `inkpost --help` and `inkpost documents list`.

    python bench/cli.py [--rounds 15]

Sets up a demo store in a temp directory (``inkpost demo --no-serve``: one organisation,
one client, one shared document), then runs, taking turns, each a fresh process:

- ``python -c pass``: the interpreter's own start-up, the baseline;
- ``inkpost --help``;
- ``inkpost documents list`` on the demo store.

Printed: the median and the fastest wall time of each, their ratio to the baseline's
median, the goals (``--help`` under 0.25 s, ``documents list`` under 0.6 s on a quiet
machine), and for each command what ``python -X importtime`` counts: how many modules it
imports and the time they take. The machine's load average is printed before and after:
on a busy machine every figure grows, the ratios less so.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"inkpost --help": 0.25, "inkpost documents list": 0.6}


def inkpost_command() -> list[str]:
    """The console script beside this interpreter, as a staff member runs it."""
    script = Path(sys.executable).parent / "inkpost"
    return [str(script)] if script.exists() else [sys.executable, "-m", "inkpost"]


def clean_env(data_dir: Path) -> dict[str, str]:
    """The environment of the commands timed: no INKPOST_ settings of this shell's, and
    Python caching bytecode as it does on a staff member's machine. With
    PYTHONDONTWRITEBYTECODE every run would compile this checkout's modules again (about
    30 ms of `documents list`), which no installed copy does."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("INKPOST_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPATH"] = str(ROOT)  # this checkout's packages, whatever is installed
    env["INKPOST_DATA_DIR"] = str(data_dir)
    env["COLUMNS"] = "120"
    return env


def wall(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def import_figures(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, float]:
    """How many modules ``inkpost ARGS`` imports, and their import time in seconds."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "inkpost", *args],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    own = [
        int(m.group(1))
        for m in re.finditer(r"^import time:\s+(\d+) \|", result.stderr, flags=re.MULTILINE)
    ]
    return len(own), sum(own) / 1e6


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="runs of each (default 15)")
    options = parser.parse_args()
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")

    print(f"load average at start: {load()}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set here; the commands timed cache bytecode all the same")
    inkpost = inkpost_command()
    with tempfile.TemporaryDirectory(prefix="inkpost-bench-cli-") as temp:
        work = Path(temp)
        env = clean_env(work / "data")
        subprocess.run(
            [*inkpost, "demo", "--no-serve"], env=env, cwd=work, check=True, capture_output=True
        )
        runs = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "inkpost --help": [*inkpost, "--help"],
            "inkpost documents list": [*inkpost, "documents", "list"],
        }
        for command in runs.values():  # warm the file cache and the bytecode
            wall(command, env, work)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(options.rounds):
            for name, command in runs.items():
                times[name].append(wall(command, env, work))
        imports = {
            "inkpost --help": import_figures(["--help"], env, work),
            "inkpost documents list": import_figures(["documents", "list"], env, work),
        }

    baseline = statistics.median(times["python -c pass (baseline)"])
    print(f"{options.rounds} rounds, each command a fresh process ({' '.join(inkpost)})")
    print(f"{'':28} {'median':>8} {'fastest':>8} {'x baseline':>10} {'goal':>7}")
    for name, spent in times.items():
        median = statistics.median(spent)
        goal = GOALS.get(name)
        shown = f"{goal:.2f} s" if goal is not None else ""
        print(f"{name:28} {median:7.3f}s {min(spent):7.3f}s {median / baseline:10.1f} {shown:>7}")
    for name, (count, seconds) in imports.items():
        print(f"imports of {name}: {count} modules, {seconds:.3f} s (-X importtime, one run)")
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
