"""The signing page at /s/{token}: what a party sees, opening documents, codes, decisions,
forms that are refused, and the Telegram Mini App's way in."""

from __future__ import annotations

import asyncio
import base64
import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from storage.models import AuditEvent, Recipient
from tests.conftest import STAFF, Tenant
from tests.helpers import request_status, sealed_documents, stored_notifications
from tests.web_sign.conftest import PUBLIC_URL
from tests.web_sign.signing_helpers import (
    Envelope,
    decisions,
    envelope,
    init_data,
    link_only,
    party_named,
    signing_app,
)
from web_sign import create_app
from web_sign.logs import redact
from web_sign.previews import encode_png
from web_sign.security import form_token
from web_sign.signing import SIGN_CSP
from workflows.context import Env, FixedClock
from workflows.outbox.kinds import Kind
from workflows.people import organizations, recipients
from workflows.signing import completion, deciding, requests
from workflows.signing.creation import NewParty
from workflows.signing.seal_keys import create_self_signed_seal, load_seal_key

RITA_TELEGRAM = 5550001
UA = "PhoneBrowser/2.0"


@pytest.fixture
def app(env: Env, cache_dir: Path) -> web.Application:
    return signing_app(env, cache_dir)


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', text)
    assert found, "the page has no form token"
    return found.group(1)


async def _page(client: TestClient, token: str, *, status: int = 200) -> str:
    response = await client.get(f"/s/{token}")
    assert response.status == status
    return await response.text()


async def _open_all(client: TestClient, token: str, env_: Envelope) -> None:
    for document_id in env_.document_ids:
        response = await client.get(f"/s/{token}/doc/{document_id}", headers={"User-Agent": UA})
        assert response.status == 200


async def _post(
    client: TestClient, token: str, path: str, /, *, csrf: str | None = None, **fields: str
) -> Any:
    if csrf is None:
        csrf = _csrf(await _page(client, token))
    data = {"csrf": csrf, **fields}
    return await client.post(
        f"/s/{token}/{path}", data=data, allow_redirects=False, headers={"User-Agent": UA}
    )


def _drawn_png() -> bytes:
    width, height = 30, 10
    pixels = bytes([255, 255, 255] * width * (height - 1) + [20, 40, 110] * width)
    return encode_png(pixels, width=width, height=height, stride=width * 3)


def _alert(text: str) -> str:
    found = re.search(r'role="alert" id="problem-(\w+)">([^<]*)<', text)
    assert found, "the page shows no problem"
    return f"{found.group(1)}: {html.unescape(found.group(2))}"


async def _give_rita_telegram(env: Env, tenant: Tenant) -> None:
    async with env.sessions() as session, session.begin():
        rita = await session.get(Recipient, tenant.recipient_id)
        assert rita is not None
        rita.telegram_chat_id = rita.telegram_user_id = RITA_TELEGRAM
        rita.telegram_active = True
        session.add(rita)


# What the page shows


