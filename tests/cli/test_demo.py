"""`inkpost demo` in an empty folder: a working link, and again on a second run."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inkpost.cli import app
from tests.cli.conftest import _resolve
from workflows.sharing import access

URL = re.compile(r"^(http://127\.0\.0\.1:(\d+))/d/([A-Za-z0-9_-]+)$", re.MULTILINE)


def _demo(*args: str) -> tuple[str, str, str]:
    result = CliRunner().invoke(app, ["demo", "--no-serve", *args])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    match = URL.search(result.stdout)
    assert match, result.stdout
    return result.stdout, match.group(2), match.group(3)


def test_demo_sets_up_a_shared_document_and_a_second_run_reuses_it() -> None:
    data = Path.cwd() / "inkpost-data"
    assert list(Path.cwd().iterdir()) == []

    first_out, port, first_token = _demo()

    assert port == "8080" and "Created the demo organisation 'demo'" in first_out
    assert (data / "inkpost.db").is_file()
    found = _resolve_here(first_token)
    assert found.document.title == "Fee table 2027" and found.document.page_count == 4

    second_out, _, second_token = _demo("--port", "8099")

    assert "Reused the demo organisation 'demo'" in second_out
    assert "http://127.0.0.1:8099/d/" in second_out
    assert second_token != first_token
    again = _resolve_here(second_token)
    assert again.document.id == found.document.id
    assert _resolve_here(first_token).share.id == found.share.id


def test_an_explicit_public_url_is_used_for_the_demo_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKPOST_PUBLIC_URL", "https://docs.example.test/portal")
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--port", "9000"])
    assert result.exit_code == 0, result.stderr
    assert "https://docs.example.test/portal/d/" in result.stdout


def _resolve_here(token: str) -> access.SharedDocument:
    data = Path.cwd() / "inkpost-data"
    url = f"sqlite+aiosqlite:///{data / 'inkpost.db'}"
    return asyncio.run(_resolve(url, data / "blobs", token))
