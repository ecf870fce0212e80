"""An ERP system uploads a contract through the API, asks two parties to sign it in
order, the parties sign on the web, and the ERP downloads the sealed PDF; and the same
journey told to the ERP by signed webhooks, its endpoint registered through the API."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient
from standardwebhooks.webhooks import Webhook

from bot.webhooks import WebhookSender, WebhookWorker, client_session
from inkpost.sample_pdf import make_pdf
from inkpost.sealer import SealWorker
from tests.conftest import Tenant
from tests.helpers import sealed_documents
from tests.web_api.conftest import PUBLIC_URL, bearer
from web_api.catalogue import registry
from web_api.rate import RateLimit
from web_sign import create_app
from workflows.context import Env
from workflows.signing import completion
from workflows.signing.seal_keys import create_self_signed_seal, load_seal_key
from workflows.webhooks.addresses import AddressPolicy
from workflows.webhooks.events import SEALED_PDF_PATH

UA = "PhoneBrowser/2.0"
ERP_HOST = AddressPolicy.of(allow_private=False, networks=["127.0.0.1/32"])
"""Webhooks may reach the ERP's receiver on this machine, and no other private address."""


@pytest.fixture
def app(env: Env, tmp_path: Path, rate: RateLimit) -> web.Application:
    return create_app(
        env=env,
        cache_dir=tmp_path / "cache",
        public_url=PUBLIC_URL,
        secret_key="test-secret",
        api_rate=rate,
        api_webhook_policy=ERP_HOST,
    )