async def test_page_shows_the_request_its_documents_and_the_partys_role(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(
        env,
        tenant,
        [link_only("Sam Signer"), link_only("Vera Viewer", role="viewer")],
        titles=("Loan agreement", "Fee table"),
        title="Loan 2027",
        message="Please sign by Friday.\nThank you.",
    )
    token = request.tokens["Sam Signer"]

    response = await client.get(f"/s/{token}")

    assert response.status == 200
    assert response.headers["Content-Security-Policy"] == SIGN_CSP
    assert response.headers["Cache-Control"] == "no-store"
    text = await response.text()
    assert '<h1 class="title">Loan 2027</h1>' in text
    assert '<p class="from">Acme Law</p>' in text and "<title>Loan 2027 · Acme Law</title>" in text
    assert "Please sign by Friday.\nThank you." in text
    assert "<dd>Signer</dd>" in text and "Waiting for your decision" in text
    for document_id, title in zip(
        request.document_ids, ("Loan agreement", "Fee table"), strict=True
    ):
        assert f'href="/s/{token}/doc/{document_id}">{title}</a>' in text
        assert f'src="/s/{token}/doc/{document_id}/page/1.png"' in text
    assert text.count("Not opened yet") == 2
    assert "Open each document before you sign." in text
    assert 'action="/s/' + token + '/decide"' in text and 'name="consent"' in text
    assert '<canvas width="600" height="200"' in text and "data-signature-pad hidden" in text
    assert "Vera Viewer" in text and "receives a copy" in text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert re.search(r'<script src="/static/sign\.js\?v=\w+" defer></script>', text)


async def test_document_page_shows_every_page_preview_and_the_previews_render(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam")])
    token, document_id = request.tokens["Sam"], request.document_ids[0]

    response = await client.get(f"/s/{token}/doc/{document_id}")

    text = await response.text()
    base = f"/s/{token}/doc/{document_id}"
    assert re.findall(r'<img src="([^"]+)" loading="lazy"', text) == [
        f"{base}/page/{n}.png" for n in (1, 2, 3)
    ]
    assert f'href="{base}/file"' in text and f'href="/s/{token}">Back to the request' in text
    image = await client.get(f"{base}/page/2.png")
    assert image.status == 200 and image.content_type == "image/png"
    assert (await image.read()).startswith(b"\x89PNG")
    assert (await client.get(f"{base}/page/9.png")).status == 404


async def test_opening_a_document_is_recorded_once_with_ip_and_user_agent(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam")], titles=("One", "Two"))
    token = request.tokens["Sam"]
    first, second = request.document_ids

    assert (await client.head(f"/s/{token}/doc/{first}")).status == 200
    assert (await party_named(env, "Sam")).opened_documents == []
    await client.get(f"/s/{token}/doc/{first}", headers={"User-Agent": UA})
    await client.get(f"/s/{token}/doc/{first}", headers={"User-Agent": UA})
    download = await client.get(f"/s/{token}/doc/{second}/file")

    assert download.status == 200 and download.content_type == "application/pdf"
    assert (await download.read()).startswith(b"%PDF")
    assert (await party_named(env, "Sam")).opened_documents == [first, second]
    async with env.reads() as session:
        opened = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "signature.document_opened")
            )
        ).all()
    assert [e.document_id for e in opened] == [first, second]
    assert opened[0].ip == "127.0.0.1" and opened[0].user_agent == UA
    text = await _page(client, token)
    assert text.count("Opened</p>") == 2 and "Open each document" not in text


