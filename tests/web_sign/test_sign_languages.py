"""The signing pages and the Telegram Mini App in the party's language: the recipient's
own, else the one the party was given, else the browser's wish; with the language
switcher, refusals told in that language, and no staff reference anywhere."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from storage.models import Party
from tests.conftest import STAFF, Tenant
from tests.helpers import stored_notifications
from tests.web_sign.signing_helpers import (
    SECRET,
    decisions,
    envelope,
    init_data,
    link_only,
    party_named,
    signing_app,
)
from web_sign.security import form_token
from workflows.context import Env, FixedClock
from workflows.outbox.kinds import Kind
from workflows.people.recipients import edit_recipient
from workflows.signing import requests
from workflows.signing.creation import NewParty

STAFF_REFERENCE = re.compile(r"\b[SD]-\d+\b")
"""A request's (S-1) or a document's (D-1) reference: for staff, never on a party's page."""


@pytest.fixture
def app(env: Env, cache_dir: Path) -> web.Application:
    return signing_app(env, cache_dir)


def _lang(text: str) -> str:
    found = re.search(r'<html lang="(\w+)">', text)
    assert found
    return found.group(1)


def _alert(text: str) -> str:
    found = re.search(r'role="alert" id="problem-(\w+)">([^<]*)<', text)
    assert found, "the page shows no problem"
    return f"{found.group(1)}: {html.unescape(found.group(2))}"


async def _get(client: TestClient, path: str, **headers: str) -> str:
    response = await client.get(path, headers=headers)
    assert response.status == 200
    return await response.text()


async def _post(client: TestClient, token: str, path: str, **fields: str) -> Any:
    data = {"csrf": form_token(SECRET.encode(), token), **fields}
    return await client.post(f"/s/{token}/{path}", data=data, allow_redirects=False)


async def _speaks(env: Env, tenant: Tenant, language: str) -> None:
    await edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, language=language
    )


async def test_a_polish_recipient_reads_their_signing_page_in_polish(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _speaks(env, tenant, "pl")
    made = await envelope(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)], title="Umowa"
    )
    token = made.tokens["Rita Recipient"]

    text = await _get(client, f"/s/{token}", **{"Accept-Language": "en"})

    assert _lang(text) == "pl" and "<title>Umowa · Acme Law</title>" in text
    assert '<h2 id="documents-heading">Dokumenty</h2>' in text
    assert "<dd>Osoba podpisująca</dd>" in text and "Czeka na Twoją decyzję" in text
    assert "Wyślij mi kod</button>" in text and "na Twój adres e-mail" in text
    assert "3 strony" in text and "Jeszcze nieotwarty" in text
    assert "Uczestnicy" in text and "jeszcze bez decyzji" in text
    assert not STAFF_REFERENCE.search(text)
    switch = re.findall(r'<a href="([^"]+)" lang="(\w+)" hreflang', text)
    assert {lang for _, lang in switch} == {"en", "ru", "sv"}
    assert all(href.startswith("?lang=") and token not in href for href, _ in switch)


async def test_a_russian_party_signs_on_a_page_in_russian(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    made = await envelope(
        env,
        tenant,
        [NewParty(role="signer", name="Иван Петров", phone="+46 70 123 45 67", language="ru")],
    )
    token = made.tokens["Иван Петров"]
    [document_id] = made.document_ids

    document = await _get(client, f"/s/{token}/doc/{document_id}")
    page = await _get(client, f"/s/{token}")
    app = await _get(client, f"/tg/app?s={token}", **{"Accept-Language": "en"})

    assert _lang(document) == "ru" and "Назад к запросу" in document
    assert "Страница 1 из 3" in document and 'alt="Страница 1: Loan agreement"' in document
    assert "Скачать PDF" in document and "Размер" in document
    assert _lang(page) == "ru" and '<h2 id="decide-heading">Подписать</h2>' in page
    assert 'value="sign">Подписать</button>' in page and "Отклонить</button>" in page
    assert "Нарисуйте свою подпись (необязательно)" in page and "Открыт</p>" in page
    assert _lang(app) == "ru" and "<title>Открываем ваш запрос… · Inkpost</title>" in app
    for text in (document, page):
        assert not STAFF_REFERENCE.search(text)
        assert "Sign" not in text and "Download" not in text


async def test_the_mini_app_opens_in_the_partys_language(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _speaks(env, tenant, "pl")
    made = await envelope(env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)])
    token = made.tokens["Rita Recipient"]

    polish = await _get(client, f"/tg/app?s={token}", **{"Accept-Language": "sv"})
    russian = await _get(client, "/tg/app", **{"Accept-Language": "ru-RU,ru;q=0.9"})

    assert _lang(polish) == "pl" and '<h1 class="title">Otwieramy Twoją prośbę…</h1>' in polish
    assert "Telegram nie przekazał, kim jesteś" in polish and 'hreflang="en"' in polish
    assert _lang(russian) == "ru" and "Открываем ваш запрос…" in russian


