"""An Idempotency-Key is taken before its request runs: a retry while the first request is
still being answered waits (409) instead of running beside it, a first request that fails
lets the key go, and a key left by a request that never ended is taken over in time."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from inkpost.sample_pdf import make_pdf
from storage.models import Client, Document, IdempotencyRecord
from tests.conftest import Tenant
from tests.helpers import count_rows
from tests.web_api.conftest import bearer
from workflows import api_keys, idempotency
from workflows.context import Env, FixedClock
from workflows.documents import filing
from workflows.errors import Unavailable
from workflows.people import organizations


def hold(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str
) -> tuple[asyncio.Event, asyncio.Event]:
    """``owner.name`` made to wait: the first event is set once it is called, the second
    lets it go on."""
    entered, go_on = asyncio.Event(), asyncio.Event()
    function = getattr(owner, name)

    async def slowly(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await go_on.wait()
        return await function(*args, **kwargs)

    monkeypatch.setattr(owner, name, slowly)
    return entered, go_on


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Adding a client waits (`hold`)."""
    return hold(monkeypatch, organizations, "add_client")


async def test_a_retry_while_the_first_is_answered_is_told_to_wait_and_creates_nothing(
    client: TestClient, env: Env, key: str, held: tuple[asyncio.Event, asyncio.Event]
) -> None:
    adding, go_on = held
    headers = {**bearer(key), "Idempotency-Key": "order-7790"}
    first = asyncio.create_task(
        client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)
    )
    async with asyncio.timeout(10):
        await adding.wait()

    meanwhile = await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)
    elsewhere = await client.post("/api/v1/clients", json={"name": "Other"}, headers=headers)
    go_on.set()
    answered = await first
    retry = await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)

    assert meanwhile.status == 409
    assert meanwhile.headers["Retry-After"] == "1"
    assert (await meanwhile.json())["type"].endswith("/conflict")
    assert elsewhere.status == 422
    assert "different request" in (await elsewhere.json())["detail"]
    assert answered.status == retry.status == 201
    assert await retry.json() == await answered.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert await count_rows(env, Client) == 2  # the tenant's own and Baltic


async def test_a_first_request_that_fails_lets_its_key_go_for_a_retry(
    client: TestClient, env: Env, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_client = organizations.add_client
    failures = [Unavailable("the archive is busy")]

    async def once_failing(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await add_client(*args, **kwargs)

    monkeypatch.setattr(organizations, "add_client", once_failing)
    headers = {**bearer(key), "Idempotency-Key": "order-7791"}

    failed = await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)
    retry = await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)

    assert failed.status == 503
    assert retry.status == 201 and "Idempotent-Replayed" not in retry.headers
    assert await count_rows(env, Client) == 2
    assert await count_rows(env, IdempotencyRecord) == 1


async def test_a_key_held_by_a_request_that_never_ended_is_taken_over_after_a_while(
    client: TestClient, env: Env, tenant: Tenant, key: str, clock: FixedClock
) -> None:
    holder = await api_keys.authenticate(env, token=key)
    left = await idempotency.reserve(
        env,
        org_id=tenant.org_id,
        key_id=holder.key_id,
        idempotency_key="order-7792",
        request_fingerprint="the request of a process that died",
    )
    assert left is None
    headers = {**bearer(key), "Idempotency-Key": "order-7792"}

    clock.at += idempotency.IN_FLIGHT_FOR - timedelta(seconds=1)
    too_soon = await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)
    clock.at += timedelta(seconds=2)
    later = await client.post("/api/v1/clients", json={"name": "Baltic"}, headers=headers)

    assert too_soon.status == 422  # another request's key, as far as anyone can tell
    assert later.status == 201
    assert await count_rows(env, Client) == 2


async def test_an_upload_retried_in_flight_waits_and_one_with_another_file_is_refused(
    client: TestClient, env: Env, tenant: Tenant, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    adding, go_on = hold(monkeypatch, filing, "upload_document")
    contract, other = make_pdf("Contract", pages=1), make_pdf("Another contract", pages=1)

    def form(pdf: bytes) -> FormData:
        body = FormData()
        body.add_field("client_id", str(tenant.client_id))
        body.add_field("file", io.BytesIO(pdf), filename="contract.pdf")
        return body

    headers = {**bearer(key), "Idempotency-Key": "upload-9"}
    first = asyncio.create_task(
        client.post("/api/v1/documents", data=form(contract), headers=headers)
    )
    async with asyncio.timeout(10):
        await adding.wait()
    meanwhile = await client.post("/api/v1/documents", data=form(contract), headers=headers)
    go_on.set()
    answered = await first
    retry = await client.post("/api/v1/documents", data=form(contract), headers=headers)
    another = await client.post("/api/v1/documents", data=form(other), headers=headers)

    assert meanwhile.status == 409
    assert answered.status == retry.status == 201
    assert (await retry.json())["id"] == (await answered.json())["id"]
    assert another.status == 422
    assert "different request" in (await another.json())["detail"]
    assert await count_rows(env, Document) == 1


async def test_taking_over_a_stale_key_leaves_a_fresh_reservation_alone(
    env: Env, tenant: Tenant, key: str, clock: FixedClock
) -> None:
    """Two retries find the same stale reservation: the one that took the key over keeps
    it, and the other, arriving a moment later, is told the key is in use."""
    holder = await api_keys.authenticate(env, token=key)

    async def reserve(fingerprint: str) -> idempotency.Kept | None:
        return await idempotency.reserve(
            env,
            org_id=tenant.org_id,
            key_id=holder.key_id,
            idempotency_key="order-7793",
            request_fingerprint=fingerprint,
        )

    assert await reserve("first") is None
    clock.at += idempotency.IN_FLIGHT_FOR + timedelta(seconds=1)
    assert await reserve("second") is None  # the stale one is taken over
    # What the late retry's takeover deletes: only reservations made by then.
    await idempotency._forget(
        env,
        key_id=holder.key_id,
        hashed=idempotency._hash_key("order-7793"),
        made_by=clock.now() - idempotency.IN_FLIGHT_FOR,
    )
    late = await reserve("second")

    assert late is not None and late.answer is None
    assert await count_rows(env, IdempotencyRecord) == 1
