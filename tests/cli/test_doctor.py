"""`inkpost doctor` against real local services and the fakes: each part working, and each
broken on purpose, says so in one line; the exit code is 1 only when a configured part
fails."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from asn1crypto import tsp
from minio import Minio
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from sqlalchemy import text
from telegram import BotCommand, MenuButtonWebApp, WebAppInfo
from typer.testing import CliRunner

from bot.telegram.app import COMMANDS
from inkpost.cli import app
from storage import migrate
from storage.blobs import stage
from storage.db import make_engine, sqlite_url
from storage.s3 import S3BlobStore
from tests.fakes.seaweed import S3Server, http_pool
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_socket import DEFAULT_APP_TOKEN
from tests.fakes.smtp import SMTP_CREDENTIALS, SmtpServer
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.tsa import serving_tsa, tsa_identity
from workflows.signing.seal_keys import SEAL_VALIDITY, create_self_signed_seal

PUBLIC_URL = "https://docs.example.test"
HEAD = migrate.head_revision()
Env = dict[str, str | None]


@dataclass(frozen=True)
class Report:
    """What one run of `inkpost doctor` printed, line by line, by part."""

    code: int
    lines: dict[str, str]
    stderr: str

    def line(self, part: str) -> str:
        return self.lines[part]


@dataclass(frozen=True)
class Home:
    """An installation as `inkpost init` leaves it: database, blob directory, seal."""

    data_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "inkpost.db"

    def doctor(self, env: Env | None = None, *args: str) -> Report:
        result = CliRunner().invoke(app, ["doctor", *args], env=env)
        assert "Traceback" not in result.stderr, result.stderr
        lines = {line.split()[1]: line for line in result.stdout.splitlines()}
        return Report(result.exit_code, lines, result.stderr)

    async def doctor_meanwhile(self, env: Env | None = None, *args: str) -> Report:
        """Run it in a thread: the fakes answer from this test's event loop meanwhile."""
        return await asyncio.to_thread(self.doctor, env, *args)


@pytest.fixture
def home(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    data_dir = tmp_path / "data"
    (data_dir / "blobs").mkdir(parents=True)
    shutil.copy(sqlite_template, data_dir / "inkpost.db")
    create_self_signed_seal(data_dir / "seal", common_name="Acme Law seal")
    monkeypatch.setenv("INKPOST_DATA_DIR", str(data_dir))
    monkeypatch.setenv("INKPOST_PUBLIC_URL", PUBLIC_URL)
    return Home(data_dir)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def execute(database: Path, sql: str) -> None:
    async def run() -> None:
        engine = make_engine(sqlite_url(database))
        async with engine.begin() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(run())


# -- the whole installation ------------------------------------------------------------------


def test_an_initialised_installation_is_ok_and_what_is_not_configured_is_skipped(
    home: Home,
) -> None:
    report = home.doctor()

    assert report.code == 0, report
    assert report.line("database") == (
        f"ok    database  sqlite at {home.database}: reachable, schema at {HEAD}"
    )
    assert report.line("blobs").startswith(
        f"ok    blobs     file store at {home.data_dir / 'blobs'}: writable (a probe file was "
        "written to .staging and removed), "
    )
    until = (dt.datetime.now(dt.UTC) + SEAL_VALIDITY).date()
    assert report.line("seal") in {
        f"ok    seal      CN=Acme Law seal, self-signed, valid until {day}, from "
        f"{home.data_dir / 'seal' / 'seal.pem'}"
        for day in (until - dt.timedelta(days=1), until)
    }
    assert report.line("mail") == (
        "skip  mail      not configured (set INKPOST_SMTP_URL to mail recipients without Telegram)"
    )
    assert report.line("telegram").startswith("skip  telegram  not configured (set INKPOST_TELEG")
    assert report.line("slack").startswith("skip  slack     not configured (set INKPOST_SLACK_BOT")
    assert report.line("tsa").startswith("skip  tsa       not configured (set INKPOST_TSA_URL")
    assert list(report.lines) == ["database", "blobs", "mail", "telegram", "slack", "seal", "tsa"]


def test_json_gives_every_part_its_status(home: Home) -> None:
    result = CliRunner().invoke(app, ["doctor", "--json"], env={"INKPOST_TSA_URL": "ftp://x"})
    assert result.exit_code == 1
    parts = {row["part"]: row["status"] for row in json.loads(result.stdout)}
    assert parts == {
        "database": "ok",
        "blobs": "ok",
        "mail": "skip",
        "telegram": "skip",
        "slack": "skip",
        "seal": "ok",
        "tsa": "fail",
    }


def test_a_missing_installation_fails_and_nothing_is_created(home: Home, tmp_path: Path) -> None:
    nowhere = tmp_path / "not-yet"
    report = home.doctor({"INKPOST_DATA_DIR": str(nowhere)})

    assert report.code == 1
    assert report.line("database") == (
        f"FAIL  database  sqlite at {nowhere / 'inkpost.db'}: there is no database — run "
        "`inkpost init`"
    )
    assert report.line("blobs") == (
        f"FAIL  blobs     file store at {nowhere / 'blobs'}: the directory does not exist — run "
        "`inkpost init`"
    )
    assert report.line("seal").startswith(f"FAIL  seal      there is no seal in {nowhere / 'seal'}")
    assert "run `inkpost init`" in report.line("seal")
    assert not nowhere.exists()


# -- database ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revision", "problem"),
    [
        ("0004", f"schema at 0004, this version needs {HEAD} — run `inkpost db upgrade`"),
        ("9999", "schema at 9999, a revision this version of Inkpost does not know"),
    ],
)
def test_a_database_not_at_the_code_s_revision_fails(
    home: Home, revision: str, problem: str
) -> None:
    execute(home.database, f"UPDATE alembic_version SET version_num = '{revision}'")
    report = home.doctor()
    assert report.code == 1
    assert report.line("database").startswith(
        f"FAIL  database  sqlite at {home.database}: {problem}"
    )