@dataclass
class ErpReceiver:
    """The ERP's webhook endpoint on 127.0.0.1: keeps each delivery's headers and body."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def hook(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)


@pytest.fixture
async def erp_receiver() -> AsyncIterator[ErpReceiver]:
    receiver = ErpReceiver()
    app = web.Application()
    app.router.add_post("/inkpost-events", receiver.hook)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/inkpost-events"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def sign_on_the_web(client: TestClient, url: str, *, name: str, document_id: int) -> None:
    """What a party does in their browser: open the document, tick consent, sign."""
    path = url.removeprefix(PUBLIC_URL)
    opened = await client.get(f"{path}/doc/{document_id}", headers={"User-Agent": UA})
    assert opened.status == 200
    page = await (await client.get(path)).text()
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert csrf, "the page has no signing form"
    signed = await client.post(
        f"{path}/decide",
        data={"csrf": csrf.group(1), "action": "sign", "consent": "yes", "typed_name": name},
        allow_redirects=False,
        headers={"User-Agent": UA},
    )
    assert signed.status == 303


async def test_erp_uploads_requests_signatures_and_downloads_the_sealed_pdf(
    client: TestClient, env: Env, tenant: Tenant, key: str, tmp_path: Path
) -> None:
    erp = bearer(key)
    body = FormData()
    body.add_field("client_id", str(tenant.client_id))
    body.add_field("title", "Supply contract 2027")
    body.add_field("category", "contract")
    body.add_field("file", io.BytesIO(make_pdf("Supply contract", pages=2)), filename="c.pdf")
    uploaded = await client.post("/api/v1/documents", data=body, headers=erp)
    assert uploaded.status == 201
    document_id = (await uploaded.json())["id"]

    started = await client.post(
        "/api/v1/signature-requests",
        json={
            "document_ids": [document_id],
            "order": "sequential",
            "parties": [
                {"role": "signer", "name": "Sam Seller", "phone": "+46 70 123 45 67"},
                {"role": "signer", "name": "Bea Buyer", "phone": "+46 70 765 43 21"},
            ],
        },
        headers=erp,
    )
    assert started.status == 201, await started.text()
    request: dict[str, Any] = await started.json()
    sam, bea = request["parties"]
    assert (sam["state"], bea["state"]) == ("invited", "waiting")

    await sign_on_the_web(client, sam["link"], name="Sam Seller", document_id=document_id)
    status = await (
        await client.get(f"/api/v1/signature-requests/{request['id']}", headers=erp)
    ).json()
    assert [p["state"] for p in status["parties"]] == ["signed", "invited"]
    await sign_on_the_web(client, bea["link"], name="Bea Buyer", document_id=document_id)

    sealed_url = f"/api/v1/signature-requests/{request['id']}/documents/{document_id}/sealed"
    assert (await client.get(sealed_url, headers=erp)).status == 409  # not sealed yet
    seal = load_seal_key(*create_self_signed_seal(tmp_path / "seal", common_name="Acme seal"))
    await completion.complete_request(env, request["id"], key=seal)

    done = await (
        await client.get(f"/api/v1/signature-requests/{request['id']}", headers=erp)
    ).json()
    assert done["status"] == "completed"
    [pair] = done["sealed"]
    assert pair["document_id"] == document_id
    response = await client.get(sealed_url, headers=erp)
    assert response.status == 200 and response.content_type == "application/pdf"
    pdf = await response.read()
    [sealed] = await sealed_documents(env, org_id=tenant.org_id, request_id=request["id"])
    assert pdf.startswith(b"%PDF") and len(pdf) == sealed.size
    history = await (
        await client.get("/api/v1/events?action=signature.requested", headers=erp)
    ).json()
    assert [e["actor_label"] for e in history["items"]] == ["API key 'erp-sync'"]


def test_the_sealed_pdf_link_of_webhooks_is_the_api_download_of_a_document() -> None:
    [download] = [
        op
        for op in registry(webhook_policy=ERP_HOST).operations
        if op.operation_id == "downloadDocument"
    ]
    assert "/api/v1" + download.path == SEALED_PDF_PATH
    assert (download.method, download.scope) == ("GET", "read")


async def test_erp_told_by_signed_webhooks_of_each_signature_and_the_seal_fetches_the_sealed_pdf(
    client: TestClient,
    env: Env,
    tenant: Tenant,
    key: str,
    tmp_path: Path,
    erp_receiver: ErpReceiver,
) -> None:
    erp = bearer(key)
    registered = await client.post(
        "/api/v1/webhooks",
        json={
            "url": erp_receiver.url,
            "events": ["request.party_decided", "request.completed"],
            "description": "ERP sync",
        },
        headers=erp,
    )
    assert registered.status == 201, await registered.text()
    secret = (await registered.json())["secret"]

    body = FormData()
    body.add_field("client_id", str(tenant.client_id))
    body.add_field("title", "Supply contract 2028")
    body.add_field("file", io.BytesIO(make_pdf("Supply contract", pages=2)), filename="c.pdf")
    uploaded = await client.post("/api/v1/documents", data=body, headers=erp)
    assert uploaded.status == 201, await uploaded.text()
    document_id = (await uploaded.json())["id"]
    started = await client.post(
        "/api/v1/signature-requests",
        json={
            "document_ids": [document_id],
            "parties": [
                {"role": "signer", "name": "Sam Seller", "phone": "+46 70 123 45 67"},
                {"role": "signer", "name": "Bea Buyer", "phone": "+46 70 765 43 21"},
            ],
        },
        headers=erp,
    )
    assert started.status == 201, await started.text()
    request: dict[str, Any] = await started.json()
    for party in request["parties"]:
        await sign_on_the_web(client, party["link"], name=party["name"], document_id=document_id)

    seal = load_seal_key(*create_self_signed_seal(tmp_path / "seal", common_name="Acme seal"))
    assert await SealWorker(env, key=seal).run_once() == 1
    async with client_session(ERP_HOST, timeout=5) as http:
        worker = WebhookWorker(env, WebhookSender(http, ERP_HOST, timeout=5), idle_seconds=0.05)
        assert await worker.run_once() == 3
        assert await worker.run_once() == 0

    events = [Webhook(secret).verify(data, headers) for headers, data in erp_receiver.received]
    assert len({headers["webhook-id"] for headers, _ in erp_receiver.received}) == 3
    assert [json.loads(data)["type"] for _, data in erp_receiver.received] == [
        e["type"] for e in events
    ]
    decided = [e["data"] for e in events if e["type"] == "request.party_decided"]
    assert sorted((d["party_name"], d["decision"]) for d in decided) == [
        ("Bea Buyer", "signed"),
        ("Sam Seller", "signed"),
    ]
    assert {d["request_id"] for d in decided} == {request["id"]}
    [completed] = [e["data"] for e in events if e["type"] == "request.completed"]
    assert completed["request_id"] == request["id"]

    status = await (
        await client.get(f"/api/v1/signature-requests/{request['id']}", headers=erp)
    ).json()
    assert status["status"] == "completed"
    [reported] = status["sealed"]
    [told] = completed["sealed"]
    assert told["document_id"] == reported["sealed_document_id"]
    assert told["sha256"] == reported["sha256"]
    pdf = await client.get(told["href"], headers=erp)
    assert pdf.status == 200 and pdf.content_type == "application/pdf"
    sealed = await pdf.read()
    assert sealed.startswith(b"%PDF")
    assert hashlib.sha256(sealed).hexdigest() == reported["sha256"]
    assert (await client.get(told["href"])).status == 401
