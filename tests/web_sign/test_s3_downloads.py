"""Downloads and previews of documents kept in S3 (a real SeaweedFS server)."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from inkpost.sample_pdf import make_pdf
from storage.s3 import S3BlobStore
from tests.conftest import Tenant
from tests.fakes.seaweed import S3Server, http_pool
from tests.web_sign.conftest import PUBLIC_URL, events, make_link
from web_sign import create_app
from workflows.context import Env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def s3_env(env: Env, s3_server: S3Server, tmp_path: Path) -> AsyncIterator[Env]:
    pool = http_pool()
    store = S3BlobStore(
        s3_server.client(pool),
        bucket=f"inkpost-web-{uuid.uuid4().hex[:12]}",
        retention_days=1,
        staging_dir=tmp_path / "staging",
    )
    await store.ensure_bucket()
    yield dataclasses.replace(env, blobs=store)
    pool.clear()


@pytest.fixture
async def s3_client(aiohttp_client: Any, s3_env: Env, tmp_path: Path) -> TestClient:
    app = create_app(env=s3_env, cache_dir=tmp_path / "cache", public_url=PUBLIC_URL)
    return await aiohttp_client(app)


async def test_a_document_in_s3_downloads_with_ranges_and_validators(
    s3_client: TestClient, s3_env: Env, tenant: Tenant
) -> None:
    data = make_pdf("Kept in S3", pages=2)
    link = await make_link(s3_env, tenant, data=data, filename="Umowa–zażółć.pdf")

    full = await s3_client.get(link.file)
    assert full.status == 200
    assert await full.read() == data
    assert full.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert full.content_disposition is not None
    assert full.content_disposition.filename == "Umowa–zażółć.pdf"

    part = await s3_client.get(link.file, headers={"Range": "bytes=100-199"})
    assert part.status == 206
    assert await part.read() == data[100:200]
    cached = await s3_client.get(link.file, headers={"If-None-Match": full.headers["ETag"]})
    assert cached.status == 304
    assert len(await events(s3_env, "document.downloaded")) == 1


async def test_a_document_in_s3_gets_previews_from_a_cached_copy(
    s3_client: TestClient, s3_env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    link = await make_link(s3_env, tenant)

    for number in (1, 2):
        response = await s3_client.get(link.preview(number))
        assert response.status == 200
        assert (await response.read()).startswith(b"\x89PNG\r\n\x1a\n")

    copy = tmp_path / "cache" / "previews" / link.document.sha256 / "document.pdf"
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == link.document.sha256
    assert (await s3_client.get("/healthz")).status == 200
