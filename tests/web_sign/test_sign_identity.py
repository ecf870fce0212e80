"""Who decides on the signing page: a confirmed code or Telegram's word holds only in the
browser that gave it, expires, and is never claimed when no code could be sent."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from storage.models import Recipient
from tests.conftest import Tenant
from tests.helpers import stored_notifications
from tests.web_sign.signing_helpers import SECRET, decisions, envelope, init_data, signing_app
from web_sign.security import form_token
from web_sign.signing import SESSION_COOKIE
from workflows.context import Env, FixedClock
from workflows.outbox.kinds import Kind
from workflows.signing import identity
from workflows.signing.creation import NewParty

ADAM = NewParty(role="signer", name="Adam Adhoc", email="adam@example.test")
RITA_TELEGRAM = 5550001


@pytest.fixture
def app(env: Env, cache_dir: Path) -> web.Application:
    return signing_app(env, cache_dir)


async def _page(client: TestClient, token: str) -> str:
    response = await client.get(f"/s/{token}")
    assert response.status == 200
    return await response.text()


async def _post(client: TestClient, token: str, path: str, **fields: str) -> Any:
    csrf = form_token(SECRET.encode(), token)
    return await client.post(
        f"/s/{token}/{path}", data={"csrf": csrf, **fields}, allow_redirects=False
    )


def _alert(text: str) -> str:
    found = re.search(r'role="alert" id="problem-\w+">([^<]*)<', text)
    assert found, "the page shows no problem"
    return html.unescape(found.group(1))


async def _confirm(client: TestClient, env: Env, token: str) -> Any:
    """Ask for a code on the page and type it back in; the answer to the typing."""
    assert (await _post(client, token, "code")).status == 200
    code = (await stored_notifications(env, kind=Kind.SIGN_CODE))[-1].payload["code"]
    return await _post(client, token, "verify", code=code)


async def _open_all(client: TestClient, token: str, document_ids: list[int]) -> None:
    for document_id in document_ids:
        assert (await client.get(f"/s/{token}/doc/{document_id}")).status == 200


def _cookie(response: Any) -> Any:
    jar = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar[SESSION_COOKIE]


async def _sign(client: TestClient, token: str) -> Any:
    return await _post(client, token, "decide", action="sign", consent="yes", typed_name="Adam")


async def test_a_code_confirmed_in_one_browser_lets_only_that_browser_decide(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    await _open_all(client, token, request.document_ids)

    confirmed = await _confirm(client, env, token)

    assert confirmed.status == 303
    cookie = _cookie(confirmed)
    assert cookie["path"] == f"/s/{token}" and cookie["httponly"] and not cookie["secure"]
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == int(identity.SESSION_TTL.total_seconds())
    assert 'name="consent"' in await _page(client, token)

    # Another browser (or a plain download of the page) holding the same link.
    client.session.cookie_jar.clear()
    text = await _page(client, token)
    assert "Send me a code" in text and 'name="consent"' not in text
    refused = await _sign(client, token)
    assert refused.status == 403
    assert _alert(await refused.text()) == "Confirm the one-time code we sent you before deciding."
    assert await decisions(env) == []

    # The browser that confirmed still may.
    client.session.cookie_jar.update_cookies(
        {SESSION_COOKIE: cookie.value}, client.make_url(f"/s/{token}")
    )
    signed = await _sign(client, token)
    assert signed.status == 303
    [decision] = await decisions(env)
    assert decision.auth_level == "code:email"


async def test_the_confirmation_expires_and_the_code_is_asked_again(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    request = await envelope(env, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    await _confirm(client, env, token)
    assert "Send me a code" not in await _page(client, token)

    clock.at += identity.SESSION_TTL

    assert "Send me a code" in await _page(client, token)


async def test_a_session_of_one_party_does_not_confirm_another(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    bea = NewParty(role="signer", name="Bea Other", email="bea@example.test")
    request = await envelope(env, tenant, [ADAM, bea])
    adam, bea_token = request.tokens["Adam Adhoc"], request.tokens["Bea Other"]
    session_token = _cookie(await _confirm(client, env, adam)).value

    client.session.cookie_jar.update_cookies(
        {SESSION_COOKIE: session_token}, client.make_url(f"/s/{bea_token}")
    )

    assert "Send me a code" in await _page(client, bea_token)


async def test_a_forged_session_cookie_confirms_nothing(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    for forged in ("A" * 43, "not a token", ""):
        client.session.cookie_jar.update_cookies(
            {SESSION_COOKIE: forged}, client.make_url(f"/s/{token}")
        )
        assert "Send me a code" in await _page(client, token)


async def test_the_cookie_is_secure_behind_https(
    aiohttp_client: Any, env: Env, tenant: Tenant, cache_dir: Path
) -> None:
    app = signing_app(env, cache_dir, public_url="https://sign.example.test")
    client = await aiohttp_client(app)
    request = await envelope(env, tenant, [ADAM])

    confirmed = await _confirm(client, env, request.tokens["Adam Adhoc"])

    assert _cookie(confirmed)["secure"]


async def test_without_a_way_to_send_the_code_the_page_says_so_and_promises_nothing(
    aiohttp_client: Any, env: Env, tenant: Tenant, cache_dir: Path
) -> None:
    unsent = dataclasses.replace(env, reach=frozenset())
    client = await aiohttp_client(signing_app(unsent, cache_dir))
    request = await envelope(unsent, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    await _open_all(client, token, request.document_ids)

    text = await _page(client, token)

    assert "cannot send you a one-time code right now" in text and "Acme" in text
    assert "Send me a code" not in text and "We sent" not in text
    asked = await _post(client, token, "code")
    assert asked.status == 503
    assert "cannot send you a one-time code" in _alert(await asked.text())
    refused = await _sign(client, token)
    assert refused.status == 403
    assert "cannot send you a one-time code" in _alert(await refused.text())
    assert await stored_notifications(env, kind=Kind.SIGN_CODE) == []
    assert await decisions(env) == []


async def test_a_recipient_with_telegram_gets_the_code_by_email_when_only_mail_is_sent(
    aiohttp_client: Any, env: Env, tenant: Tenant, cache_dir: Path
) -> None:
    mail_only = dataclasses.replace(env, reach=frozenset({"email"}))
    client = await aiohttp_client(signing_app(mail_only, cache_dir))
    async with env.sessions() as session, session.begin():
        rita = await session.get(Recipient, tenant.recipient_id)
        assert rita is not None
        rita.telegram_chat_id, rita.telegram_active = 777, True
        session.add(rita)
    request = await envelope(
        mail_only, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)]
    )

    sent = await _post(client, request.tokens["Rita Recipient"], "code")

    assert sent.status == 200 and "We sent a code to r***@" in await sent.text()
    [note] = await stored_notifications(env, kind=Kind.SIGN_CODE)
    assert note.payload["via"] == "email"


async def test_the_mini_app_binds_its_own_browser_only(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    async with env.sessions() as session, session.begin():
        rita = await session.get(Recipient, tenant.recipient_id)
        assert rita is not None
        rita.telegram_chat_id, rita.telegram_user_id = 777, RITA_TELEGRAM
        rita.telegram_active = True
        session.add(rita)
    request = await envelope(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)]
    )
    token = request.tokens["Rita Recipient"]
    launch = init_data(at=clock.now() - timedelta(minutes=1), user_id=RITA_TELEGRAM)

    started = await client.post(
        "/tg/app/session", data={"init_data": launch, "token": token}, allow_redirects=False
    )

    assert started.status == 303
    cookie = _cookie(started)
    assert cookie["path"] == f"/s/{token}" and cookie["httponly"]
    assert "Send me a code" not in await _page(client, token)
    client.session.cookie_jar.clear()
    assert "Send me a code" in await _page(client, token)


async def test_wrong_codes_from_one_address_are_limited_across_parties(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    people = [
        NewParty(role="signer", name=f"Person {n}", email=f"p{n}@example.test") for n in range(5)
    ]
    request = await envelope(env, tenant, people)
    tried = 0
    for token in request.tokens.values():
        assert (await _post(client, token, "code")).status == 200
        code = (await stored_notifications(env, kind=Kind.SIGN_CODE))[-1].payload["code"]
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(identity.CODE_ATTEMPTS - 1):
            answer = await _post(client, token, "verify", code=wrong)
            tried += 1
            assert answer.status == 400
    last = request.tokens["Person 4"]
    code = (await stored_notifications(env, kind=Kind.SIGN_CODE))[-1].payload["code"]

    refused = await _post(client, last, "verify", code=code)

    assert tried == identity.ADDRESS_WRONG_CODES
    assert refused.status == 429
    assert _alert(await refused.text()) == (
        "Too many wrong codes from your network; try again in an hour."
    )
