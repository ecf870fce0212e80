"""Every reason the portal refuses a recipient is told in their language: a file sent back,
a sign-in link asked for or followed, a language chosen, an unsubscribe link that does not
work. A refused file leaves nothing behind: no document, no stored bytes, no notice."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from pyhanko.pdf_utils.writer import PdfFileWriter

from inkpost.sample_pdf import make_pdf
from storage.blobs import FileBlobStore
from storage.errors import BlobStoreUnavailable
from storage.models import Document, Organization
from storage.rows import id_of
from tests.conftest import STAFF, Tenant
from tests.damaged_pdfs import damaged, javascript_on_opening, zip_polyglot
from tests.helpers import blob_files, count_rows, stored_notifications, upload
from workflows import media
from workflows.context import Env
from workflows.outbox.kinds import Kind
from workflows.people import preferences
from workflows.portal import sessions
from workflows.sharing import sharing

MB = 1024 * 1024


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


async def _signed_in(client: TestClient, env: Env, tenant: Tenant, *, language: str) -> str:
    """The recipient, who reads ``language``, signed in to their portal: the form token."""
    await preferences.set_language(
        env, recipient_id=tenant.recipient_id, org_id=tenant.org_id, actor=STAFF,
        language=language,
    )  # fmt: skip
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    made = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=tenant.recipient_id,
    )  # fmt: skip
    page = await (await client.get(f"/d/{made.token}")).text()
    entered = await client.post(
        f"/d/{made.token}/me", data={"csrf": _csrf(page)}, allow_redirects=False
    )
    assert entered.status == 303
    return _csrf(await (await client.get("/me")).text())


def _sent_back(csrf: str, data: bytes, filename: str) -> FormData:
    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("title", "")
    form.add_field(
        "file", io.BytesIO(data), filename=filename, content_type="application/octet-stream"
    )
    return form


def _zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("umowa.txt", "Umowa")
    return archive.getvalue()


def _locked_pdf() -> bytes:
    writer = PdfFileWriter()
    writer.encrypt("owner-secret", "user-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


FILES = [
    pytest.param(
        "pl", b"x" * (2 * MB + 1), "skan.txt",
        "Plik przekracza dopuszczalny rozmiar 2 MB.", id="too large",
    ),
    pytest.param("ru", b"", "scan.pdf", "Файл пустой.", id="empty"),
    pytest.param(
        "pl", b"MZ" + bytes(range(200)), "tool.exe",
        "Pliki tego rodzaju nie są przyjmowane; wyślij plik PDF, PNG, JPEG", id="kind",
    ),
    pytest.param(
        "ru", _zip(), "umowa.zip",
        "ZIP-архивы не принимаются; отправьте каждый документ отдельным файлом.", id="zip",
    ),
    pytest.param(
        "pl", b"PK\x03\x04" + b"\x00" * 40, "umowa.docx",
        "Plik wygląda na dokument biurowy, ale jest uszkodzony.", id="damaged office file",
    ),
    pytest.param(
        "ru", b"Just some words.\n", "contract.pdf",
        "Судя по имени, «contract.pdf» — это PDF-документ, но на самом "
        "деле это обычный текст: переименуйте файл или отправьте нужный.",
        id="misnamed",
    ),
    pytest.param(
        "pl", damaged()["cut in half"], "umowa.pdf",
        "Plik PDF jest niekompletny: brakuje jego końca;", id="truncated PDF",
    ),
    pytest.param(
        "ru", damaged()["header only"], "scan.pdf",
        "PDF не открывается: файл повреждён.", id="damaged PDF",
    ),
    pytest.param(
        "pl", damaged()["startxref pointing nowhere"], "umowa.pdf",
        "Nie da się odczytać pliku PDF: jego struktura jest uszkodzona;", id="broken structure",
    ),
    pytest.param(
        "ru", damaged()["page tree that loops"], "scan.pdf",
        "PDF не читается: страница 1 повреждена.", id="damaged page",
    ),
    pytest.param(
        "pl", zip_polyglot(), "umowa.pdf",
        "Plik jest jednocześnie dokumentem PDF i archiwum ZIP; wyślij sam dokument PDF.",
        id="PDF and ZIP at once",
    ),
    pytest.param(
        "ru", _locked_pdf(), "scan.pdf",
        "PDF защищён паролем; отправьте его без пароля.", id="password",
    ),
    pytest.param(
        "ru", javascript_on_opening(), "scan.pdf",
        "В PDF есть элементы, которые запускаются сами, например скрипты,", id="active content",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("language", "data", "filename", "told"), FILES)
async def test_a_refused_file_is_told_in_the_recipients_language_and_leaves_nothing(
    client: TestClient,
    env: Env,
    tenant: Tenant,
    tmp_path: Path,
    language: str,
    data: bytes,
    filename: str,
    told: str,
) -> None:
    csrf = await _signed_in(client, env, tenant, language=language)
    documents, blobs = await count_rows(env, Document), blob_files(tmp_path / "blobs")

    refused = await client.post("/me/return", data=_sent_back(csrf, data, filename))

    assert refused.status == 400
    assert told in await refused.text()
    assert await count_rows(env, Document) == documents
    assert blob_files(tmp_path / "blobs") == blobs
    assert await stored_notifications(env, kind=Kind.DOCUMENT_RETURNED) == []


async def _refused_sending_a_sound_pdf(
    client: TestClient, env: Env, tmp_path: Path, *, csrf: str
) -> str:
    """Send a sound PDF back from the signed-in portal; the refusal page, once it is
    certain nothing was kept."""
    documents, blobs = await count_rows(env, Document), blob_files(tmp_path / "blobs")

    refused = await client.post("/me/return", data=_sent_back(csrf, make_pdf("Umowa"), "u.pdf"))

    assert refused.status == 400
    assert await count_rows(env, Document) == documents
    assert blob_files(tmp_path / "blobs") == blobs
    assert await stored_notifications(env, kind=Kind.DOCUMENT_RETURNED) == []
    return await refused.text()


async def test_a_full_store_is_told_with_the_organisations_name(
    client: TestClient, env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    csrf = await _signed_in(client, env, tenant, language="pl")
    async with env.sessions() as session, session.begin():
        org = await session.get(Organization, tenant.org_id)
        assert org is not None
        org.storage_quota_bytes = 1
        session.add(org)

    page = await _refused_sending_a_sound_pdf(client, env, tmp_path, csrf=csrf)

    assert "Acme Law nie ma teraz miejsca na ten plik; daj im o tym znać." in page
    assert "quota" not in page


async def test_a_pdf_too_complex_to_check_is_told_in_russian(
    client: TestClient, env: Env, tenant: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = await _signed_in(client, env, tenant, language="ru")
    monkeypatch.setattr(media, "MAX_OBJECTS", 3)

    page = await _refused_sending_a_sound_pdf(client, env, tmp_path, csrf=csrf)

    assert "PDF слишком сложен для проверки; распечатайте его в новый PDF" in page


async def test_a_store_that_cannot_save_asks_to_try_later_without_its_details(
    client: TestClient, env: Env, tenant: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: FileBlobStore, staged: Any) -> None:
        raise BlobStoreUnavailable("disk /srv/blobs is read-only")

    csrf = await _signed_in(client, env, tenant, language="pl")
    monkeypatch.setattr(FileBlobStore, "commit", broken)
    documents = await count_rows(env, Document)

    refused = await client.post("/me/return", data=_sent_back(csrf, make_pdf("Umowa"), "u.pdf"))

    page = await refused.text()
    assert "Nie udało się teraz zapisać pliku; spróbuj ponownie później." in page
    assert "/srv/blobs" not in page
    assert await count_rows(env, Document) == documents


async def test_a_caption_of_invisible_characters_leaves_the_file_its_own_name(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    csrf = await _signed_in(client, env, tenant, language="pl")
    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("title", "\u202e\u200b")
    form.add_field("file", make_pdf("Umowa"), filename="umowa-najmu.pdf")

    sent = await client.post("/me/return", data=form, allow_redirects=False)

    assert sent.status == 303
    [notice] = await stored_notifications(env, kind=Kind.DOCUMENT_RETURNED)
    async with env.reads() as session:
        returned = await session.get(Document, notice.payload["document_id"])
    assert returned is not None and returned.title == "umowa-najmu"


async def test_an_unknown_language_is_refused_in_the_recipients_own(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    csrf = await _signed_in(client, env, tenant, language="pl")

    refused = await client.post("/me/language", data={"csrf": csrf, "language": "xx"})

    assert refused.status == 400
    assert "Wybierz jeden z tych języków: English, Polski, Русский, Svenska." in (
        await refused.text()
    )


async def test_asking_for_a_sign_in_link_is_refused_in_the_browsers_language(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    polish, russian = {"Accept-Language": "pl-PL,pl;q=0.9"}, {"Accept-Language": "ru"}
    csrf = _csrf(await (await client.get("/me/sign-in", headers=polish)).text())
    ask = {"csrf": csrf, "email": "rita@acme-client.test"}

    empty = await client.post("/me/sign-in", data={"csrf": csrf, "email": ""}, headers=polish)
    bad = await client.post(
        "/me/sign-in", data={"csrf": csrf, "email": "rita(at)acme"}, headers=polish
    )
    for _ in range(sessions.PER_ADDRESS):
        await client.post("/me/sign-in", data=ask, headers=russian)
    limited = await client.post("/me/sign-in", data=ask, headers=russian)

    assert empty.status == 400 and "Wpisz swój adres e-mail." in await empty.text()
    assert bad.status == 400 and "„rita(at)acme” nie jest adresem e-mail." in await bad.text()
    assert limited.status == 429
    assert "Запрошено слишком много ссылок для входа; попробуйте снова через час." in (
        await limited.text()
    )


async def test_a_used_up_sign_in_link_and_a_dead_unsubscribe_link_are_told_in_russian(
    client: TestClient,
) -> None:
    russian = {"Accept-Language": "ru"}
    token = "A" * 32
    csrf = _csrf(await (await client.get(f"/me/sign-in/{token}", headers=russian)).text())

    used = await client.post(f"/me/sign-in/{token}", data={"csrf": csrf}, headers=russian)
    unsubscribe = await client.get(f"/me/unsubscribe/{token}", headers=russian)

    assert used.status == 410
    assert "Срок действия этой ссылки для входа истёк, или она уже использована" in (
        await used.text()
    )
    assert unsubscribe.status == 410
    assert "Эта ссылка для отписки не работает" in await unsubscribe.text()