async def test_a_document_of_another_request_is_not_found(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    mine = await envelope(env, tenant, [link_only("Sam")])
    other = await envelope(env, tenant, [link_only("Tom")])
    token = mine.tokens["Sam"]

    for path in ("", "/file", "/page/1.png"):
        response = await client.get(f"/s/{token}/doc/{other.document_ids[0]}{path}")
        assert response.status == 404, path
    assert (await party_named(env, "Sam")).opened_documents == []


@pytest.mark.parametrize("token", ["A" * 32, "short", "bad token!"])
async def test_an_unknown_link_shows_the_friendly_404(client: TestClient, token: str) -> None:
    response = await client.get(f"/s/{token}")

    assert response.status == 404
    assert "This link does not exist" in await response.text()


# Identity: the one-time code


async def test_a_party_with_an_email_confirms_a_code_before_deciding(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(
        env, tenant, [NewParty(role="signer", name="Adam Adhoc", email="adam@example.test")]
    )
    token = request.tokens["Adam Adhoc"]
    await _open_all(client, token, request)
    text = await _page(client, token)
    assert "Send me a code" in text and "your email address" in text
    assert "/decide" not in text

    sent = await _post(client, token, "code")
    assert sent.status == 200
    assert "We sent a code to a***@example.test. It works for 10 minutes." in await sent.text()
    [note] = await stored_notifications(env, kind=Kind.SIGN_CODE)
    code = note.payload["code"]
    wrong = "000000" if code != "000000" else "111111"

    refused = await _post(client, token, "verify", code=wrong)
    assert refused.status == 400
    assert _alert(await refused.text()) == "code: That code is wrong; 4 tries left."
    confirmed = await _post(client, token, "verify", code=f"{code[:3]} {code[3:]}")
    assert confirmed.status == 303 and confirmed.headers["Location"] == f"/s/{token}"
    text = await _page(client, token)
    assert "Send me a code" not in text and 'name="consent"' in text

    signed = await _post(client, token, "decide", action="sign", consent="yes", typed_name="Adam")
    assert signed.status == 303
    [decision] = await decisions(env)
    assert decision.auth_level == "code:email"


async def test_a_second_code_within_a_minute_is_refused_on_the_page(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(
        env, tenant, [NewParty(role="signer", name="Adam", email="adam@example.test")]
    )
    token = request.tokens["Adam"]

    assert (await _post(client, token, "code")).status == 200
    again = await _post(client, token, "code")

    assert again.status == 409
    assert "wait a minute" in _alert(await again.text())
    assert len(await stored_notifications(env, kind=Kind.SIGN_CODE)) == 1


async def test_deciding_without_the_code_is_refused_and_changes_nothing(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(
        env, tenant, [NewParty(role="approver", name="Adam", email="adam@example.test")]
    )
    token = request.tokens["Adam"]
    await _open_all(client, token, request)

    response = await _post(client, token, "decide", action="approve", consent="yes")

    assert response.status == 403
    assert _alert(await response.text()) == (
        "page: Confirm the one-time code we sent you before deciding."
    )
    assert await decisions(env) == []


# Deciding


async def test_a_signer_signs_with_a_typed_name_and_a_drawn_signature(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam Signer")])
    token = request.tokens["Sam Signer"]
    await _open_all(client, token, request)
    png = _drawn_png()

    response = await _post(
        client,
        token,
        "decide",
        action="sign",
        consent="yes",
        typed_name="Samuel Signer",
        signature="data:image/png;base64," + base64.b64encode(png).decode(),
    )

    assert response.status == 303 and response.headers["Location"] == f"/s/{token}"
    [decision] = await decisions(env)
    assert (decision.decision, decision.typed_name, decision.auth_level) == (
        "signed",
        "Samuel Signer",
        "link",
    )
    assert (decision.ip, decision.user_agent) == ("127.0.0.1", UA)
    assert decision.signature_blob_key is not None
    stored = env.blobs.local_path(decision.signature_blob_key)
    assert stored is not None and stored.read_bytes() == png
    assert await request_status(env, request.request_id) == requests.SEALING
    text = await _page(client, token)
    assert '<h2 id="outcome-heading">Signed</h2>' in text
    assert "Samuel Signer signed this request on 23 November 2026, 12:00 UTC." in text
    assert "/decide" not in text


async def test_an_approver_approves_without_a_name(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Ann Approver", role="approver")])
    token = request.tokens["Ann Approver"]
    await _open_all(client, token, request)
    text = await _page(client, token)
    assert 'name="typed_name"' not in text and "<canvas" not in text

    response = await _post(client, token, "decide", action="approve", consent="yes")

    assert response.status == 303
    [decision] = await decisions(env)
    assert decision.decision == "approved" and decision.decided_by_name == "Ann Approver"
    assert "Approved</h2>" in await _page(client, token)


async def test_a_decline_with_a_reason_ends_the_request(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam"), link_only("Tom")])
    token = request.tokens["Sam"]

    response = await _post(client, token, "decide", action="decline", reason="The fee is wrong")

    assert response.status == 303
    [decision] = await decisions(env)
    assert (decision.decision, decision.reason) == ("declined", "The fee is wrong")
    assert await request_status(env, request.request_id) == requests.DECLINED
    text = await _page(client, token)
    assert "Declined</h2>" in text and "Reason: The fee is wrong" in text
    tom = await _page(client, request.tokens["Tom"])
    assert "This request is declined; nothing more can be decided." in tom
    assert "/decide" not in tom


@pytest.mark.parametrize(
    ("open_first", "fields", "problem"),
    [
        (
            True,
            {"action": "sign", "typed_name": "Sam"},
            "decide: Tick the box to confirm you agree.",
        ),
        (True, {"action": "sign", "consent": "yes"}, "decide: Type your full name to sign."),
        (True, {"action": "sign", "consent": "yes", "typed_name": "   "}, "decide: Type your full"),
        (False, {"action": "sign", "consent": "yes", "typed_name": "Sam"}, "decide: Open every"),
        (True, {"action": "decline", "reason": ""}, "decline: Say why you decline."),
        (
            True,
            {"action": "approve", "consent": "yes"},
            "decide: You may sign or decline.",
        ),
        (True, {"action": "", "consent": "yes"}, "decide: Choose whether to decide"),
        (
            True,
            {"action": "sign", "consent": "yes", "typed_name": "Sam", "signature": "data:,x"},
            "decide: The drawn signature is not a PNG image.",
        ),
        (
            True,
            {
                "action": "sign",
                "consent": "yes",
                "typed_name": "Sam",
                "signature": "data:image/png;base64,@@@",
            },
            "decide: The drawn signature could not be read.",
        ),
        (
            True,
            {"action": "decline", "reason": "x" * 2001},
            "decline: The reason is longer than 2000 characters.",
        ),
    ],
)
async def test_an_incomplete_decision_is_refused_on_the_page_and_changes_nothing(
    client: TestClient,
    env: Env,
    tenant: Tenant,
    open_first: bool,
    fields: dict[str, str],
    problem: str,
) -> None:
    request = await envelope(env, tenant, [link_only("Sam")])
    token = request.tokens["Sam"]
    if open_first:
        await _open_all(client, token, request)

    response = await _post(client, token, "decide", **fields)

    assert response.status == 400
    text = await response.text()
    assert _alert(text).startswith(problem)
    assert await decisions(env) == []
    assert await request_status(env, request.request_id) == requests.PENDING
    if fields.get("typed_name", "").strip():
        assert f'value="{fields["typed_name"]}"' in text  # what was typed is kept


@pytest.mark.parametrize("csrf", ["", "0" * 64, "not-even-hex"])
@pytest.mark.parametrize("action", ["decide", "code", "verify"])
async def test_a_form_without_the_pages_token_is_refused_with_403(
    client: TestClient, env: Env, tenant: Tenant, csrf: str, action: str
) -> None:
    request = await envelope(
        env,
        tenant,
        [NewParty(role="signer", name="Adam", email="adam@example.test"), link_only("Sam")],
    )
    await _open_all(client, request.tokens["Sam"], request)
    token = request.tokens["Sam"] if action == "decide" else request.tokens["Adam"]
    fields = {"action": "sign", "consent": "yes", "typed_name": "Sam", "code": "123456"}

    response = await _post(client, token, action, csrf=csrf, **fields)

    assert response.status == 403
    assert "This form cannot be accepted" in await response.text()
    assert await decisions(env) == []
    assert await stored_notifications(env, kind=Kind.SIGN_CODE) == []
    assert (await party_named(env, "Adam")).code_attempts == 0


async def test_another_links_form_token_is_refused(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam"), link_only("Tom")])
    await _open_all(client, request.tokens["Sam"], request)
    toms_token = _csrf(await _page(client, request.tokens["Tom"]))

    response = await _post(
        client,
        request.tokens["Sam"],
        "decide",
        csrf=toms_token,
        action="sign",
        consent="yes",
        typed_name="Sam",
    )

    assert response.status == 403 and await decisions(env) == []


async def test_a_double_submit_makes_one_decision(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam"), link_only("Tom")])
    token = request.tokens["Sam"]
    await _open_all(client, token, request)
    csrf = _csrf(await _page(client, token))
    fields = {"action": "sign", "consent": "yes", "typed_name": "Sam"}

    first, second = await asyncio.gather(
        _post(client, token, "decide", csrf=csrf, **fields),
        _post(client, token, "decide", csrf=csrf, **fields),
    )
    third = await _post(client, token, "decide", csrf=csrf, **fields)

    assert [r.status for r in (first, second, third)] == [303, 303, 303]
    assert len(await decisions(env)) == 1
    changed_mind = await _post(client, token, "decide", csrf=csrf, action="decline", reason="No")
    assert changed_mind.status == 409
    assert (
        _alert(await changed_mind.text())
        == "page: You have already signed this request; a decision is final."
    )
    [decision] = await decisions(env)
    assert decision.decision == "signed"


async def test_a_colleague_deciding_for_an_absent_party_is_warned_and_recorded(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    carl = await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, name="Carl Colleague"
    )
    await organizations.edit_client(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, shared_cabinet=True
    )
    request = await envelope(
        env, tenant, [NewParty(role="approver", recipient_id=tenant.recipient_id)]
    )
    rita = await party_named(env, "Rita Recipient")
    assert rita.id is not None and carl.id is not None
    token = await deciding.link_for_recipient(
        env, party_id=rita.id, recipient_id=carl.id, via="telegram"
    )
    await _open_all(client, token, request)

    text = await _page(client, token)
    assert (
        "You are deciding for Rita Recipient, who is not you. "
        "Your name, Carl Colleague, is recorded with the decision."
    ) in text
    assert "approve them for Rita Recipient." in text
    response = await _post(client, token, "decide", action="approve", consent="yes")

    assert response.status == 303
    [decision] = await decisions(env)
    assert decision.decided_by_name == "Carl Colleague"
    assert "Carl Colleague approved this request on" in await _page(client, token)
    assert "for Rita Recipient." in await _page(client, token)


async def test_in_a_sequential_request_a_later_party_waits_for_their_turn(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam"), link_only("Tom")], order="sequential")
    sam, tom = request.tokens["Sam"], request.tokens["Tom"]
    await _open_all(client, tom, request)

    text = await _page(client, tom)
    assert "It is not your turn yet: this request waits for Sam first." in text
    assert "/decide" not in text and "One after another, in this order." in text
    early = await _post(
        client,
        tom,
        "decide",
        csrf=form_token(b"test-secret", tom),  # the page has no form: as if kept from before
        action="sign",
        consent="yes",
        typed_name="Tom",
    )
    assert early.status == 409 and "not your turn" in await early.text()
    assert await decisions(env) == []

    await _open_all(client, sam, request)
    await _post(client, sam, "decide", action="sign", consent="yes", typed_name="Sam")
    text = await _page(client, tom)
    assert "not your turn" not in text and 'name="consent"' in text
    assert re.search(
        r"Sam</span> <span class=\"party-role\">Signer</span> "
        r"<span class=\"party-state\">signed on 23 November 2026",
        text,
    )


async def test_an_ended_request_shows_its_status_and_no_form(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam")])
    token = request.tokens["Sam"]
    await _open_all(client, token, request)
    csrf = _csrf(await _page(client, token))
    await requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref=request.ref)

    text = await _page(client, token)
    assert '<dd class="status status-cancelled">Cancelled</dd>' in text
    assert "This request is cancelled; nothing more can be decided." in text
    assert "/decide" not in text and "Send me a code" not in text
    late = await _post(
        client, token, "decide", csrf=csrf, action="sign", consent="yes", typed_name="Sam"
    )
    assert late.status == 410
    assert _alert(await late.text()) == "page: This request is cancelled."
    assert await decisions(env) == []


async def test_a_request_past_its_expiry_shows_expired_before_the_sweep(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    request = await envelope(env, tenant, [link_only("Sam")])
    async with env.sessions() as session, session.begin():
        from storage.models import SignatureRequest

        row = await session.get(SignatureRequest, request.request_id)
        assert row is not None
        row.expires_at = clock.now() + timedelta(days=1)
        session.add(row)
    assert "Decide by" in await _page(client, request.tokens["Sam"])

    clock.at += timedelta(days=1)
    text = await _page(client, request.tokens["Sam"])

    assert 'status-expired">Expired' in text and "/decide" not in text


async def test_a_viewer_sees_the_documents_and_nothing_to_decide(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam"), link_only("Vera", role="viewer")])

    text = await _page(client, request.tokens["Vera"])

    assert "Viewer (for information)" in text
    assert "there is nothing for you to decide" in text
    assert "/decide" not in text and "Open each document" not in text


async def test_user_text_is_escaped(client: TestClient, env: Env, tenant: Tenant) -> None:
    request = await envelope(
        env,
        tenant,
        [link_only("<b>Sam</b>")],
        titles=("<img src=x onerror=alert(2)>",),
        title="<script>alert(1)</script>",
        message="</p><script>alert(3)</script>",
    )

    text = await _page(client, request.tokens["<b>Sam</b>"])

    assert "<script>alert" not in text and "<img src=x" not in text and "<b>Sam" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;Sam&lt;/b&gt;" in text


# The Telegram Mini App


async def test_without_a_bot_token_the_mini_app_is_not_available(
    aiohttp_client: Any, env: Env, cache_dir: Path
) -> None:
    client = await aiohttp_client(create_app(env=env, cache_dir=cache_dir, public_url=PUBLIC_URL))

    for response in (
        await client.get("/tg/app"),
        await client.post("/tg/app/session", data={"init_data": "x"}),
    ):
        assert response.status == 404
        assert "The Telegram app is not available" in await response.text()


async def test_the_mini_app_page_hands_telegrams_data_on(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [link_only("Sam")])
    token = request.tokens["Sam"]

    response = await client.get(f"/tg/app?s={token}")

    assert response.status == 200
    assert response.headers["Content-Security-Policy"] == SIGN_CSP
    text = await response.text()
    assert 'action="/tg/app/session" data-tg-launch' in text
    assert f'name="token" value="{token}"' in text
    assert (await client.get("/tg/app")).status == 200
    assert (await client.get("/tg/app?s=not%20a%20token")).status == 404


async def test_telegram_recognises_the_party_who_then_decides_without_a_code(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _give_rita_telegram(env, tenant)
    request = await envelope(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)]
    )
    token = request.tokens["Rita Recipient"]
    launch = init_data(at=clock.now() - timedelta(minutes=1), user_id=RITA_TELEGRAM)
    assert "Send me a code" in await _page(client, token)

    session = await client.post(
        "/tg/app/session", data={"init_data": launch, "token": token}, allow_redirects=False
    )

    assert session.status == 303 and session.headers["Location"] == f"/s/{token}"
    rita = await party_named(env, "Rita Recipient")
    assert rita.verified_via == "telegram"
    await _open_all(client, token, request)
    text = await _page(client, token)
    assert "Send me a code" not in text and 'name="tg_init_data"' in text
    signed = await _post(
        client,
        token,
        "decide",
        action="sign",
        consent="yes",
        typed_name="Rita Recipient",
        tg_init_data=launch,
    )
    assert signed.status == 303
    [decision] = await decisions(env)
    assert decision.auth_level == "telegram"


async def test_the_mini_app_finds_the_link_in_the_start_parameter(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _give_rita_telegram(env, tenant)
    request = await envelope(
        env, tenant, [NewParty(role="approver", recipient_id=tenant.recipient_id)]
    )
    token = request.tokens["Rita Recipient"]
    launch = init_data(at=clock.now(), user_id=RITA_TELEGRAM, start_param=token)

    session = await client.post(
        "/tg/app/session", data={"init_data": launch}, allow_redirects=False
    )

    assert session.status == 303 and session.headers["Location"] == f"/s/{token}"
    assert (await party_named(env, "Rita Recipient")).verified_via == "telegram"


async def test_another_telegram_user_is_not_recognised_and_must_use_a_code(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _give_rita_telegram(env, tenant)
    request = await envelope(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)]
    )
    token = request.tokens["Rita Recipient"]
    stranger = init_data(at=clock.now(), user_id=42)

    session = await client.post(
        "/tg/app/session", data={"init_data": stranger, "token": token}, allow_redirects=False
    )

    assert session.status == 303
    assert session.headers["Location"] == f"/s/{token}?telegram=unknown"
    text = await _page(client, f"{token}?telegram=unknown")
    assert "This Telegram account is not the one this request was sent to" in text
    assert "Send me a code" in text
    assert (await party_named(env, "Rita Recipient")).verified_at is None


@pytest.mark.parametrize("forge", ["other bot", "tampered", "old", "empty"])
async def test_forged_or_stale_launch_data_is_refused_and_changes_nothing(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock, forge: str
) -> None:
    await _give_rita_telegram(env, tenant)
    request = await envelope(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)]
    )
    token = request.tokens["Rita Recipient"]
    launch = {
        "other bot": init_data(at=clock.now(), bot_token="999:other"),
        "tampered": init_data(at=clock.now(), user_id=42).replace("%3A42%2C", "%3A5550001%2C"),
        "old": init_data(at=clock.now() - timedelta(days=2)),
        "empty": "",
    }[forge]

    session = await client.post(
        "/tg/app/session", data={"init_data": launch, "token": token}, allow_redirects=False
    )

    assert session.status == 403
    text = await session.text()
    assert "Telegram could not confirm who you are" in text
    assert "Close the app and open it again from the bot&#39;s message." in text
    assert (await party_named(env, "Rita Recipient")).verified_at is None


async def test_a_decision_with_stale_launch_data_is_refused_on_the_page(
    client: TestClient, env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    request = await envelope(env, tenant, [link_only("Sam")])
    token = request.tokens["Sam"]
    await _open_all(client, token, request)
    stale = init_data(at=clock.now() - timedelta(days=2))

    response = await _post(
        client,
        token,
        "decide",
        action="sign",
        consent="yes",
        typed_name="Sam",
        tg_init_data=stale,
    )

    assert response.status == 403
    assert _alert(await response.text()) == (
        "decide: Telegram could not confirm who you are; reopen the app."
    )
    assert await decisions(env) == []


async def test_the_mini_app_needs_a_request(client: TestClient, clock: FixedClock) -> None:
    response = await client.post(
        "/tg/app/session", data={"init_data": init_data(at=clock.now())}, allow_redirects=False
    )

    assert response.status == 400
    assert "this app opens from a signing request" in (await response.text()).lower()


def test_the_mini_app_address_keeps_its_token_out_of_logs() -> None:
    line = 'GET /tg/app?s=abcDEF123_-abcDEF123xyz&tgWebAppStartParam=x HTTP/1.1" 200'

    assert redact(line) == 'GET /tg/app?s=…&tgWebAppStartParam=x HTTP/1.1" 200'
    assert redact("posts=abcDEF123_-abcDEF123xyz") == "posts=abcDEF123_-abcDEF123xyz"


async def test_once_sealed_the_page_offers_each_signed_pdf(
    client: TestClient, env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    made = await envelope(env, tenant, [link_only("Sam Signer")])
    token = made.tokens["Sam Signer"]
    [document_id] = made.document_ids
    await _open_all(client, token, made)
    signed = await _post(
        client, token, "decide", action="sign", consent="yes", typed_name="Sam Signer"
    )
    assert signed.status == 303
    before = await client.get(f"/s/{token}/doc/{document_id}/signed")
    seal = load_seal_key(*create_self_signed_seal(tmp_path / "seal", common_name="Acme seal"))

    await completion.complete_request(env, made.request_id, key=seal)

    page = await _page(client, token)
    assert "Download the signed PDF" in page
    response = await client.get(f"/s/{token}/doc/{document_id}/signed")
    assert before.status == 404 and response.status == 200
    [sealed] = await sealed_documents(env, org_id=tenant.org_id, request_id=made.request_id)
    body = await response.read()
    assert body.startswith(b"%PDF") and len(body) == sealed.size
