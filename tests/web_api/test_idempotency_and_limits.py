"""Retried POSTs with an Idempotency-Key create nothing new; too many requests get 429."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlmodel import select

from inkpost.sample_pdf import make_pdf
from storage.models import Client, Document, IdempotencyRecord
from tests.conftest import Tenant
from tests.helpers import count_rows
from tests.web_api.conftest import bearer, make_key
from web_api.rate import RateLimit
from workflows.context import Env, FixedClock
from workflows.idempotency import KEEP_FOR


async def test_a_retry_gets_the_first_answer_and_creates_nothing(
    client: TestClient, env: Env, key: str
) -> None:
    headers = {**bearer(key), "Idempotency-Key": "order-7781"}
    first = await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)
    retry = await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)

    assert first.status == retry.status == 201
    assert await first.json() == await retry.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert await count_rows(env, Client) == 2  # the tenant's own and Baltic
    assert await count_rows(env, IdempotencyRecord) == 1


async def test_the_same_key_with_another_body_is_a_problem(
    client: TestClient, env: Env, key: str
) -> None:
    headers = {**bearer(key), "Idempotency-Key": "order-7782"}
    await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)
    other = await client.post("/api/v1/clients", json={"name": "Pomeranian"}, headers=headers)

    assert other.status == 422
    assert "different request" in (await other.json())["detail"]
    assert await count_rows(env, Client) == 2


async def test_a_retried_upload_stores_one_document(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    pdf = make_pdf("Contract", pages=1)

    def form() -> FormData:
        body = FormData()
        body.add_field("client_id", str(tenant.client_id))
        body.add_field("file", io.BytesIO(pdf), filename="contract.pdf")
        return body

    headers = {**bearer(key), "Idempotency-Key": "upload-1"}
    first = await client.post("/api/v1/documents", data=form(), headers=headers)
    retry = await client.post("/api/v1/documents", data=form(), headers=headers)

    assert first.status == retry.status == 201
    assert (await first.json())["id"] == (await retry.json())["id"]
    assert await count_rows(env, Document) == 1


async def test_keys_are_their_own_namespaces(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    other = await make_key(env, tenant, name="second")
    await client.post(
        "/api/v1/clients", json={"name": "A"}, headers={**bearer(key), "Idempotency-Key": "k"}
    )
    second = await client.post(
        "/api/v1/clients", json={"name": "B"}, headers={**bearer(other), "Idempotency-Key": "k"}
    )
    assert second.status == 201
    assert await count_rows(env, Client) == 3


@pytest.fixture
def rate() -> RateLimit:
    return RateLimit(per_minute=1, burst=3)


async def test_past_the_burst_a_key_gets_429_with_retry_after(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    statuses = [(await client.get("/api/v1/clients", headers=bearer(key))).status for _ in range(3)]
    limited = await client.get("/api/v1/clients", headers=bearer(key))

    assert statuses == [200, 200, 200]
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await limited.json())["type"].endswith("/rate-limited")
    other = await make_key(env, tenant, name="another")
    assert (await client.get("/api/v1/clients", headers=bearer(other))).status == 200


async def test_an_over_long_idempotency_key_is_refused_and_creates_nothing(
    client: TestClient, env: Env, key: str
) -> None:
    headers = {**bearer(key), "Idempotency-Key": "k" * 256}
    response = await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)
    assert response.status == 422
    assert await count_rows(env, Client) == 1


async def test_a_retried_upload_with_another_file_is_refused(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    def form(title: str) -> FormData:
        body = FormData()
        body.add_field("client_id", str(tenant.client_id))
        body.add_field("file", io.BytesIO(make_pdf(title, pages=1)), filename="c.pdf")
        return body

    headers = {**bearer(key), "Idempotency-Key": "upload-2"}
    assert (await client.post("/api/v1/documents", data=form("One"), headers=headers)).status == 201
    other = await client.post("/api/v1/documents", data=form("Two"), headers=headers)
    assert other.status == 422
    assert await count_rows(env, Document) == 1


async def test_after_a_day_the_same_key_is_a_new_request_and_old_answers_go(
    client: TestClient, env: Env, clock: FixedClock, key: str
) -> None:
    headers = {**bearer(key), "Idempotency-Key": "order-9"}
    await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)
    clock.at += KEEP_FOR + timedelta(minutes=1)
    later = await client.post("/api/v1/clients", json={"name": "Pomeranian"}, headers=headers)

    assert later.status == 201 and "Idempotent-Replayed" not in later.headers
    assert await count_rows(env, Client) == 3
    async with env.reads() as session:
        [kept] = (await session.exec(select(IdempotencyRecord))).all()
    assert kept.created_at == clock.at
