"""The machine's load average, printed by every bench as it starts and as it ends: the
cores are shared, and a figure measured on a busy machine says so beside it."""

from __future__ import annotations

import os


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, and the number of cores."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def print_load(when: str) -> None:
    """Print the load average, labelled ``when`` (``start``, ``end``)."""
    print(f"load average at {when}: {load_average()}", flush=True)
