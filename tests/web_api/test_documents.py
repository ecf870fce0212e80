"""Documents through the API: upload with the checks of every upload, list, get, file."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlmodel import col, func, select

from inkpost.sample_pdf import make_pdf
from storage.blobs import FileBlobStore
from storage.errors import BlobStoreUnavailable
from storage.models import AuditEvent, Document
from tests.conftest import START, Tenant
from tests.damaged_pdfs import damaged
from tests.helpers import blob_files, upload
from tests.web_api.conftest import PUBLIC_URL, bearer, make_key
from web_api.documents import DocumentOut, DocumentPage
from web_sign import create_app
from workflows.context import Env


def form(data: bytes | io.BytesIO, *, filename: str = "contract.pdf", **fields: str) -> FormData:
    body = FormData()
    for name, value in fields.items():
        body.add_field(name, value)
    body.add_field("file", data, filename=filename, content_type="application/pdf")
    return body


async def count_documents(env: Env) -> int:
    async with env.sessions() as session:
        return int((await session.exec(select(func.count()).select_from(Document))).one())


async def test_upload_stores_the_document_and_names_the_key_in_history(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    pdf = make_pdf("Contract", pages=2)
    response = await client.post(
        "/api/v1/documents",
        data=form(pdf, client_id=str(tenant.client_id), category="contract"),
        headers=bearer(key),
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["title"] == "contract" and body["category"] == "contract"
    assert body["pages"] == 2 and body["size"] == len(pdf)

    got = await client.get(f"/api/v1/documents/{body['id']}/file", headers=bearer(key))
    assert got.status == 200
    assert await got.read() == pdf
    async with env.sessions() as session:
        event = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "document.added"))
        ).one()
    assert event.actor_type == "api_key" and event.actor_label == "API key 'erp-sync'"


async def test_damaged_pdf_is_a_problem_and_stores_nothing(
    client: TestClient, env: Env, tenant: Tenant, key: str, tmp_path: object
) -> None:
    response = await client.post(
        "/api/v1/documents",
        data=form(damaged()["cut in half"], client_id=str(tenant.client_id)),
        headers=bearer(key),
    )
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["type"].endswith("/invalid-input") and problem["status"] == 422
    assert await count_documents(env) == 0


async def test_too_large_file_is_a_problem_and_stores_nothing(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    too_big = b"%PDF-1.7\n" + b"0" * (env.limits.max_upload_bytes + 10)
    response = await client.post(
        "/api/v1/documents",
        data=form(io.BytesIO(too_big), client_id=str(tenant.client_id)),
        headers=bearer(key),
    )
    assert response.status == 422
    problem = await response.json()
    assert "larger" in problem["detail"] or "limit" in problem["detail"]
    assert await count_documents(env) == 0
    assert [p for p in blob_files(env.blobs.staging_dir) if p.is_file()] == []


async def test_upload_without_client_names_the_field(
    client: TestClient, env: Env, key: str
) -> None:
    response = await client.post(
        "/api/v1/documents", data=form(make_pdf("X", pages=1)), headers=bearer(key)
    )
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"] == [{"pointer": "client_id", "detail": "Field required"}]
    assert await count_documents(env) == 0


async def test_list_pages_with_a_cursor_until_the_last_page(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    for n in range(5):
        await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=f"Doc {n}")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/documents", params=params, headers=bearer(key))
        assert response.status == 200
        page = await response.json()
        seen += [item["title"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"Doc {n}" for n in reversed(range(5))]


async def test_limit_above_100_names_the_parameter(client: TestClient, key: str) -> None:
    response = await client.get("/api/v1/documents?limit=101", headers=bearer(key))
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"][0]["pointer"] == "limit"


async def test_a_cursor_not_given_by_the_api_is_refused(client: TestClient, key: str) -> None:
    response = await client.get("/api/v1/documents?cursor=bogus!", headers=bearer(key))
    assert response.status == 422
    assert (await response.json())["errors"][0]["pointer"] == "cursor"


async def test_versions_and_history_of_a_document(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    first = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    second = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        data=make_pdf("Fee table 2028", pages=1),
        version_of=first.id,
    )
    versions = await client.get(f"/api/v1/documents/{second.id}/versions", headers=bearer(key))
    assert [v["version_no"] for v in (await versions.json())["items"]] == [1, 2]
    history = await client.get(f"/api/v1/documents/{first.id}/history", headers=bearer(key))
    actions = [e["action"] for e in (await history.json())["items"]]
    assert actions == ["document.added", "document.added"]


async def test_unknown_document_is_a_not_found_problem(client: TestClient, key: str) -> None:
    response = await client.get("/api/v1/documents/999", headers=bearer(key))
    assert response.status == 404
    assert (await response.json())["type"].endswith("/not-found")


async def test_an_upload_that_is_not_multipart_is_a_415_problem(
    client: TestClient, env: Env, key: str
) -> None:
    response = await client.post(
        "/api/v1/documents",
        data=b"%PDF-1.7",
        headers={**bearer(key), "Content-Type": "application/pdf"},
    )
    assert response.status == 415
    assert (await response.json())["type"].endswith("/unsupported-media-type")
    assert await count_documents(env) == 0


def multipart(boundary: str, client_id: int, file_disposition: str, pdf: bytes) -> bytes:
    """A form-data body written out by hand, as any HTTP library may send it."""
    return (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="client_id"\r\n\r\n'
            f"{client_id}\r\n"
            f"--{boundary}\r\n"
            f"Content-Disposition: form-data; {file_disposition}\r\n"
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + pdf
        + f"\r\n--{boundary}--\r\n".encode()
    )


async def test_a_form_is_read_whatever_the_case_of_its_type_and_the_spelling_of_its_names(
    client: TestClient, tenant: Tenant, key: str
) -> None:
    disposition = 'name="file"; filename="plain.pdf"; filename*=UTF-8\'\'Zo%C3%AB%20lease.pdf'
    response = await client.post(
        "/api/v1/documents",
        data=multipart("XyZ", tenant.client_id, disposition, make_pdf("Lease", pages=1)),
        headers={**bearer(key), "Content-Type": "Multipart/Form-Data; boundary=XyZ"},
    )
    assert response.status == 201, await response.text()
    document = await response.json()
    assert (document["filename"], document["title"]) == ("Zoë lease.pdf", "Zoë lease")


async def test_a_multipart_body_that_is_not_a_form_is_a_415_problem(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    body = multipart("XyZ", tenant.client_id, 'name="file"; filename="a.pdf"', make_pdf("A"))
    response = await client.post(
        "/api/v1/documents",
        data=body,
        headers={**bearer(key), "Content-Type": "multipart/mixed; boundary=XyZ"},
    )
    assert response.status == 415
    assert (await response.json())["type"].endswith("/unsupported-media-type")
    assert await count_documents(env) == 0


async def test_a_json_body_over_the_limit_is_a_413_problem(client: TestClient, key: str) -> None:
    huge = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/api/v1/clients",
        data=io.BytesIO(huge),
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert response.content_type == "application/problem+json"


async def test_a_file_whose_name_promises_another_type_is_refused(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    response = await client.post(
        "/api/v1/documents",
        data=form(make_pdf("X", pages=1), filename="photo.jpg", client_id=str(tenant.client_id)),
        headers=bearer(key),
    )
    assert response.status == 422
    assert await count_documents(env) == 0


async def test_an_upload_without_a_category_goes_where_the_organisation_files_by_default(
    client: TestClient, tenant: Tenant, key: str
) -> None:
    first = await client.post(
        "/api/v1/documents",
        data=form(make_pdf("Offer"), client_id=str(tenant.client_id)),
        headers=bearer(key),
    )
    assert first.status == 201, await first.text()
    assert (await first.json())["category"] == "other"
    filed = await client.post(
        "/api/v1/documents",
        data=form(make_pdf("Lease"), client_id=str(tenant.client_id), category="Contract"),
        headers=bearer(key),
    )
    lease = await filed.json()
    assert lease["category"] == "contract"
    second = await client.post(
        "/api/v1/documents",
        data=form(make_pdf("Lease v2"), version_of=str(lease["id"])),
        headers=bearer(key),
    )
    assert second.status == 201, await second.text()
    assert (await second.json())["category"] == "contract"
    unknown = await client.post(
        "/api/v1/documents",
        data=form(make_pdf("Memo"), client_id=str(tenant.client_id), category=""),
        headers=bearer(key),
    )
    assert unknown.status == 422
    assert "unknown category ''" in (await unknown.json())["detail"]


async def test_a_page_is_spelled_as_its_model_spells_it(
    client: TestClient, env: Env, tenant: Tenant, key: str
) -> None:
    """Pages of documents are spelled without models, by orjson (`documents.page_answer`):
    byte for byte what `DocumentPage` of each document's `DocumentOut` gives, awkward
    values too."""
    first = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    second = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        title='Zażółć "gęślą" jaźń \\ 2027',
        version_of=first.id,
    )
    async with env.sessions() as session, session.begin():
        stored = await session.get(Document, second.id)
        assert stored is not None
        stored.direction = "inbound"
        # What a JSON writer may spell its own way: control characters, line and
        # paragraph separators, DEL, characters beyond the basic plane.
        stored.filename = "umowa\x01\x1f\x7f\u2028\u2029\U0001f4c4\t.pdf"
        stored.available_from = START
        stored.available_until = START + timedelta(days=30, microseconds=5)
        stored.page_count = None
    async with env.sessions() as session:
        query = select(Document).order_by(col(Document.id).desc())
        documents = list((await session.exec(query)).all())
    items = [DocumentOut.of(document) for document in documents]

    listed = await client.get("/api/v1/documents?limit=1", headers=bearer(key))
    cursor = (await listed.json())["next_cursor"]
    assert (
        await listed.read()
        == DocumentPage(items=items[:1], next_cursor=cursor).model_dump_json().encode()
    )
    rest = await client.get(f"/api/v1/documents?cursor={cursor}", headers=bearer(key))
    assert (
        await rest.read()
        == DocumentPage(items=items[1:], next_cursor=None).model_dump_json().encode()
    )
    versions = await client.get(f"/api/v1/documents/{first.id}/versions", headers=bearer(key))
    assert (
        await versions.read()
        == DocumentPage(items=items[::-1], next_cursor=None).model_dump_json().encode()
    )
    one = await client.get(f"/api/v1/documents/{second.id}", headers=bearer(key))
    assert await one.read() == items[0].model_dump_json().encode()
    shown = (await one.json()) | {"id": 0}
    assert shown == {
        "id": 0,
        "ref": "D-2",
        "title": 'Zażółć "gęślą" jaźń \\ 2027',
        "category": second.category,
        "client_id": tenant.client_id,
        "filename": "umowa\x01\x1f\x7f\u2028\u2029\U0001f4c4\t.pdf",
        "media_type": "application/pdf",
        "size": second.size,
        "pages": None,
        "sha256": second.sha256,
        "version_no": 2,
        "version_of": first.id,
        "direction": "inbound",
        "available_from": "2026-11-23T12:00:00Z",
        "available_until": "2026-12-23T12:00:00.000005Z",
        "created_at": shown["created_at"],
    }
    assert items[1].direction == "outbound" and items[1].version_of is None


class _LosingStore(FileBlobStore):
    """A file store whose medium is lost after ``chunks`` chunks of a file (before the
    first with 0)."""

    def __init__(self, root: Path, *, chunks: int) -> None:
        super().__init__(root)
        self.chunks = chunks

    async def read(
        self, key: str, *, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in super().read(key, start=start, end=end):
            if sent == self.chunks:
                break
            yield chunk[:100]
            sent += 1
        raise BlobStoreUnavailable("S3 endpoint s3-4.internal refused the connection")


async def _download_from(
    aiohttp_client: Any, env: Env, tenant: Tenant, tmp_path: Path, *, chunks: int
) -> aiohttp.ClientResponse:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    key = await make_key(env, tenant)
    losing = dataclasses.replace(env, blobs=_LosingStore(tmp_path / "blobs", chunks=chunks))
    client = await aiohttp_client(
        create_app(env=losing, cache_dir=tmp_path / "cache", public_url=PUBLIC_URL)
    )
    response: aiohttp.ClientResponse = await client.get(
        f"/api/v1/documents/{document.id}/file", headers=bearer(key)
    )
    return response


async def test_a_medium_out_of_reach_before_the_first_byte_is_a_503_problem(
    aiohttp_client: Any, env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    response = await _download_from(aiohttp_client, env, tenant, tmp_path, chunks=0)

    assert response.status == 503
    assert response.headers["Retry-After"] == "30"
    problem = await response.json(content_type="application/problem+json")
    assert problem["type"].endswith("/unavailable")
    assert "s3-4.internal" not in problem["detail"]


async def test_a_medium_lost_midway_cuts_the_transfer_rather_than_end_it_short(
    aiohttp_client: Any, env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    response = await _download_from(aiohttp_client, env, tenant, tmp_path, chunks=1)

    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
