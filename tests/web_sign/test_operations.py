"""What operators see: health, metrics and logs, and that no link token reaches them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from storage.errors import BlobStoreUnavailable
from tests.web_sign.conftest import PUBLIC_URL, Link
from web_sign import RedactingAccessLogger, create_app
from web_sign.logs import redact
from workflows.context import Env
from workflows.sharing import access


class BrokenMedium(FileBlobStore):
    async def check(self) -> None:
        raise BlobStoreUnavailable("the disk is gone")


def logged_text(records: list[logging.LogRecord]) -> str:
    """Everything a handler could write: messages, tracebacks and extra fields."""
    formatter = logging.Formatter()
    return "\n".join(
        formatter.format(record) + " " + " ".join(map(str, vars(record).values()))
        for record in records
    )


async def test_healthz_answers_ok_when_store_and_medium_work(client: TestClient) -> None:
    response = await client.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "blobs": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


async def test_healthz_answers_503_naming_a_failing_medium(
    aiohttp_client: Any, env: Env, tmp_path: Path
) -> None:
    broken = dataclasses.replace(env, blobs=BrokenMedium(tmp_path / "blobs"))
    client = await aiohttp_client(
        create_app(env=broken, cache_dir=tmp_path / "cache", public_url=PUBLIC_URL)
    )

    response = await client.get("/healthz")

    assert response.status == 503
    assert await response.json() == {"status": "unavailable", "database": "ok", "blobs": "failed"}


@pytest.fixture
async def unreachable_database(tmp_path: Path) -> AsyncIterator[Env]:
    engine = make_engine("postgresql+asyncpg://inkpost@127.0.0.1:1/inkpost")
    yield Env(sessions=make_session_factory(engine), blobs=FileBlobStore(tmp_path / "blobs"))
    await engine.dispose()


async def test_healthz_answers_503_naming_a_failing_database(
    aiohttp_client: Any, unreachable_database: Env, tmp_path: Path
) -> None:
    client = await aiohttp_client(
        create_app(env=unreachable_database, cache_dir=tmp_path / "cache", public_url=PUBLIC_URL)
    )

    response = await client.get("/healthz")

    assert response.status == 503
    assert await response.json() == {"status": "unavailable", "database": "failed", "blobs": "ok"}


async def test_metrics_count_by_route_template_and_never_show_a_token(
    client: TestClient, link: Link, aiohttp_client: Any, env: Env, tmp_path: Path
) -> None:
    await client.get(link.page)
    await (await client.get(link.file)).read()
    await client.get(link.preview(1))
    await client.get("/d/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

    response = await client.get("/metrics")

    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert link.token not in text
    assert 'inkpost_http_requests_total{method="GET",route="/d/{token}",status="200"} 1.0' in text
    assert 'route="/d/{token}",status="404"} 1.0' in text
    assert 'route="/d/{token}/pages/{number}.png"' in text
    assert 'inkpost_http_request_duration_seconds_bucket{le="0.1",route="/d/{token}/file"}' in text
    assert "inkpost_documents_opened_total 1.0" in text
    assert "inkpost_documents_downloaded_total 1.0" in text
    assert f'inkpost_bytes_served_total{{route="/d/{{token}}/file"}} {link.document.size}.0' in text

    other = await aiohttp_client(
        create_app(env=env, cache_dir=tmp_path / "other", public_url=PUBLIC_URL)
    )
    assert "inkpost_documents_opened_total 0.0" in await (await other.get("/metrics")).text()


def test_redact_hides_the_token_segment_of_link_paths() -> None:
    assert redact("GET /d/abcDEF123_-abcDEF123/file HTTP/1.1") == "GET /d/…/file HTTP/1.1"
    assert redact("/s/abcDEF123_-abcDEF123") == "/s/…"
    assert redact("POST /me/sign-in/abcDEF123_-abcDEF123 HTTP/1.1") == "POST /me/sign-in/… HTTP/1.1"
    assert redact("GET /me/unsubscribe/abcDEF123_-abcDEF123") == "GET /me/unsubscribe/…"
    assert redact("GET /me/documents/12 and /me/sign-in") == "GET /me/documents/12 and /me/sign-in"
    assert redact("/healthz and /static/style.css") == "/healthz and /static/style.css"


async def test_access_and_error_logs_never_contain_a_token(
    app: web.Application,
    link: Link,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    runner = web.AppRunner(app, access_log_class=RedactingAccessLogger)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            for path in (link.page, link.file, link.preview(1), f"{link.page}/nothing"):
                async with session.get(base + path, headers={"Referer": base + link.page}) as r:
                    await r.read()

            async def broken(*args: object, **kwargs: object) -> None:
                raise RuntimeError(f"cannot open {link.token} at /d/{link.token}")

            monkeypatch.setattr(access, "open_shared", broken)
            async with session.get(base + link.page) as r:
                assert r.status == 500
    finally:
        await runner.cleanup()

    access_lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(access_lines) == 5
    assert any('"GET /d/…/file HTTP/1.1" 200' in line for line in access_lines)
    assert any("RuntimeError: cannot open … at /d/…" in r.getMessage() for r in caplog.records)
    assert link.token not in logged_text(caplog.records)


async def test_a_page_answers_503_when_the_database_is_out_of_reach(
    aiohttp_client: Any, unreachable_database: Env, tmp_path: Path
) -> None:
    client = await aiohttp_client(
        create_app(env=unreachable_database, cache_dir=tmp_path / "cache", public_url=PUBLIC_URL)
    )

    response = await client.get("/d/" + "a" * 43)

    assert response.status == 503
    assert response.headers["Retry-After"] == "30"
    html = await response.text()
    assert "Temporarily unavailable" in html
    assert "127.0.0.1" not in html and "Connect call failed" not in html


async def test_the_api_answers_503_when_the_database_is_out_of_reach(
    aiohttp_client: Any, unreachable_database: Env, tmp_path: Path
) -> None:
    client = await aiohttp_client(
        create_app(env=unreachable_database, cache_dir=tmp_path / "cache", public_url=PUBLIC_URL)
    )

    response = await client.get(
        "/api/v1/documents", headers={"Authorization": "Bearer ink_" + "a" * 40}
    )

    assert response.status == 503
    assert response.headers["Retry-After"] == "30"
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["type"].endswith("/unavailable")
    assert problem["detail"] == "the store is unavailable"
