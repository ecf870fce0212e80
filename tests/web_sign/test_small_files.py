"""Small files answered from memory: the same answers as from the file, read once,
checked before they are kept, and bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from inkpost.sample_pdf import make_pdf
from storage.models import Document
from tests.conftest import Tenant
from tests.web_sign.conftest import PUBLIC_URL, Link, events, make_link
from web_sign import create_app
from web_sign.downloads import Validators
from web_sign.small_files import SmallFiles
from web_sign.state import SMALL_FILES
from workflows.context import Env

VALIDATORS = Validators('"etag"', 0, 0.0)
SENT_HEADERS = (
    "Content-Type",
    "Content-Disposition",
    "Content-Length",
    "ETag",
    "Last-Modified",
    "Accept-Ranges",
    "Content-Range",
    "Cache-Control",
)


@pytest.fixture
async def from_files(aiohttp_client: Any, env: Env, tmp_path: Path) -> AsyncIterator[TestClient]:
    """The app with nothing kept in memory: every file goes out by sendfile."""
    app = create_app(env=env, cache_dir=tmp_path / "cache-files", public_url=PUBLIC_URL)
    app[SMALL_FILES] = SmallFiles(env.blobs, max_file=0)
    yield await aiohttp_client(app)


def _blob(env: Env, document: Document) -> Path:
    path = env.blobs.local_path(document.blob_key)
    assert path is not None
    return path


@pytest.mark.parametrize(
    "headers",
    [{}, {"Range": "bytes=0-99"}, {"Range": "bytes=-10"}, {"Range": "bytes=100-"}],
    ids=["whole", "first-100", "last-10", "from-100"],
)
async def test_memory_answers_as_the_file_does(
    client: TestClient, from_files: TestClient, env: Env, link: Link, headers: dict[str, str]
) -> None:
    first_read = await client.get(link.file, headers=headers)
    kept = await client.get(link.file, headers=headers)
    from_file = await from_files.get(link.file, headers=headers)

    for from_memory in (first_read, kept):
        assert from_memory.status == from_file.status
        assert await from_memory.read() == await from_file.read()
        for name in SENT_HEADERS:
            assert from_memory.headers.get(name) == from_file.headers.get(name), name
    assert client.app[SMALL_FILES].total == link.document.size


async def test_a_kept_file_answers_conditions_and_ranges_without_its_file(
    client: TestClient, from_files: TestClient, env: Env, link: Link
) -> None:
    etag = (await client.get(link.file)).headers["ETag"]  # kept from here on
    asked = [
        {"If-None-Match": etag},
        {"If-Match": '"another"'},
        {"Range": f"bytes={link.document.size}-"},
        {"If-None-Match": '"another"', "Range": "bytes=0-9"},
    ]
    from_file = [await from_files.get(link.file, headers=headers) for headers in asked]
    _blob(env, link.document).unlink()

    from_memory = [await client.get(link.file, headers=headers) for headers in asked]

    assert [r.status for r in from_memory] == [r.status for r in from_file] == [304, 412, 416, 206]
    for mine, theirs in zip(from_memory, from_file, strict=True):
        assert await mine.read() == await theirs.read()
        for name in SENT_HEADERS:
            assert mine.headers.get(name) == theirs.headers.get(name), name


async def test_conditions_are_judged_before_memory_is_asked(
    client: TestClient, env: Env, link: Link
) -> None:
    first = await client.get(link.file)
    again = await client.get(link.file, headers={"If-None-Match": first.headers["ETag"]})
    beyond = await client.get(link.file, headers={"Range": f"bytes={link.document.size}-"})

    assert (first.status, again.status, beyond.status) == (200, 304, 416)
    assert await again.read() == b""
    assert len(await events(env, "document.downloaded")) == 1


async def test_a_kept_file_is_read_once(client: TestClient, env: Env, link: Link) -> None:
    path = _blob(env, link.document)
    data = path.read_bytes()
    assert (await client.get(link.file)).status == 200
    path.write_bytes(b"x" * len(data))  # not read again: blobs never change

    second = await client.get(link.file)

    assert await second.read() == data


async def test_bytes_that_do_not_match_the_document_are_not_kept(env: Env, tenant: Tenant) -> None:
    link = await make_link(env, tenant)
    path = _blob(env, link.document)
    path.write_bytes(b"%PDF-" + b"0" * (link.document.size - 5))
    files = SmallFiles(env.blobs)

    assert await files.content(link.document, VALIDATORS) is None
    assert files.total == 0
    path.unlink()
    assert await files.content(link.document, VALIDATORS) is None


async def test_large_files_are_not_kept_and_the_least_recently_used_leave_first(
    env: Env, tenant: Tenant
) -> None:
    a, b, c = [
        (await make_link(env, tenant, data=make_pdf(f"Letter {n}", pages=1))).document
        for n in "abc"
    ]
    assert len({a.blob_key, b.blob_key, c.blob_key}) == 3
    size = max(d.size for d in (a, b, c))
    files = SmallFiles(env.blobs, max_file=size, max_total=a.size + b.size + c.size - 1)

    assert await files.content(a, VALIDATORS) == _blob(env, a).read_bytes()
    assert await files.content(b, VALIDATORS) is not None
    assert await files.content(a, VALIDATORS) is not None  # a is now the most recently used
    assert await files.content(c, VALIDATORS) is not None  # b leaves

    assert files.total == a.size + c.size
    _blob(env, b).unlink()
    assert await files.content(b, VALIDATORS) is None
    _blob(env, a).unlink()
    assert await files.content(a, VALIDATORS) is not None
    assert not SmallFiles(env.blobs, max_file=a.size - 1).fits(a)
