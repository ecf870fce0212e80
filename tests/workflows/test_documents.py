"""Uploading documents: what is kept, and that refusals keep nothing."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from inkpost.sample_pdf import make_pdf
from storage.models import AuditEvent, Document
from tests.conftest import START, Tenant, make_tenant
from tests.helpers import blob_files, count_rows, upload
from workflows.context import Env
from workflows.documents import filing
from workflows.errors import InvalidInput, NotFound
from workflows.media import DOCX, JPEG, ODT, PDF, PNG, TXT, XLSX


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


SAMPLES = {
    PDF: make_pdf("Contract", pages=2),
    PNG: b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    JPEG: b"\xff\xd8\xff\xe0" + b"\x00" * 64,
    DOCX: _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}),
    XLSX: _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}),
    ODT: _zip({"mimetype": ODT.encode(), "content.xml": b"<office:document-content/>"}),
    TXT: "Zażółć gęślą jaźń — plain text\n".encode(),
}


async def test_a_pdf_is_stored_with_its_facts_and_text(
    env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)

    assert document.ref == "D-1"
    assert document.media_type == PDF
    assert document.page_count == 3
    assert "Fee table 2027" in (document.text_content or "")
    assert document.category == "fee table"
    stored = env.blobs.local_path(document.blob_key)
    assert stored is not None and stored.stat().st_mode & 0o222 == 0
    assert await env.blobs.size(document.blob_key) == document.size
    assert not list((tmp_path / "blobs" / ".staging").glob("*"))


@pytest.mark.parametrize("media_type", sorted(SAMPLES))
async def test_media_type_is_told_from_the_bytes_not_the_name(
    env: Env, tenant: Tenant, media_type: str
) -> None:
    document = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        data=SAMPLES[media_type],
        filename="upload.bin",
    )
    assert document.media_type == media_type


async def test_the_same_bytes_are_stored_once(env: Env, tenant: Tenant, tmp_path: Path) -> None:
    data = make_pdf("Annex", pages=1)
    first = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, data=data)
    second = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, data=data)
    assert first.blob_key == second.blob_key
    assert first.ref != second.ref
    assert len([p for p in blob_files(tmp_path / "blobs") if ".staging" not in p.parts]) == 1


async def test_new_versions_form_a_chain_and_old_ones_stay_readable(
    env: Env, tenant: Tenant
) -> None:
    v1 = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    v2 = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        data=make_pdf("Fee table 2027 (rev. 2)", pages=2),
        version_of=v1.id,
    )
    v3 = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        data=make_pdf("Fee table 2027 (rev. 3)", pages=1),
        version_of=v2.id,
    )
    assert (v2.version_of, v2.version_no) == (v1.id, 2)
    assert (v3.version_of, v3.version_no) == (v1.id, 3)
    chain = await filing.versions(env, org_id=tenant.org_id, document_id=v3.id)
    assert [d.version_no for d in chain] == [1, 2, 3]
    assert b"".join([c async for c in env.blobs.read(v1.blob_key)])[:5] == b"%PDF-"


BAD_FILES = {
    "empty": (b"", "file is empty"),
    "random binary": (bytes(range(256)) * 8, "not accepted"),
    "zip archive": (_zip({"notes.csv": b"a,b"}), "ZIP archives are not accepted"),
    "corrupt pdf": (b"%PDF-1.7\n" + b"garbage " * 200 + b"\n%%EOF\n", "damaged"),
    "truncated pdf": (make_pdf("Cut short", pages=3)[:-400], "truncated"),
    "oversize": (b"a" * (2 * 1024 * 1024 + 1), "larger than the limit of 2 MB"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
async def test_a_bad_file_is_refused_and_leaves_no_row_and_no_blob(
    env: Env, tenant: Tenant, tmp_path: Path, case: str
) -> None:
    data, message = BAD_FILES[case]
    events_before = await count_rows(env, AuditEvent)

    with pytest.raises(InvalidInput, match=message):
        await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, data=data)

    assert await count_rows(env, Document) == 0
    assert await count_rows(env, AuditEvent) == events_before
    assert blob_files(tmp_path / "blobs") == []


BAD_META = {
    "unknown category": ({"category": "poetry"}, InvalidInput, "unknown category 'poetry'"),
    "unknown client": ({"client_id": 999}, NotFound, "client 999 not found"),
    "empty title": ({"title": "   "}, InvalidInput, "title must not be empty"),
    "window ends before it starts": (
        {"available_from": START + timedelta(days=2), "available_until": START + timedelta(days=1)},
        InvalidInput,
        "ends .* before it starts",
    ),
    "naive window": (
        {"available_from": START.replace(tzinfo=None)},
        InvalidInput,
        "needs a time zone",
    ),
    "unknown version_of": ({"version_of": 4242}, NotFound, "document 4242 not found"),
}


@pytest.mark.parametrize("case", sorted(BAD_META))
async def test_bad_details_are_refused_before_anything_is_stored(
    env: Env, tenant: Tenant, tmp_path: Path, case: str
) -> None:
    meta, error, message = BAD_META[case]
    fields = {"client_id": tenant.client_id, **meta}
    with pytest.raises(error, match=message):
        await upload(env, org_id=tenant.org_id, **fields)
    assert await count_rows(env, Document) == 0
    assert blob_files(tmp_path / "blobs") == []


async def test_a_client_of_another_tenant_is_not_found(env: Env, tenant: Tenant) -> None:
    other = await make_tenant(env, "globex")
    with pytest.raises(NotFound, match="client"):
        await upload(env, org_id=tenant.org_id, client_id=other.client_id)


async def test_documents_of_another_tenant_are_not_found(env: Env, tenant: Tenant) -> None:
    other = await make_tenant(env, "globex")
    theirs = await upload(env, org_id=other.org_id, client_id=other.client_id)
    with pytest.raises(NotFound):
        await filing.find_document(env, org_id=tenant.org_id, ref=theirs.ref)
    assert await filing.list_documents(env, org_id=tenant.org_id) == []
    # Numbers are per organisation.
    mine = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert mine.ref == theirs.ref == "D-1"


async def test_quota_refuses_a_file_that_does_not_fit(
    env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    from storage.models import Organization

    async with env.sessions() as session, session.begin():
        org = await session.get(Organization, tenant.org_id)
        assert org is not None
        org.storage_quota_bytes = 1000
        session.add(org)
    with pytest.raises(InvalidInput, match="quota"):
        await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert blob_files(tmp_path / "blobs") == []


@pytest.mark.parametrize(("ref", "number"), [("D-12", 12), ("d12", 12), (" 7 ", 7), ("D-0001", 1)])
def test_document_references_are_forgiving(ref: str, number: int) -> None:
    assert filing.parse_ref(ref) == number


@pytest.mark.parametrize("ref", ["", "D-", "X-12", "12a", "D--3"])
def test_bad_document_references_are_refused(ref: str) -> None:
    with pytest.raises(InvalidInput, match="not a document reference"):
        filing.parse_ref(ref)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\Umowa.pdf", "Umowa.pdf"),
        ('a"b\x00c.pdf', "abc.pdf"),
        ("", "document"),
    ],
)
def test_filenames_are_made_safe(name: str, safe: str) -> None:
    assert filing.safe_filename(name) == safe
