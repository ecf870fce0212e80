"""Alembic migrations, run programmatically on an async engine.

Every command first asks whether the schema is current (``is_current``). That question is
answered from the revision files' headers and the version table, without importing
alembic, which would cost a short command more than all its work; applying migrations,
and anything unusual about the revision files, goes through alembic.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
MIGRATION_LOCK = int.from_bytes(b"inkpost:migrate"[:8], "big") >> 1
"""The advisory lock key migrations take turns under (a positive 63-bit number)."""
UNREADABLE = object()
"""A header value that is not a plain literal."""
HEADER_LINES = re.compile(r"^(?:revision|down_revision)\b.*$", re.MULTILINE)
"""The lines of a revision file that may assign its revision or the one it revises."""


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@cache
def newest_revision() -> str | None:
    """``head_revision`` read from the revision files' ``revision`` and ``down_revision``
    lines; alembic decides when the files are not one plain line of revisions."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        header = _header(path)
        revision = header.get("revision")
        down = header.get("down_revision", UNREADABLE)
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return head_revision()
        revisions.add(revision)
        if down is not None:
            parents.add(down)
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions:
        return head_revision()
    return heads.pop()


def _header(path: Path) -> dict[str, object]:
    """The module-level constants a revision file assigns (``revision: str = "0003"``).

    Only the lines that may assign ``revision`` or ``down_revision`` are parsed, a tenth of
    the work of parsing each file whole, which every command would pay; a file whose lines
    do not parse on their own (an assignment over several lines) is parsed whole."""
    source = path.read_text(encoding="utf-8")
    try:
        module = ast.parse("\n".join(HEADER_LINES.findall(source)), filename=str(path))
    except SyntaxError:
        module = ast.parse(source, filename=str(path))
    values: dict[str, object] = {}
    for node in module.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Assign):
            targets = node.targets
        value = getattr(node, "value", None)
        if len(targets) == 1 and isinstance(targets[0], ast.Name) and value is not None:
            target = targets[0]
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                values[target.id] = UNREADABLE
    return values


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _stored(connection: Connection) -> list[str]:
    if not inspect(connection).has_table(VERSION_TABLE):
        return []
    return list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the database holds exactly the newest revision (``needs_upgrade``'s answer,
    the other way round, without alembic)."""
    async with engine.connect() as conn:
        stored = await conn.run_sync(_stored)
    return stored == [newest_revision()]


async def needs_upgrade(engine: AsyncEngine) -> bool:
    return await current_revision(engine) != head_revision()


async def upgrade(engine: AsyncEngine) -> bool:
    """Bring the schema to the newest revision; True when anything was applied. On
    PostgreSQL, processes starting at once take turns (an advisory lock held until the
    migration commits), and those that waited find the work done."""
    if not await needs_upgrade(engine):
        return False
    async with engine.begin() as conn:
        return await conn.run_sync(_upgrade_in_turn)


def _upgrade_in_turn(connection: Connection) -> bool:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        if _current(connection) == head_revision():
            return False
    _upgrade(connection)
    return True
