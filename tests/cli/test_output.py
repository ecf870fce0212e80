"""Tables that read the same piped to a file or a pager as on a terminal.

A test runner's stdout is not a terminal, exactly like `inkpost ... > file` or `| less`.
There a table is as wide as its cells: one line per row, no word split across lines. On a
terminal it still fits the window.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from inkpost.cli import output
from inkpost.cli.output import Column
from tests.cli.conftest import Cli, Office

LONG_NAMES = (
    "Maximiliana Alexandrina Wojciechowska-Montgomery of the Northern Timber Cooperative",
    "Bartholomew Fitzgerald-Oyelaran, Chief Financial Officer and Authorised Signatory",
)


def _body_lines(stdout: str) -> list[str]:
    """The lines of a table's rows: between the heading's rule and the bottom border."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return lines[start + 1 : end]


@pytest.mark.parametrize("columns", [None, "80", "40"])
def test_a_piped_list_keeps_each_row_on_one_line(
    cli: Cli, office: Office, columns: str | None
) -> None:
    emails = []
    for number, name in enumerate(LONG_NAMES):
        email = f"{name.split()[0].lower()}.{number}@a-very-long-domain-name.example.test"
        cli.ok("recipient", "add", name, "--client", str(office.client_id), "--email", email)
        emails.append(email)

    result = cli.ok("recipient", "list", env={"COLUMNS": columns})

    rows = _body_lines(result.stdout)
    assert len(rows) == 1 + len(LONG_NAMES)  # Rita, from the office, and the two above
    for name, email, row in zip(LONG_NAMES, emails, rows[1:], strict=True):
        assert name in row and email in row
    assert "Rita Recipient" in rows[0]
    widths = {len(line) for line in result.stdout.splitlines()[1:]}
    assert len(widths) == 1, "every line of the table is as wide as the others"


def test_a_piped_title_longer_than_the_table_stays_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    title = "Recipients of the Northern Timber Cooperative who still have to sign"
    rows = [{"id": 1, "role": "signer"}, {"id": 2, "role": "approver"}]

    output.show_rows(
        rows, columns=[Column("id", "Id"), Column("role", "Role")], title=title, as_json=False
    )

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == title
    assert {len(line) for line in lines[1:]} == {len(title)}
    assert any("│ signer " in line for line in lines) and any("approver" in line for line in lines)


def test_on_a_terminal_a_table_still_fits_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, color_system=None, width=60)
    monkeypatch.setattr(output, "out", terminal)
    rows = [{"name": name, "role": "signer"} for name in LONG_NAMES]

    output.show_rows(
        rows,
        columns=[Column("name", "Name"), Column("role", "Role")],
        title="Parties",
        as_json=False,
    )

    lines = screen.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 60
    assert len(lines) > len(rows) + 4, "long names wrap inside their cells"
