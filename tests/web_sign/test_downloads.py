"""Downloads at /d/{token}/file: bytes, names, ranges, conditional requests, counting."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from storage.blobs import FileBlobStore
from storage.errors import BlobStoreUnavailable
from storage.models import Share
from tests.conftest import Tenant
from tests.web_sign.conftest import (
    PUBLIC_URL,
    Link,
    assert_security_headers,
    events,
    make_link,
)
from web_sign import create_app
from web_sign.downloads import content_disposition
from workflows.context import Env, FixedClock
from workflows.sharing import ranges


class StreamingStore(FileBlobStore):
    """A file store that hides its files, as S3 does: downloads must stream."""

    def local_path(self, key: str) -> Path | None:
        return None


class FailingStore(StreamingStore):
    """Sends the first chunk of a blob and then loses the medium."""

    async def read(
        self, key: str, *, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        if start > 0:
            raise BlobStoreUnavailable("S3 endpoint refused the connection")
        async for chunk in super().read(key, start=start, end=min(end or 10, 10)):
            yield chunk
        raise BlobStoreUnavailable("S3 connection reset")


def stored_bytes(env: Env, link: Link) -> bytes:
    path = env.blobs.local_path(link.document.blob_key)
    assert path is not None
    return path.read_bytes()


@pytest.fixture
async def streamed_client(
    aiohttp_client: Any, env: Env, tmp_path: Path
) -> AsyncIterator[TestClient]:
    streaming = dataclasses.replace(env, blobs=StreamingStore(tmp_path / "blobs"))
    app = create_app(env=streaming, cache_dir=tmp_path / "cache", public_url=PUBLIC_URL)
    yield await aiohttp_client(app)


async def test_download_sends_the_stored_bytes_as_an_attachment(
    client: TestClient, env: Env, link: Link
) -> None:
    response = await client.get(link.file, headers={"User-Agent": "PhoneBrowser/1.0"})

    assert response.status == 200
    assert await response.read() == stored_bytes(env, link)
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"fee-table-2027.pdf\"; filename*=UTF-8''fee-table-2027.pdf"
    )
    assert response.headers["ETag"]
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Cache-Control"] == "no-store"
    assert_security_headers(response.headers)
    downloaded = await events(env, "document.downloaded")
    assert [(e.ip, e.user_agent) for e in downloaded] == [("127.0.0.1", "PhoneBrowser/1.0")]


async def test_a_non_ascii_filename_has_an_ascii_fallback_and_the_exact_name(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(env, tenant, filename="Umowa–zażółć.pdf")

    response = await client.get(link.file)

    header = response.headers["Content-Disposition"]
    assert header == (
        'attachment; filename="Umowa-zazolc.pdf"; '
        "filename*=UTF-8''Umowa%E2%80%93za%C5%BC%C3%B3%C5%82%C4%87.pdf"
    )
    assert response.content_disposition is not None
    assert response.content_disposition.filename == "Umowa–zażółć.pdf"


@pytest.mark.parametrize(
    ("filename", "fallback"),
    [
        ("Договор.pdf", "document.pdf"),
        ('a "quoted"; name.pdf', "a quoted name.pdf"),
        ("100% done.txt", "100 done.txt"),
        ("Ærøskøbing — Straße.pdf", "AEroskobing - Strasse.pdf"),
    ],
)
def test_content_disposition_fallbacks(filename: str, fallback: str) -> None:
    assert f'filename="{fallback}"' in content_disposition(filename)


async def test_if_none_match_answers_304_and_counts_nothing(
    client: TestClient, env: Env, link: Link
) -> None:
    first = await client.get(link.file)
    etag = first.headers["ETag"]

    again = await client.get(link.file, headers={"If-None-Match": etag})

    assert again.status == 304
    assert await again.read() == b""
    assert len(await events(env, "document.downloaded")) == 1


async def test_ranges_send_the_right_bytes_and_count_once_they_make_up_the_file(
    client: TestClient, env: Env, link: Link
) -> None:
    data = stored_bytes(env, link)

    head = await client.get(link.file, headers={"Range": "bytes=0-99"})
    assert await events(env, "document.downloaded") == []
    tail = await client.get(link.file, headers={"Range": "bytes=100-"})
    suffix = await client.get(link.file, headers={"Range": "bytes=-10"})

    assert head.status == tail.status == suffix.status == 206
    assert await head.read() == data[:100]
    assert head.headers["Content-Range"] == f"bytes 0-99/{len(data)}"
    assert await tail.read() == data[100:]
    assert await suffix.read() == data[-10:]
    [counted] = await events(env, "document.downloaded")
    assert counted.details == {"download": 1}


async def test_a_range_does_not_use_up_a_one_download_link_but_the_whole_file_does(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(env, tenant, max_downloads=1)
    size = link.document.size
    other = {"User-Agent": "OtherBrowser/1.0"}

    peeks = [
        await client.get(link.file, headers={"Range": "bytes=0-399"}),
        await client.get(link.file, headers={"Range": "bytes=0-399", **other}),
    ]
    pieces = [
        await client.get(
            link.file, headers={"Range": f"bytes={start}-{min(start + 999, size - 1)}"}
        )
        for start in range(400, size, 1000)
    ]

    assert [r.status for r in peeks + pieces] == [206] * (2 + len(pieces))
    assert len(await events(env, "document.downloaded")) == 1
    refused = await client.get(link.file, headers={"Range": "bytes=0-399", **other})
    assert refused.status == 410 and "download limit" in await refused.text()


async def test_range_progress_is_forgotten_a_day_after_the_last_piece(
    client: TestClient, env: Env, link: Link, clock: FixedClock
) -> None:
    await client.get(link.file, headers={"Range": "bytes=0-99"})
    assert await ranges.forget(env, at=clock.now()) == 0

    assert await ranges.forget(env, at=clock.now() + ranges.KEPT + timedelta(seconds=1)) == 1
    await client.get(link.file, headers={"Range": "bytes=100-"})
    assert await events(env, "document.downloaded") == []


async def test_an_unsatisfiable_range_answers_416(client: TestClient, env: Env, link: Link) -> None:
    size = link.document.size

    response = await client.get(link.file, headers={"Range": f"bytes={size + 10}-"})

    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert await events(env, "document.downloaded") == []


async def test_head_sends_headers_only_and_counts_nothing(
    client: TestClient, env: Env, link: Link
) -> None:
    response = await client.head(link.file)

    assert response.status == 200
    assert response.headers["Content-Length"] == str(link.document.size)
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert await events(env, "document.downloaded") == []


async def test_a_link_with_one_download_works_once(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(env, tenant, max_downloads=1)
    html = await (await client.get(link.page)).text()
    assert "Downloads left" in html

    first = await client.get(link.file)
    assert first.status == 200
    assert await first.read() == stored_bytes(env, link)

    for path in (link.file, link.page):
        response = await client.get(path)
        assert response.status == 410, path
        assert "download limit" in await response.text()


async def test_forty_parallel_downloads_of_a_three_download_link_let_exactly_three_through(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(env, tenant, max_downloads=3)

    async def fetch() -> tuple[int, bytes]:
        async with client.get(link.file) as response:
            return response.status, await response.read()

    outcomes = await asyncio.gather(*(fetch() for _ in range(40)))

    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200] * 3 + [410] * 37
    assert all(body == stored_bytes(env, link) for status, body in outcomes if status == 200)
    downloaded = await events(env, "document.downloaded")
    assert [event.details["download"] for event in downloaded] == [1, 2, 3]
    async with env.reads() as session:
        share = await session.get(Share, link.share.id)
    assert share is not None and share.download_count == 3


async def test_a_store_without_local_files_streams_with_the_same_rules(
    streamed_client: TestClient, env: Env, link: Link
) -> None:
    client, data = streamed_client, stored_bytes(env, link)

    full = await client.get(link.file)
    assert full.status == 200
    assert await full.read() == data
    assert full.headers["ETag"] == f'"{link.document.sha256}"'
    assert full.headers["Content-Length"] == str(len(data))
    assert full.headers["Content-Disposition"].startswith('attachment; filename="fee-table')
    assert_security_headers(full.headers)

    cached = await client.get(link.file, headers={"If-None-Match": full.headers["ETag"]})
    assert cached.status == 304

    part = await client.get(link.file, headers={"Range": "bytes=10-19"})
    assert part.status == 206
    assert await part.read() == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    suffix = await client.get(link.file, headers={"Range": "bytes=-5"})
    assert await suffix.read() == data[-5:]

    beyond = await client.get(link.file, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(data)}"

    head = await client.head(link.file)
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(data))

    assert len(await events(env, "document.downloaded")) == 1


async def test_a_medium_that_fails_answers_503_or_cuts_the_transfer(
    aiohttp_client: Any, env: Env, link: Link, tmp_path: Path
) -> None:
    failing = dataclasses.replace(env, blobs=FailingStore(tmp_path / "blobs"))
    app = create_app(env=failing, cache_dir=tmp_path / "cache", public_url=PUBLIC_URL)
    client = await aiohttp_client(app)

    before_any_byte = await client.get(link.file, headers={"Range": "bytes=100-"})
    assert before_any_byte.status == 503
    assert before_any_byte.headers["Retry-After"] == "30"
    assert "Temporarily unavailable" in await before_any_byte.text()

    midway = await client.get(link.file)
    assert midway.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await midway.read()
