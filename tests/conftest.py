"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, blobs, a clock, a tenant."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory, sqlite_url
from tests.evidence import every_sealed_file_checked
from tests.fakes.seaweed import S3Server, run_seaweed
from tests.postgres import PostgresStore
from workflows.context import Actor, Env, FixedClock, Limits
from workflows.people import organizations, recipients

pytest_plugins = ["tests.fakes.telegram_api", "tests.fakes.smtp", "tests.fakes.slack_api"]

PG_ADMIN_URL = os.environ.get(
    "INKPOST_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("INKPOST_REQUIRE_POSTGRES") == "1"
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STAFF = Actor.system("tests")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        if isinstance(host, str) and not _loopback(host):
            raise RuntimeError(f"tests may not reach the network ({host})")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test that wants one."""
    path = tmp_path_factory.mktemp("template") / "inkpost.db"

    async def build() -> None:
        engine = make_engine(sqlite_url(path))
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def postgres_store() -> Iterator[PostgresStore]:
    """A database of its own for this test run: migrated once, emptied before each test
    that uses it, dropped at the end."""
    if not _postgres_reachable():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL is required (INKPOST_REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    store = PostgresStore(PG_ADMIN_URL)
    try:
        store.create()
        yield store
    finally:
        store.drop()


@pytest.fixture(autouse=True)
def _sealed_files_are_sound_evidence(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Each PDF sealed in a test passes pdfsig, qpdf --check and pdffonts afterwards."""
    with every_sealed_file_checked(monkeypatch, lambda: tmp_path_factory.mktemp("sealed")):
        yield


@pytest.fixture(autouse=True)
def data_dir_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built in a test never fall back to ./inkpost-data in the checkout (where
    `inkpost serve` would create its seal)."""
    monkeypatch.setenv("INKPOST_DATA_DIR", str(tmp_path / "inkpost-data"))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty store of the test's own: a copy of the SQLite template, or the
    session's PostgreSQL database emptied (ids start at 1 again)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "inkpost.db"
        shutil.copy(template, path)
        return sqlite_url(path)
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
def postgres_database(postgres_store: PostgresStore) -> str:
    """The session's PostgreSQL database, emptied for this test: its URL."""
    postgres_store.empty()
    return postgres_store.url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def env(engine: AsyncEngine, tmp_path: Path, clock: FixedClock) -> Env:
    return Env(
        sessions=make_session_factory(engine),
        blobs=FileBlobStore(tmp_path / "blobs"),
        clock=clock,
        limits=Limits(max_upload_bytes=2 * 1024 * 1024),
    )


@dataclass(frozen=True)
class Tenant:
    org_id: int
    client_id: int
    recipient_id: int
    staff_id: int


async def make_tenant(env: Env, slug: str = "acme") -> Tenant:
    org = await organizations.create_organization(
        env, slug=slug, name=f"{slug.title()} Law", actor=STAFF
    )
    assert org.id is not None
    staff = await organizations.add_staff(
        env, org_id=org.id, actor=STAFF, name="Stella Staff", email=f"stella@{slug}.test"
    )
    client = await organizations.add_client(env, org_id=org.id, actor=STAFF, name="Nordic Timber")
    assert client.id is not None
    person = await recipients.add_recipient(
        env,
        org_id=org.id,
        actor=STAFF,
        client_id=client.id,
        name="Rita Recipient",
        email=f"rita@{slug}-client.test",
    )
    assert person.id is not None and staff.id is not None
    return Tenant(org_id=org.id, client_id=client.id, recipient_id=person.id, staff_id=staff.id)


@pytest.fixture
async def tenant(env: Env) -> Tenant:
    return await make_tenant(env)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """``weed mini`` on free loopback ports; started on first use, stopped at session end."""
    with run_seaweed() as server:
        yield server
