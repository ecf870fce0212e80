"""The schema check reads only the header lines of the revision files; a header it cannot
read from those lines alone is read from the whole file, and the answer is the same."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import migrate


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "versions"
    folder.mkdir()
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)
    migrate.newest_revision.cache_clear()
    yield folder
    migrate.newest_revision.cache_clear()


def refuse_alembic(monkeypatch: pytest.MonkeyPatch) -> None:
    def alembic_head() -> str:
        raise AssertionError("the headers were plain: alembic was not needed")

    monkeypatch.setattr(migrate, "head_revision", alembic_head)


def test_a_down_revision_over_several_lines_is_read_from_the_whole_file(
    versions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (versions / "a1.py").write_text('revision = "a1"\ndown_revision = None\n')
    (versions / "b2.py").write_text(
        '"""Second.\n\nrevision of the lines below\n"""\n\n'
        'revision: str = "b2"\ndown_revision: str | None = (\n    "a1"\n)\n'
    )
    refuse_alembic(monkeypatch)

    assert migrate.newest_revision() == "b2"


def test_code_and_text_around_the_header_lines_change_nothing(
    versions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (versions / "a1.py").write_text('revision = "a1"\ndown_revision = None\n')
    (versions / "b2.py").write_text(
        '"""Second."""\nimport sqlalchemy as sa\n\nrevision_note = "not a header"\n'
        'revision = "b2"  # this one\ndown_revision = "a1"\n\n\n'
        "def upgrade() -> None:\n    revision = 'inside a function'\n    print(revision)\n"
    )
    refuse_alembic(monkeypatch)

    assert migrate.newest_revision() == "b2"


def test_the_project_revisions_read_from_their_header_lines_as_from_whole_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = sorted((migrate.MIGRATIONS / "versions").glob("*.py"))
    from_lines = [migrate._header(path) for path in paths]
    monkeypatch.setattr(migrate, "HEADER_LINES", re.compile(r"^.*$", re.MULTILINE))
    from_whole_files = [migrate._header(path) for path in paths]

    assert len(paths) > 1
    for path, lines, whole in zip(paths, from_lines, from_whole_files, strict=True):
        assert lines["revision"] == whole["revision"], path.name
        assert lines["down_revision"] == whole["down_revision"], path.name
