"""Fixtures of the web tests: the app over the ``env`` store, a client, shared links."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from storage.models import AuditEvent, Document, Share
from tests.conftest import STAFF, Tenant
from tests.helpers import upload
from web_sign import create_app
from workflows.context import Env
from workflows.sharing import links, sharing

PUBLIC_URL = "http://127.0.0.1:8080"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def assert_security_headers(headers: Mapping[str, str]) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name


@dataclass(frozen=True)
class Link:
    token: str
    document: Document
    share: Share

    @property
    def page(self) -> str:
        return f"/d/{self.token}"

    @property
    def file(self) -> str:
        return f"/d/{self.token}/file"

    def preview(self, number: int) -> str:
        return f"/d/{self.token}/pages/{number}.png"


async def make_link(
    env: Env,
    tenant: Tenant,
    *,
    data: bytes | None = None,
    expires_at: datetime | None = None,
    max_downloads: int | None = None,
    **meta: Any,
) -> Link:
    """Upload a document (a 3-page PDF unless ``data``) and create a public link to it."""
    document = await upload(
        env, org_id=tenant.org_id, client_id=tenant.client_id, data=data, **meta
    )
    assert document.id is not None
    result = await links.create_link(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        terms=sharing.ShareTerms(expires_at=expires_at),
        max_downloads=max_downloads,
    )
    assert result.token is not None
    return Link(result.token, document, result.share)


async def events(env: Env, action: str) -> list[AuditEvent]:
    async with env.sessions() as session:
        rows = await session.exec(
            select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
        )
        return list(rows.all())


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def app(env: Env, cache_dir: Path) -> web.Application:
    return create_app(env=env, cache_dir=cache_dir, public_url=PUBLIC_URL)


@pytest.fixture
async def client(aiohttp_client: Any, app: web.Application) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(app)


@pytest.fixture
async def link(env: Env, tenant: Tenant) -> Link:
    return await make_link(env, tenant)
