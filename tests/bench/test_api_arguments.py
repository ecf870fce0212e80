"""The API bench's arguments and its instruction counting: a counted run defaults to a
size callgrind gets through in a minute, options that measure two ways at once are
refused, and a dump's count is read from its totals."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import api


def test_a_timed_run_defaults_to_nine_rounds_of_three_hundred_pages() -> None:
    arguments = api.parse([])
    assert (arguments.rounds, arguments.pages, arguments.uploads) == (9, 300, 100)
    assert not arguments.instructions


def test_a_counted_run_defaults_to_two_rounds_of_forty_pages() -> None:
    arguments = api.parse(["--instructions"])
    assert (arguments.rounds, arguments.pages, arguments.uploads) == (2, 40, 20)


def test_a_counted_run_takes_the_sizes_it_is_given() -> None:
    arguments = api.parse(["--instructions", "--rounds", "3", "--pages", "60", "--uploads", "6"])
    assert (arguments.rounds, arguments.pages, arguments.uploads) == (3, 60, 6)


def test_profiling_and_counting_at_once_is_refused_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit:
        api.parse(["--instructions", "--profile"])
    assert exit.value.code == 2
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said.endswith(
        ": error: --profile and --instructions measure the server two ways: choose one"
    )


def test_counting_without_valgrind_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.shutil, "which", lambda tool: None)
    with pytest.raises(SystemExit) as exit:
        api.Callgrind(tmp_path)
    assert str(exit.value) == (
        "--instructions needs valgrind and callgrind_control, from Debian's package valgrind"
    )


def test_the_python_it_starts_runs_under_callgrind_counting_nothing_at_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    folder = tmp_path / "a folder"
    folder.mkdir()
    python = api.Callgrind(folder).python
    script = python.read_text()
    assert script.startswith("#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no ")
    assert f"--callgrind-out-file='{folder}/callgrind.out'" in script
    assert python.stat().st_mode & 0o111


def test_a_dump_counts_its_totals(tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("version: 1\ncreator: callgrind\nevents: Ir\nsummary: 0\ntotals: 46339790\n")
    assert api._totals(dump) == 46_339_790


def test_a_dump_without_totals_is_an_error(tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("version: 1\nevents: Ir\n")
    with pytest.raises(RuntimeError, match="holds no totals"):
        api._totals(dump)
