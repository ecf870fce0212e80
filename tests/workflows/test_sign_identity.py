"""Confirming who decides: sessions per browser, limits on codes, and telling staff when a
party's code cannot be sent."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from inkpost import server
from storage.models import CodeEvent, PartySession, Recipient
from tests.conftest import STAFF, Tenant
from tests.helpers import count_rows, stored_notifications
from tests.web_sign.signing_helpers import envelope
from workflows.context import Actor, Env, FixedClock
from workflows.errors import InvalidInput, NotAllowed, TooMany
from workflows.outbox.kinds import Kind
from workflows.signing import creation, deciding, identity, party_notices, party_page
from workflows.signing import requests as sign_requests
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.deciding import Decision

WEB = Actor(type="party", label="page", ip="203.0.113.9")
ADAM = NewParty(role="signer", name="Adam Adhoc", email="adam@example.test")


async def _latest_code(env: Env) -> str:
    code: str = (await stored_notifications(env, kind=Kind.SIGN_CODE))[-1].payload["code"]
    return code


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def test_a_confirmed_code_opens_a_session_for_that_browser_only(
    env: Env, tenant: Tenant
) -> None:
    request = await envelope(env, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    await identity.send_code(env, token)

    confirmed = await identity.confirm_code(env, token, await _latest_code(env))

    assert (await party_page.open_page(env, token, browser=confirmed.token)).verified
    assert not (await party_page.open_page(env, token)).verified
    assert not (await party_page.open_page(env, token, browser="x" * 43)).verified
    with pytest.raises(NotAllowed, match="confirm the one-time code"):
        await deciding.decide(env, token, Decision(kind="sign", needs_review=False), actor=WEB)
    decided = await deciding.decide(
        env, token, Decision(kind="sign", needs_review=False), actor=WEB, browser=confirmed.token
    )
    assert decided.auth_level == "code:email"


async def test_wrong_codes_count_for_the_party_across_new_codes(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    request = await envelope(env, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    for _ in range(identity.PARTY_WRONG_CODES // identity.CODE_ATTEMPTS):
        await identity.send_code(env, token)
        wrong = _wrong(await _latest_code(env))
        for _ in range(identity.CODE_ATTEMPTS):
            with pytest.raises((InvalidInput, NotAllowed)):
                await identity.confirm_code(env, token, wrong, ip="198.51.100.7")
        clock.at += identity.CODE_GAP
    await identity.send_code(env, token)

    with pytest.raises(TooMany, match="too many wrong codes for this request"):
        await identity.confirm_code(env, token, await _latest_code(env), ip="198.51.100.8")

    clock.at += identity.WRONG_WINDOW
    await identity.send_code(env, token)
    await identity.confirm_code(env, token, await _latest_code(env))


async def test_a_party_is_sent_only_so_many_codes_an_hour(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    request = await envelope(env, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    for _ in range(identity.CODES_PER_HOUR):
        await identity.send_code(env, token)
        clock.at += identity.CODE_GAP

    with pytest.raises(TooMany, match="we have sent you 5 codes in the last hour"):
        await identity.send_code(env, token)

    assert len(await stored_notifications(env, kind=Kind.SIGN_CODE)) == identity.CODES_PER_HOUR
    clock.at += identity.WRONG_WINDOW
    await identity.send_code(env, token)


async def test_codes_never_reach_our_logs(
    env: Env, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    request = await envelope(env, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    caplog.set_level(logging.DEBUG)

    await identity.send_code(env, token)
    code = await _latest_code(env)
    with pytest.raises(InvalidInput):
        await identity.confirm_code(env, token, _wrong(code))
    await identity.confirm_code(env, token, code)

    ours = [r for r in caplog.records if not r.name.startswith(server.QUIET_LOGGERS)]
    assert code not in "\n".join(r.getMessage() for r in ours)


async def test_expired_sessions_and_old_code_events_of_ended_requests_are_forgotten(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    request = await envelope(env, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    await identity.send_code(env, token)
    await identity.confirm_code(env, token, await _latest_code(env))
    assert await count_rows(env, PartySession) == 1

    assert await identity.forget(env, at=clock.now()) == 0
    clock.at += identity.KEEP_EVENTS + identity.SESSION_TTL

    # The request is still open: its certificate will list the code sent.
    assert await identity.forget(env, at=clock.now()) == 1
    assert await count_rows(env, PartySession) == 0 and await count_rows(env, CodeEvent) == 1
    await sign_requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref=request.ref)

    assert await identity.forget(env, at=clock.now()) == 1
    assert await count_rows(env, CodeEvent) == 0


async def test_staff_are_told_which_parties_cannot_confirm_who_they_are(
    env: Env, tenant: Tenant
) -> None:
    async with env.sessions() as session, session.begin():
        rita = await session.get(Recipient, tenant.recipient_id)
        assert rita is not None
        rita.telegram_chat_id, rita.telegram_active = 777, True
        session.add(rita)
    document = (await envelope(env, tenant, [ADAM])).document_ids[0]
    parties = [
        ADAM,
        NewParty(role="approver", recipient_id=tenant.recipient_id),
        NewParty(role="signer", name="Link Only", phone="+46 70 111 22 33"),
        NewParty(role="viewer", name="Vera Viewer", email="vera@example.test"),
    ]
    new = NewRequest(document_ids=[document], parties=parties)

    async def create(reach: frozenset[str]) -> list[str]:
        mailless = dataclasses.replace(env, reach=reach)
        created = await creation.create_request(
            mailless, org_id=tenant.org_id, actor=STAFF, staff_id=tenant.staff_id, new=new
        )
        return created.unconfirmable

    assert await create(frozenset({"telegram", "email"})) == []
    assert await create(frozenset({"telegram"})) == [
        "Adam Adhoc cannot confirm who they are: their one-time code would go by email, which "
        "this installation does not send; they cannot decide until it does"
    ]
    nothing = await create(frozenset())
    assert [why.split(" cannot")[0] for why in nothing] == ["Adam Adhoc", "Rita Recipient"]
    assert "would go by Telegram or email" in nothing[1]


async def test_a_code_for_a_second_browser_is_sent_though_the_party_confirmed_before(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    request = await envelope(env, tenant, [ADAM])
    token = request.tokens["Adam Adhoc"]
    await identity.send_code(env, token)
    await identity.confirm_code(env, token, await _latest_code(env))  # the first browser
    clock.at += identity.CODE_GAP

    await identity.send_code(env, token)  # another browser, later
    [first, second] = await stored_notifications(env, kind=Kind.SIGN_CODE)

    assert (await party_notices.route_sign_notice(env, first)).way == "cancel"
    assert (await party_notices.route_sign_notice(env, second)).way == "email"
