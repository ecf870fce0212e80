"""A file sent back in Telegram that cannot be taken is refused in the sender's language,
with the reason the portal would give, and nothing of it is kept; a setting the bot cannot
make is refused the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.i18n import text
from storage.models import Document, Organization
from tests.conftest import STAFF, Tenant
from tests.damaged_pdfs import damaged
from tests.fakes.telegram_api import FakeTelegramApi, TgUser
from tests.helpers import blob_files, count_rows, stored_notifications
from tests.scenarios.test_telegram import CARL, Stage, staged
from workflows.context import Env
from workflows.outbox.kinds import Kind
from workflows.people import linking, recipients


@pytest.fixture
async def stage(env: Env, telegram_api: FakeTelegramApi, tenant: Tenant) -> AsyncIterator[Stage]:
    async with staged(env, telegram_api, tenant) as ready:
        yield ready


async def _linked(stage: Stage, language: str) -> None:
    """Carl, who reads ``language``, linked in chat CARL."""
    carl = await recipients.add_recipient(
        stage.env, org_id=stage.tenant.org_id, actor=STAFF, client_id=stage.tenant.client_id,
        name="Carl Colleague", language=language,
    )  # fmt: skip
    assert carl.id is not None
    await stage.link(carl.id, CARL)


async def _answer_to(stage: Stage, filename: str, data: bytes, mime_type: str) -> str:
    before = len(stage.fake.messages_to(CARL))
    stage.fake.user_sends_document(CARL, filename, data, mime_type, user=TgUser(id=CARL))
    await stage.fake.wait_for(lambda: len(stage.fake.messages_to(CARL)) > before)
    return stage.fake.messages_to(CARL)[-1].text or ""


@pytest.mark.parametrize(
    ("language", "filename", "data", "told"),
    [
        pytest.param(
            "pl", "tool.exe", b"MZ" + bytes(range(200)),
            "Plik nie został przyjęty: pliki tego rodzaju nie są przyjmowane; wyślij plik PDF, "
            "PNG, JPEG, DOCX, XLSX, ODT albo zwykły tekst",
            id="kind",
        ),
        pytest.param(
            "ru", "договор.pdf", damaged()["cut in half"],
            "Файл не принят: PDF-файл неполный: конец файла отсутствует; сохраните или скачайте "
            "его заново и отправьте новую копию",
            id="truncated PDF",
        ),
        pytest.param(
            "ru", "<b>scan</b>.pdf", b"Just some words.\n",
            "Файл не принят: судя по имени, «<b>scan</b>.pdf» — это PDF-документ, но на самом "
            "деле это обычный текст: переименуйте файл или отправьте нужный",
            id="misnamed, the name kept as typed",
        ),
    ],
)  # fmt: skip
async def test_a_refused_file_is_told_in_the_senders_language_and_nothing_is_kept(
    stage: Stage, tmp_path: Path, language: str, filename: str, data: bytes, told: str
) -> None:
    await _linked(stage, language)
    blobs = blob_files(tmp_path / "blobs")

    answer = await _answer_to(stage, filename, data, "application/octet-stream")

    assert answer == told
    assert await count_rows(stage.env, Document) == 0
    assert blob_files(tmp_path / "blobs") == blobs
    assert await stored_notifications(stage.env, kind=Kind.DOCUMENT_RETURNED) == []


async def test_a_full_store_is_told_in_russian_with_the_organisations_name(
    stage: Stage, tmp_path: Path
) -> None:
    await _linked(stage, "ru")
    async with stage.env.sessions() as session, session.begin():
        org = await session.get(Organization, stage.tenant.org_id)
        assert org is not None
        org.storage_quota_bytes = 10
        session.add(org)

    answer = await _answer_to(stage, "scan.txt", b"Signed, Carl.\n", "text/plain")

    assert answer == (
        "Файл не принят: у организации Acme Law сейчас нет места для этого файла; "
        "пожалуйста, сообщите им об этом"
    )
    assert await count_rows(stage.env, Document) == 0
    assert blob_files(tmp_path / "blobs") == []


async def test_a_language_the_bot_does_not_speak_is_refused_in_polish(stage: Stage) -> None:
    await _linked(stage, "pl")
    await stage.say(CARL, "/language")
    chooser = stage.fake.messages_to(CARL)[-1]
    answered = len(stage.fake.callback_answers)

    stage.fake.user_presses_button(
        CARL, chooser.message_id, "lang:xx", user=TgUser(id=CARL), strict=False
    )
    await stage.fake.wait_for(lambda: len(stage.fake.callback_answers) > answered)

    answer = stage.fake.callback_answers[-1]
    assert answer.show_alert
    assert answer.text == text(
        "pl",
        "error.refused",
        escape=False,
        reason="wybierz jeden z tych języków: English, Polski, Русский, Svenska",
    )
    [(carl, _)] = await linking.recipients_of_chat(stage.env, chat_id=CARL)
    assert carl.language == "pl"