async def test_a_party_without_a_language_of_ours_gets_the_browsers(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    made = await envelope(env, tenant, [link_only("Sam")])
    token = made.tokens["Sam"]
    async with env.sessions() as session, session.begin():
        sam = await session.get(Party, (await party_named(env, "Sam")).id)
        assert sam is not None
        sam.language = "de"  # kept from a time or a tool that allowed any
        session.add(sam)

    swedish = await _get(client, f"/s/{token}", **{"Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"})
    german = await _get(client, f"/s/{token}", **{"Accept-Language": "de"})

    assert _lang(swedish) == "sv" and "Väntar på ditt beslut" in swedish
    assert '<h2 id="decide-heading">Signera</h2>' in swedish
    assert _lang(german) == "en" and "Waiting for your decision" in german


async def test_a_language_chosen_on_the_page_beats_the_partys(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    made = await envelope(env, tenant, [link_only("Sam")])
    token = made.tokens["Sam"]

    chosen = await _get(client, f"/s/{token}?lang=sv")
    later = await _get(client, f"/s/{token}")

    assert _lang(chosen) == "sv" and _lang(later) == "sv"


async def test_refusals_are_told_in_the_partys_language(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await _speaks(env, tenant, "pl")
    made = await envelope(env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)])
    token = made.tokens["Rita Recipient"]

    sent = await _post(client, token, "code")
    again = await _post(client, token, "code")
    [note] = await stored_notifications(env, kind=Kind.SIGN_CODE)
    wrong = "000000" if note.payload["code"] != "000000" else "111111"
    refused = await _post(client, token, "verify", code=wrong)
    [document_id] = made.document_ids
    await _get(client, f"/s/{token}/doc/{document_id}")
    undecided = await _post(
        client, token, "decide", action="sign", consent="yes", typed_name="Rita Recipient"
    )

    sent_text = await sent.text()
    assert "Wysłaliśmy kod na adres r***@acme-client.test. Jest ważny przez 10 minut." in sent_text
    assert again.status == 409
    assert _alert(await again.text()) == (
        "code: Kod został wysłany przed chwilą; poczekaj na niego minutę."
    )
    assert refused.status == 400
    assert _alert(await refused.text()) == "code: Ten kod jest błędny; zostały 4 próby."
    assert undecided.status == 403
    assert _alert(await undecided.text()) == (
        "page: Zanim podejmiesz decyzję, potwierdź jednorazowy kod, który Ci wysłaliśmy."
    )
    assert await decisions(env) == []


async def test_a_russian_party_is_refused_in_russian_and_what_was_typed_is_kept(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    made = await envelope(
        env, tenant, [NewParty(role="signer", name="Иван", phone="+46 70 123 45 67", language="ru")]
    )
    token = made.tokens["Иван"]

    unopened = await _post(
        client, token, "decide", action="sign", consent="yes", typed_name="Иван Петров"
    )
    no_reason = await _post(client, token, "decide", action="decline", reason="")

    assert unopened.status == 400
    unopened_text = await unopened.text()
    assert _alert(unopened_text) == (
        "decide: Прежде чем принять решение, откройте каждый документ: Loan agreement."
    )
    assert 'value="Иван Петров"' in unopened_text and _lang(unopened_text) == "ru"
    assert "hreflang" not in unopened_text  # a page answering a form has no switcher
    assert _alert(await no_reason.text()) == "decline: Укажите, почему вы отклоняете запрос."
    assert await decisions(env) == []


async def test_a_refusal_after_the_end_is_told_in_the_partys_language(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    made = await envelope(
        env, tenant, [NewParty(role="signer", name="Anna", phone="+46 70 123 45 67", language="sv")]
    )
    token = made.tokens["Anna"]

    await requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref=made.ref)
    page = await _get(client, f"/s/{token}")
    late = await _post(client, token, "decide", action="decline", reason="Nej")

    assert 'status-cancelled">Avbruten</dd>' in page
    assert "Den här begäran har avbrutits; inget mer kan beslutas." in page
    assert late.status == 410
    assert _alert(await late.text()) == "page: Den här begäran har avbrutits."


async def test_forged_launch_data_is_refused_in_the_partys_language(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _speaks(env, tenant, "ru")
    made = await envelope(env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)])
    token = made.tokens["Rita Recipient"]
    forged = init_data(at=clock.now(), bot_token="999:other")

    response = await client.post("/tg/app/session", data={"init_data": forged, "token": token})

    assert response.status == 403
    text = await response.text()
    assert _lang(text) == "ru" and "Telegram не смог подтвердить вашу личность" in text
    assert "not signed by this bot" not in text