def test_an_empty_database_needs_init(home: Home) -> None:
    home.database.unlink()
    home.database.touch()
    report = home.doctor()
    assert report.code == 1
    assert report.line("database") == (
        f"FAIL  database  sqlite at {home.database}: reachable but empty (no schema) — run "
        "`inkpost init`"
    )


def test_an_unreachable_postgresql_fails_at_once(home: Home) -> None:
    port = closed_port()
    report = home.doctor(
        {"INKPOST_DATABASE_URL": f"postgresql+asyncpg://inkpost:secret@127.0.0.1:{port}/docs"}
    )
    assert report.code == 1
    line = report.line("database")
    assert line.startswith(f"FAIL  database  postgresql at 127.0.0.1:{port}/docs: cannot connect (")
    assert line.endswith("— check INKPOST_DATABASE_URL and that the server is running")
    assert "secret" not in line


def test_a_migrated_postgresql_is_ok(home: Home, postgres_database: str) -> None:
    report = home.doctor({"INKPOST_DATABASE_URL": postgres_database})
    assert report.code == 0, report
    name = postgres_database.rsplit("/", 1)[1]
    assert report.line("database") == (
        f"ok    database  postgresql at 127.0.0.1:5432/{name}: reachable, schema at {HEAD}"
    )


# -- blob store -------------------------------------------------------------------------------


def test_a_blob_directory_that_cannot_be_written_fails(home: Home) -> None:
    (home.data_dir / "blobs" / ".staging").write_text("in the way")  # works as root, too
    report = home.doctor()
    assert report.code == 1
    line = report.line("blobs")
    assert line.startswith(
        f"FAIL  blobs     file store at {home.data_dir / 'blobs'}: the blob directory "
    )
    assert "is not writable" in line
    assert line.endswith("— give the user running Inkpost write access to it")


@pytest.fixture
def minio(s3_server: S3Server) -> Iterator[Minio]:
    pool = http_pool()
    yield s3_server.client(pool)
    pool.clear()


def s3_env(server: S3Server, bucket: str, *, secret: str | None = None) -> Env:
    return {
        "INKPOST_BLOB_URL": f"s3://{server.endpoint}/{bucket}",
        "INKPOST_S3_ACCESS_KEY": server.access_key,
        "INKPOST_S3_SECRET_KEY": secret or server.secret_key,
        "INKPOST_S3_SECURE": "false",
    }


def object_count(minio: Minio, bucket: str) -> int:
    return len(list(minio.list_objects(bucket, recursive=True, include_version=True)))


