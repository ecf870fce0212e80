"""How the CLI shows results: rich tables for people, JSON for scripts.

Every list-like command builds plain rows (dicts of JSON-friendly values) once and hands
them here; ``--json`` prints the rows as they are, otherwise they become a table. With
``--json`` stdout holds the JSON and nothing else; progress and errors go to stderr.

On a terminal a table fits the window. Piped to a file or a pager there is no window to fit,
so a table is as wide as its longest cells: each row stays on one line and no word is split.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

Row = Mapping[str, Any]

# The file is looked up on every write, so a test runner that swaps sys.stdout and
# sys.stderr captures these consoles too.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
UNBOUNDED = 1_000_000
"""The width a table is measured in when nothing limits it."""


@dataclass(frozen=True)
class Column:
    """One table column: the row key it shows and its heading."""

    key: str
    heading: str
    justify: str = "left"


def plain(value: Any) -> Any:
    """A value as JSON holds it: datetimes as ISO 8601, everything else untouched."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def cell(value: Any) -> str:
    """A value as a table cell shows it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {cell(v)}" for k, v in value.items() if v not in (None, "", []))
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def emit_json(data: Any) -> None:
    """Valid JSON on stdout and nothing else."""
    sys.stdout.write(json.dumps(plain(data), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def show_rows(rows: Sequence[Row], *, columns: Sequence[Column], title: str, as_json: bool) -> None:
    """Rows as a JSON list or as a table; an empty table says so in one line."""
    if as_json:
        emit_json([dict(row) for row in rows])
        return
    if not rows:
        say(f"No {title.lower()}.")
        return
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column.heading, justify=column.justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(Text(cell(row.get(column.key))) for column in columns))
    print_table(table)


def show_record(record: Row, *, title: str, as_json: bool) -> None:
    """One thing, as a JSON object or as a two-column table of its fields (lists of rows
    are left to the caller, who shows them as tables of their own)."""
    if as_json:
        emit_json(dict(record))
        return
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in record.items():
        if not (isinstance(value, list) and value and isinstance(value[0], Mapping)):
            table.add_row(key.replace("_", " "), Text(cell(value)))
    print_table(table)


def print_table(table: Table) -> None:
    """A table on stdout: fitted to the window on a terminal; elsewhere (a file, a pipe, a
    pager) as wide as its cells and its title need, so that nothing wraps."""
    if out.is_terminal:
        out.print(table)
        return
    if isinstance(table.title, str):
        table.min_width = cell_len(table.title)
    width = Measurement.get(out, out.options.update_width(UNBOUNDED), table).maximum
    wide = Console(file=out.file, width=max(width, 1), highlight=False, soft_wrap=True)
    wide.print(table)


def say(message: str) -> None:
    """A short human line on stdout, printed as is (no markup, no wrapping)."""
    out.print(message, markup=False)


def warn(message: str) -> None:
    """Something the operator should know though the command succeeded, on stderr."""
    err.print(f"warning: {message}", markup=False)
