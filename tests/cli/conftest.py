"""The CLI as a user runs it: `inkpost ...` against a temp data dir and a real store."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from inkpost.cli import app
from inkpost.sample_pdf import make_pdf
from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from workflows.context import Env
from workflows.sharing import access

PUBLIC_URL = "http://docs.example.test"


@dataclass
class Cli:
    """Runs `inkpost` in-process with the environment a test set up."""

    runner: CliRunner
    data_dir: Path
    database_url: str

    def __call__(
        self, *args: str, env: dict[str, str | None] | None = None, input: str | None = None
    ) -> Result:
        return self.runner.invoke(app, list(args), env=env, input=input)

    def ok(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        """Run a command that must succeed (exit 0, nothing on stderr)."""
        result = self(*args, env=env)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        result = self.ok(*args, "--json")
        return json.loads(result.stdout)

    def fails(self, *args: str, code: int = 2, env: dict[str, str | None] | None = None) -> str:
        """Run a command that must fail with one line on stderr and nothing on stdout."""
        result = self(*args, env=env)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "Traceback" not in result.stderr
        return lines[0]

    @property
    def blobs_root(self) -> Path:
        return self.data_dir / "blobs"

    def query(self, sql: str, params: dict[str, Any] | None = None) -> Sequence[Any]:
        return asyncio.run(_query(self.database_url, sql, params or {}))

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) FROM {table}")[0][0])

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        asyncio.run(_execute(self.database_url, sql, params or {}))

    def resolve(self, token: str) -> access.SharedDocument:
        """What a visitor with ``token`` would open (raises what the web page would show)."""
        return asyncio.run(_resolve(self.database_url, self.blobs_root, token))


async def _resolve(url: str, blobs: Path, token: str) -> access.SharedDocument:
    engine = make_engine(url)
    try:
        env = Env(sessions=make_session_factory(engine), blobs=FileBlobStore(blobs))
        return await access.resolve(env, token)
    finally:
        await engine.dispose()


async def _query(url: str, sql: str, params: dict[str, Any]) -> Sequence[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), params)).all()
    finally:
        await engine.dispose()


async def _execute(url: str, sql: str, params: dict[str, Any]) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql), params)
    finally:
        await engine.dispose()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No INKPOST_* setting or .env file from outside the test reaches the CLI."""
    for name in list(os.environ):
        if name.startswith("INKPOST_") and not name.startswith("INKPOST_TEST_"):
            monkeypatch.delenv(name)
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The CLI on a migrated, empty store (SQLite and PostgreSQL) and a temp data dir."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("INKPOST_DATA_DIR", str(data_dir))
    monkeypatch.setenv("INKPOST_DATABASE_URL", database_url)
    monkeypatch.setenv("INKPOST_PUBLIC_URL", PUBLIC_URL)
    yield Cli(runner=CliRunner(), data_dir=data_dir, database_url=database_url)


@dataclass(frozen=True)
class Office:
    """An organisation set up through the CLI: one client and one recipient."""

    client_id: int
    recipient_id: int


@pytest.fixture
def office(cli: Cli) -> Office:
    cli.ok("org", "create", "acme", "Acme Law")
    client = cli.json("client", "add", "Nordic Timber")
    recipient = cli.json(
        "recipient",
        "add",
        "Rita Recipient",
        "--client",
        str(client["id"]),
        "--email",
        "rita@nordic.test",
    )
    return Office(client_id=client["id"], recipient_id=recipient["id"])


@pytest.fixture
def pdf_file(tmp_path: Path) -> Path:
    path = tmp_path / "fee-table-2027.pdf"
    path.write_bytes(make_pdf("Fee table 2027", pages=3, lines=["Consultation 180 EUR"]))
    return path