async def test_an_s3_bucket_with_object_lock_is_checked_without_writing(
    home: Home, s3_server: S3Server, minio: Minio, tmp_path: Path
) -> None:
    bucket = f"inkpost-doctor-{uuid.uuid4().hex[:12]}"
    store = S3BlobStore(minio, bucket=bucket, retention_days=1, staging_dir=tmp_path / "staging")
    await store.ensure_bucket()
    where = f"s3://{s3_server.endpoint}/{bucket}"

    empty = await home.doctor_meanwhile(s3_env(s3_server, bucket))
    assert empty.code == 0, empty
    assert empty.line("blobs") == (
        f"ok    blobs     {where}: bucket exists, Object Lock and versioning on; no document "
        "stored yet, so no retention to check (nothing written)"
    )

    async def content() -> AsyncIterator[bytes]:
        yield b"a stored document"

    key = await store.commit(await stage(content(), staging_dir=store.staging_dir, max_bytes=1024))
    report = await home.doctor_meanwhile(s3_env(s3_server, bucket))
    assert report.code == 0, report
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date()
    assert report.line("blobs") == (
        f"ok    blobs     {where}: bucket exists, Object Lock and versioning on; "
        f"{store.object_name(key)} held in COMPLIANCE until {until} (nothing written)"
    )
    assert object_count(minio, bucket) == 1


async def test_an_s3_bucket_without_object_lock_fails(
    home: Home, s3_server: S3Server, minio: Minio
) -> None:
    bucket = f"inkpost-doctor-{uuid.uuid4().hex[:12]}"
    minio.make_bucket(bucket)
    report = await home.doctor_meanwhile(s3_env(s3_server, bucket))
    assert report.code == 1
    assert report.line("blobs") == (
        f"FAIL  blobs     s3://{s3_server.endpoint}/{bucket}: Object Lock is off, so stored "
        "documents could be deleted — enable it on the bucket, or name a new bucket "
        "(`inkpost init` creates it with Object Lock)"
    )
    assert object_count(minio, bucket) == 0


async def test_a_missing_bucket_or_wrong_keys_fail(home: Home, s3_server: S3Server) -> None:
    bucket = f"inkpost-doctor-{uuid.uuid4().hex[:12]}"
    where = f"s3://{s3_server.endpoint}/{bucket}"
    missing = await home.doctor_meanwhile(s3_env(s3_server, bucket))
    assert missing.line("blobs") == (
        f"FAIL  blobs     {where}: the bucket does not exist — run `inkpost init`, which "
        "creates it with Object Lock"
    )
    refused = await home.doctor_meanwhile(s3_env(s3_server, bucket, secret="not-the-secret"))
    assert refused.code == 1
    assert refused.line("blobs").startswith(f"FAIL  blobs     {where}: S3 refused: ")
    assert "not-the-secret" not in refused.line("blobs")


# -- mail -------------------------------------------------------------------------------------


def test_a_mail_server_that_answers_is_ok(home: Home, smtp_server: SmtpServer) -> None:
    report = home.doctor(
        {
            "INKPOST_SMTP_URL": f"smtp://{smtp_server.host}:{smtp_server.port}",
            "INKPOST_MAIL_FROM": "Acme Law <docs@acme.test>",
        }
    )
    assert report.code == 0, report
    assert report.line("mail") == (
        f"ok    mail      smtp://127.0.0.1:{smtp_server.port}: connected (no TLS), sending as "
        "Acme Law <docs@acme.test>"
    )
    assert smtp_server.messages == []


