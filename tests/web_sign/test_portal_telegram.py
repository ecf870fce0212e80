"""The portal as a Telegram Mini App (/me/telegram): Telegram's signed launch data signs in
the person the account is linked to, in their language; nothing else does."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import texts
from storage.models import PortalSession
from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import add_person, audit_events, count_rows, link_chat
from tests.web_sign.signing_helpers import init_data, signing_app
from web_sign import create_app
from web_sign.portal_session import SESSION_COOKIE
from workflows.context import Env, FixedClock
from workflows.people import recipients
from workflows.people.linking import ChatIdentity

RITA_TELEGRAM = 5550001


@pytest.fixture
async def mini(aiohttp_client: Any, env: Env, cache_dir: Path) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(signing_app(env, cache_dir))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


async def _launch(client: TestClient, launch: str, **fields: str) -> Any:
    """Open the Mini App's page and post the launch data as its script does."""
    page = await client.get("/me/telegram")
    assert page.status == 200
    data = {"csrf": _csrf(await page.text()), "init_data": launch, **fields}
    return await client.post("/me/telegram", data=data, allow_redirects=False)


def _launch_data(clock: FixedClock, *, user_id: int = RITA_TELEGRAM, language: str = "en") -> str:
    return init_data(at=clock.now() - timedelta(minutes=1), user_id=user_id, language_code=language)


async def test_the_page_hands_the_launch_data_on(mini: TestClient) -> None:
    page = await mini.get("/me/telegram?lang=pl")
    html = await page.text()

    assert page.status == 200 and '<html lang="pl">' in html
    assert "data-tg-launch" in html and 'name="init_data"' in html
    assert texts.text("pl", "portal.telegram.opening", escape=False) in html


async def test_a_linked_account_is_signed_in_to_its_portal(
    mini: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await link_chat(env, tenant, chat=ChatIdentity(chat_id=RITA_TELEGRAM, user_id=RITA_TELEGRAM))

    answer = await _launch(mini, _launch_data(clock))

    assert answer.status == 303 and answer.headers["Location"] == "/me"
    assert SESSION_COOKIE in answer.cookies
    home = await mini.get("/me")
    assert home.status == 200 and "Documents for Rita Recipient" in await home.text()
    [event] = await audit_events(env, org_id=tenant.org_id, action="recipient.signed_in")
    assert event.details["via"] == "telegram"


async def test_an_account_linked_in_two_organisations_chooses_and_gets_only_its_own(
    mini: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    chat = ChatIdentity(chat_id=RITA_TELEGRAM, user_id=RITA_TELEGRAM)
    await link_chat(env, tenant, chat=chat)
    globex = await make_tenant(env, slug="globex")
    await link_chat(env, globex, chat=chat)
    stranger = await add_person(env, globex, name="Sam Stranger")

    chooser = await _launch(mini, _launch_data(clock))
    html = await chooser.text()
    assert chooser.status == 200 and "Acme Law" in html and "Globex Law" in html
    assert await count_rows(env, PortalSession) == 0

    foreign = await mini.post(
        "/me/telegram",
        data={
            "csrf": _csrf(html),
            "init_data": _launch_data(clock),
            "recipient": str(stranger),
        },
        allow_redirects=False,
    )
    assert foreign.status == 200 and await count_rows(env, PortalSession) == 0

    chosen = await mini.post(
        "/me/telegram",
        data={
            "csrf": _csrf(html),
            "init_data": _launch_data(clock),
            "recipient": str(globex.recipient_id),
        },
        allow_redirects=False,
    )
    assert chosen.status == 303
    assert len(await audit_events(env, org_id=globex.org_id, action="recipient.signed_in")) == 1
    assert await audit_events(env, org_id=tenant.org_id, action="recipient.signed_in") == []


async def test_forged_or_old_launch_data_signs_nobody_in(
    mini: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await link_chat(env, tenant, chat=ChatIdentity(chat_id=RITA_TELEGRAM, user_id=RITA_TELEGRAM))
    forged = init_data(at=clock.now(), user_id=RITA_TELEGRAM, bot_token="9:another-bot")
    old = init_data(at=clock.now() - timedelta(days=2), user_id=RITA_TELEGRAM)

    for launch in (forged, old, ""):
        answer = await _launch(mini, launch)
        assert answer.status == 403
        assert "Telegram could not confirm who you are" in await answer.text()
    assert await count_rows(env, PortalSession) == 0


async def test_an_account_linked_to_nobody_is_told_in_its_language(
    mini: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    answer = await _launch(mini, _launch_data(clock, user_id=777, language="ru"))

    html = await answer.text()
    assert answer.status == 403 and '<html lang="ru">' in html
    assert texts.text("ru", "portal.telegram.not_linked.heading", escape=False) in html
    assert await count_rows(env, PortalSession) == 0


async def test_a_blocked_person_is_not_signed_in(
    mini: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await link_chat(env, tenant, chat=ChatIdentity(chat_id=RITA_TELEGRAM, user_id=RITA_TELEGRAM))
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )

    answer = await _launch(mini, _launch_data(clock))

    assert answer.status == 403 and await count_rows(env, PortalSession) == 0


async def test_the_launch_form_needs_its_token(
    mini: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await link_chat(env, tenant, chat=ChatIdentity(chat_id=RITA_TELEGRAM, user_id=RITA_TELEGRAM))

    answer = await mini.post("/me/telegram", data={"init_data": _launch_data(clock)})

    assert answer.status == 403 and await count_rows(env, PortalSession) == 0


async def test_without_a_bot_the_mini_app_is_not_available(
    aiohttp_client: Any, env: Env, cache_dir: Path
) -> None:
    client = await aiohttp_client(
        create_app(env=env, cache_dir=cache_dir, public_url="http://127.0.0.1:8080")
    )

    page = await client.get("/me/telegram")

    assert page.status == 404
    assert "The Telegram app is not available" in await page.text()
