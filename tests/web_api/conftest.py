"""Fixtures of the API tests: the web app over the ``env`` store, keys of the tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import STAFF, Tenant
from web_api.rate import RateLimit
from web_sign import create_app
from workflows import api_keys
from workflows.context import Env
from workflows.webhooks.addresses import AddressPolicy

PUBLIC_URL = "http://127.0.0.1:8080"
EVERY_SCOPE = ("read", "write", "sign", "admin")


async def make_key(
    env: Env,
    tenant: Tenant,
    *,
    name: str = "erp-sync",
    scopes: Sequence[str] = EVERY_SCOPE,
    client_ids: Sequence[int] = (),
) -> str:
    issued = await api_keys.create_key(
        env, org_id=tenant.org_id, actor=STAFF, name=name, scopes=scopes, client_ids=client_ids
    )
    return issued.token


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def rate() -> RateLimit:
    return RateLimit(per_minute=100_000, burst=10_000)


@pytest.fixture
def webhook_policy() -> AddressPolicy | None:
    return None


@pytest.fixture
def app(
    env: Env, tmp_path: Path, rate: RateLimit, webhook_policy: AddressPolicy | None
) -> web.Application:
    return create_app(
        env=env,
        cache_dir=tmp_path / "cache",
        public_url=PUBLIC_URL,
        api_rate=rate,
        api_webhook_policy=webhook_policy,
    )


@pytest.fixture
async def client(aiohttp_client: Any, app: web.Application) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(app)


@pytest.fixture
async def key(env: Env, tenant: Tenant) -> str:
    return await make_key(env, tenant)