def test_a_mail_server_that_is_down_fails(home: Home) -> None:
    port = closed_port()
    report = home.doctor({"INKPOST_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    assert report.code == 1
    line = report.line("mail")
    assert line.startswith(f"FAIL  mail      smtp://127.0.0.1:{port}: cannot connect (")
    assert line.endswith("— check INKPOST_SMTP_URL")


def test_mail_credentials_are_tried(home: Home, smtp_auth_server: SmtpServer) -> None:
    where = f"{smtp_auth_server.host}:{smtp_auth_server.port}"
    user = SMTP_CREDENTIALS.username

    wrong = home.doctor({"INKPOST_SMTP_URL": f"smtp://{user}:wrong-password@{where}"})
    assert wrong.code == 1
    assert wrong.line("mail").startswith(
        f"FAIL  mail      smtp://{where}: the server refused the user name or password (535 "
    )
    assert wrong.line("mail").endswith("— check the credentials in INKPOST_SMTP_URL")
    assert "wrong-password" not in wrong.line("mail")

    right = home.doctor({"INKPOST_SMTP_URL": f"smtp://{user}:{SMTP_CREDENTIALS.password}@{where}"})
    assert right.code == 0, right  # a warning: it works
    assert right.line("mail") == (
        f"warn  mail      smtp://{where}: connected (no TLS, logged in as {user}), sending as "
        "Inkpost <no-reply@127.0.0.1>; the server offers no STARTTLS, so the password and the "
        "mail travel unencrypted — use smtps:// or a server with STARTTLS"
    )


# -- Telegram ---------------------------------------------------------------------------------


def telegram_env(fake: FakeTelegramApi, **extra: str) -> Env:
    return {
        "INKPOST_TELEGRAM_TOKEN": fake.token,
        "INKPOST_TELEGRAM_API_URL": fake.url,
        **{f"INKPOST_{name.upper()}": value for name, value in extra.items()},
    }


async def set_commands(fake: FakeTelegramApi) -> None:
    async with fake.bot() as bot:
        await bot.set_my_commands([BotCommand(c, c) for c in COMMANDS])


async def test_a_polling_bot_with_its_commands_is_ok(
    home: Home, telegram_api: FakeTelegramApi
) -> None:
    await set_commands(telegram_api)
    report = await home.doctor_meanwhile(telegram_env(telegram_api))
    assert report.code == 0, report
    assert report.line("telegram") == (
        f"ok    telegram  @inkpost_test_bot: long polling (no webhook); {len(COMMANDS)} commands "
        "set; menu button: default"
    )


async def test_a_bad_telegram_token_fails(home: Home, telegram_api: FakeTelegramApi) -> None:
    env = telegram_env(telegram_api) | {"INKPOST_TELEGRAM_TOKEN": "123456:NotTheRightToken"}
    report = await home.doctor_meanwhile(env)
    assert report.code == 1
    assert report.line("telegram") == (
        "FAIL  telegram  getMe refused the token: Unauthorized — check INKPOST_TELEGRAM_TOKEN"
    )


async def test_commands_not_set_are_a_warning(home: Home, telegram_api: FakeTelegramApi) -> None:
    report = await home.doctor_meanwhile(telegram_env(telegram_api))
    assert report.code == 0
    assert report.line("telegram") == (
        "warn  telegram  @inkpost_test_bot: no commands set: `inkpost serve` sets them when it "
        "starts; long polling (no webhook); menu button: default"
    )


async def test_a_webhook_must_point_at_the_public_url(
    home: Home, telegram_api: FakeTelegramApi
) -> None:
    await set_commands(telegram_api)
    env = telegram_env(
        telegram_api, public_url="http://127.0.0.1:8080", telegram_webhook_secret="hook-secret"
    )
    async with telegram_api.bot() as bot:
        await bot.set_webhook("http://127.0.0.1:9999/telegram/webhook", secret_token="x")
    wrong = await home.doctor_meanwhile(env)
    assert wrong.code == 1
    assert wrong.line("telegram").startswith(
        "FAIL  telegram  @inkpost_test_bot: the webhook points at "
        "http://127.0.0.1:9999/telegram/webhook, not http://127.0.0.1:8080/telegram/webhook — "
        "check INKPOST_PUBLIC_URL and restart `inkpost serve`"
    )

    async with telegram_api.bot() as bot:
        await bot.set_webhook("http://127.0.0.1:8080/telegram/webhook", secret_token="x")
    right = await home.doctor_meanwhile(env)
    assert right.code == 0, right
    assert right.line("telegram") == (
        "ok    telegram  @inkpost_test_bot: webhook at http://127.0.0.1:8080/telegram/webhook; "
        f"{len(COMMANDS)} commands set; menu button: default"
    )

    # Polling while a webhook is set: serve removes it, unless another installation uses it.
    polling = await home.doctor_meanwhile(telegram_env(telegram_api))
    assert polling.code == 0
    assert polling.line("telegram").startswith(
        "warn  telegram  @inkpost_test_bot: a webhook is set "
        "(http://127.0.0.1:8080/telegram/webhook), so long polling gets no updates"
    )


async def test_a_menu_button_opening_another_site_fails(
    home: Home, telegram_api: FakeTelegramApi
) -> None:
    await set_commands(telegram_api)
    async with telegram_api.bot() as bot:
        await bot.set_chat_menu_button(
            menu_button=MenuButtonWebApp("Documents", WebAppInfo("https://elsewhere.test/me"))
        )
    report = await home.doctor_meanwhile(telegram_env(telegram_api))
    assert report.code == 1
    assert report.line("telegram") == (
        "FAIL  telegram  @inkpost_test_bot: the menu button opens https://elsewhere.test/me, not "
        f"a page of INKPOST_PUBLIC_URL ({PUBLIC_URL}) — restart `inkpost serve`; long polling "
        f"(no webhook); {len(COMMANDS)} commands set"
    )


# -- Slack ------------------------------------------------------------------------------------


def slack_env(fake: FakeSlackApi, **extra: str) -> Env:
    return {
        "INKPOST_SLACK_BOT_TOKEN": fake.token,
        "INKPOST_SLACK_API_URL": fake.api_url,
        "INKPOST_SLACK_SIGNING_SECRET": "signing-secret",
        **{f"INKPOST_{name.upper()}": value for name, value in extra.items()},
    }


async def test_a_slack_app_with_every_scope_is_ok(home: Home, slack_api: FakeSlackApi) -> None:
    report = await home.doctor_meanwhile(slack_env(slack_api))
    assert report.code == 0, report
    assert report.line("slack") == (
        "ok    slack     Inkpost Test (T0001) as inkpost: every scope the app needs is granted; "
        f"requests at {PUBLIC_URL}/slack/events"
    )


async def test_an_invalid_slack_token_fails(home: Home, slack_api: FakeSlackApi) -> None:
    env = slack_env(slack_api) | {"INKPOST_SLACK_BOT_TOKEN": "xoxb-not-the-token"}
    report = await home.doctor_meanwhile(env)
    assert report.code == 1
    assert report.line("slack") == (
        "FAIL  slack     auth.test refused the bot token: invalid_auth — check "
        "INKPOST_SLACK_BOT_TOKEN"
    )


async def test_a_slack_outage_is_not_blamed_on_the_token(
    home: Home, slack_api: FakeSlackApi
) -> None:
    slack_api.outage(1, methods=["auth.test"])
    report = await home.doctor_meanwhile(slack_env(slack_api))
    assert report.code == 1
    assert report.line("slack") == (
        "FAIL  slack     Slack's Web API answered HTTP 503 (service_unavailable) — try again later"
    )


async def test_missing_slack_scopes_are_named(home: Home, slack_api: FakeSlackApi) -> None:
    slack_api.scopes = ("chat:write", "commands", "users:read")
    report = await home.doctor_meanwhile(slack_env(slack_api))
    assert report.code == 1
    assert report.line("slack") == (
        "FAIL  slack     Inkpost Test (T0001) as inkpost: the bot lacks the scopes "
        "app_mentions:read, files:read, im:history — add them to the app (see `inkpost slack "
        f"manifest`) and reinstall it; requests at {PUBLIC_URL}/slack/events"
    )


async def test_socket_mode_needs_an_app_token_slack_accepts(
    home: Home, slack_api: FakeSlackApi
) -> None:
    good = await home.doctor_meanwhile(slack_env(slack_api, slack_app_token=DEFAULT_APP_TOKEN))
    assert good.code == 0, good
    assert good.line("slack") == (
        "ok    slack     Inkpost Test (T0001) as inkpost: every scope the app needs is granted; "
        "Socket Mode: the app token opens connections"
    )
    bad = await home.doctor_meanwhile(slack_env(slack_api, slack_app_token="xapp-1-wrong"))
    assert bad.code == 1
    assert bad.line("slack") == (
        "FAIL  slack     Inkpost Test (T0001) as inkpost: apps.connections.open refused the app "
        "token: invalid_auth — check INKPOST_SLACK_APP_TOKEN (an app-level token with "
        "connections:write); every scope the app needs is granted"
    )


async def test_slack_over_plain_http_is_a_warning(home: Home, slack_api: FakeSlackApi) -> None:
    report = await home.doctor_meanwhile(slack_env(slack_api, public_url="http://docs.test"))
    assert report.code == 0
    assert report.line("slack").startswith(
        "warn  slack     Inkpost Test (T0001) as inkpost: Slack sends requests only to https:// "
        "URLs, and they would go to http://docs.test/slack/events"
    )


# -- seal -------------------------------------------------------------------------------------


def seal_env(folder: Path) -> Env:
    return {
        "INKPOST_SEAL_CERT": str(folder / "seal.pem"),
        "INKPOST_SEAL_KEY": str(folder / "seal.key"),
    }


def test_an_expired_seal_fails(home: Home, tmp_path: Path) -> None:
    made = dt.datetime.now(dt.UTC) - SEAL_VALIDITY - dt.timedelta(days=2)
    create_self_signed_seal(tmp_path / "old", common_name="Old seal", now=made)
    report = home.doctor(seal_env(tmp_path / "old"))
    assert report.code == 1
    expired = (made + SEAL_VALIDITY).date()
    assert report.line("seal") == (
        f"FAIL  seal      the seal certificate expired on {expired} ({tmp_path / 'old'}/seal.pem "
        f"and {tmp_path / 'old'}/seal.key) — check INKPOST_SEAL_CERT, INKPOST_SEAL_KEY and "
        "INKPOST_SEAL_PASSPHRASE"
    )


def test_a_seal_expiring_within_30_days_is_a_warning(home: Home, tmp_path: Path) -> None:
    made = dt.datetime.now(dt.UTC) - SEAL_VALIDITY + dt.timedelta(days=10, hours=1)
    create_self_signed_seal(tmp_path / "soon", common_name="Soon seal", now=made)
    report = home.doctor(seal_env(tmp_path / "soon"))
    assert report.code == 0
    assert report.line("seal") == (
        f"warn  seal      CN=Soon seal: expires on {(made + SEAL_VALIDITY).date()} (in 10 days) "
        "— before then, get a new seal and set INKPOST_SEAL_CERT and INKPOST_SEAL_KEY (or "
        "INKPOST_SEAL_PKCS12) to it"
    )


def test_a_seal_whose_key_does_not_match_fails(home: Home, tmp_path: Path) -> None:
    create_self_signed_seal(tmp_path / "other", common_name="Other seal")
    env = seal_env(home.data_dir / "seal") | {"INKPOST_SEAL_KEY": str(tmp_path / "other/seal.key")}
    report = home.doctor(env)
    assert report.code == 1
    assert report.line("seal").startswith(
        "FAIL  seal      the seal key does not match the seal certificate"
    )


# -- timestamp authority ----------------------------------------------------------------------


@pytest.fixture
async def tsa() -> AsyncIterator[tuple[str, list[bytes]]]:
    """An RFC 3161 responder (pyHanko's DummyTimeStamper behind HTTP) and the digests it
    was asked to stamp."""
    cert, key = tsa_identity()
    stamper = DummyTimeStamper(tsa_cert=cert, tsa_key=key)
    digests: list[bytes] = []

    async def answer(request: web.Request) -> web.Response:
        assert request.content_type == "application/timestamp-query"
        query = tsp.TimeStampReq.load(await request.read())
        digests.append(query["message_imprint"]["hashed_message"].native)
        reply = stamper.request_tsa_response(query)
        return web.Response(body=reply.dump(), content_type="application/timestamp-reply")

    async with serving_tsa(answer) as url:
        yield url, digests


@pytest.fixture
async def unavailable_tsa() -> AsyncIterator[str]:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down for maintenance")

    async with serving_tsa(answer) as url:
        yield url


async def test_a_working_tsa_timestamps_a_test_digest(
    home: Home, tsa: tuple[str, list[bytes]]
) -> None:
    url, digests = tsa
    report = await home.doctor_meanwhile({"INKPOST_TSA_URL": url})
    assert report.code == 0, report
    assert report.line("tsa").startswith(
        f"ok    tsa       {url}: timestamped a test digest (signed by Common Name: Test TSA, at "
    )
    assert digests == [hashlib.sha256(b"inkpost doctor").digest()]


async def test_a_tsa_answering_503_fails(home: Home, unavailable_tsa: str) -> None:
    report = await home.doctor_meanwhile({"INKPOST_TSA_URL": unavailable_tsa})
    assert report.code == 1
    assert report.line("tsa") == (
        f"FAIL  tsa       {unavailable_tsa}: answered HTTP 503 Service Unavailable — check "
        "INKPOST_TSA_URL and the TSA's status"
    )


async def test_a_tsa_that_never_answers_fails_within_the_timeout(home: Home) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # accept, read nothing, answer nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        report = await home.doctor_meanwhile(
            {"INKPOST_TSA_URL": f"http://127.0.0.1:{port}/tsa"}, "--timeout", "0.3"
        )
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    assert report.code == 1
    assert report.line("tsa").startswith("FAIL  tsa       ")
    assert "no answer" in report.line("tsa")
