"""Staff invite a recipient: by mail when it can go (its links minted only as it goes out),
again on request but not every few seconds, else a Telegram code to hand over."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from storage.models import Recipient, SignInRequest
from tests.conftest import STAFF, START, Tenant
from tests.helpers import add_person, audit_events, count_rows, stored_notifications
from workflows.context import Env, FixedClock
from workflows.errors import Conflict, NotAllowed, TooMany, Unavailable
from workflows.outbox.kinds import Channel, InvitationPayload, Kind, Status
from workflows.people import linking, recipients
from workflows.people.linking import ChatIdentity
from workflows.portal import sessions
from workflows.sharing.access import Visitor

BOT = "inkpost_test_bot"
VISITOR = Visitor(ip=None, user_agent=None)


async def bot_name() -> str:
    return BOT


async def stored(env: Env, recipient_id: int) -> Recipient:
    async with env.reads() as session:
        found = await session.get(Recipient, recipient_id)
        assert found is not None
        return found


async def invite(env: Env, tenant: Tenant, recipient_id: int | None = None) -> linking.Invited:
    return await linking.invite_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        recipient_id=tenant.recipient_id if recipient_id is None else recipient_id,
        bot_name=bot_name,
    )


async def test_an_invitation_is_queued_for_the_mail_holding_no_secret(
    env: Env, tenant: Tenant
) -> None:
    made = await invite(env, tenant)

    assert made.mailed_to == "rita@acme-client.test" and made.not_mailed is None
    assert made.code is None and made.expires_at == START + timedelta(days=7)
    [row] = await stored_notifications(env, kind=Kind.INVITATION)
    assert (row.channel, row.target, row.status) == (
        Channel.RECIPIENT,
        str(tenant.recipient_id),
        Status.PENDING,
    )
    assert row.payload == {"recipient_id": tenant.recipient_id, "queued_at": START.isoformat()}
    assert InvitationPayload.parse(row).queued_at == START
    rita = await stored(env, tenant.recipient_id)
    assert rita.invite_sent_at == START
    assert rita.invite_code_hash is None, "the worker mints the code, not the invitation"
    assert await count_rows(env, SignInRequest) == 0, "nor the portal link"
    [event] = await audit_events(env, org_id=tenant.org_id, action="recipient.invited")
    assert event.details == {
        "recipient_id": tenant.recipient_id,
        "name": "Rita Recipient",
        "mailed": True,
        "email": "rita@acme-client.test",
    }


async def test_inviting_again_resends_and_records_when(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await invite(env, tenant)
    clock.at = START + timedelta(minutes=1)

    await invite(env, tenant)

    rows = await stored_notifications(env, kind=Kind.INVITATION)
    assert [InvitationPayload.parse(r).queued_at for r in rows] == [START, clock.at]
    assert (await stored(env, tenant.recipient_id)).invite_sent_at == clock.at
    events = await audit_events(env, org_id=tenant.org_id, action="recipient.invited")
    assert [e.details["mailed"] for e in events] == [True, True]


async def test_a_resend_within_a_minute_is_refused_and_changes_nothing(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await invite(env, tenant)
    clock.at = START + timedelta(seconds=40)

    with pytest.raises(TooMany, match="was sent 40 seconds ago; wait a minute"):
        await invite(env, tenant)

    assert len(await stored_notifications(env, kind=Kind.INVITATION)) == 1
    assert (await stored(env, tenant.recipient_id)).invite_sent_at == START
    assert len(await audit_events(env, org_id=tenant.org_id, action="recipient.invited")) == 1


async def test_without_an_address_staff_get_a_telegram_code_and_no_mail(
    env: Env, tenant: Tenant
) -> None:
    ola = await add_person(env, tenant, name="Ola Offline")

    made = await invite(env, tenant, ola)

    assert made.mailed_to is None and made.not_mailed == "Ola Offline has no email address"
    assert made.bot == BOT and made.code is not None
    assert await stored_notifications(env, kind=Kind.INVITATION) == []
    assert (await stored(env, ola)).invite_sent_at is None
    linked = await linking.redeem_invite(env, code=made.code, chat=ChatIdentity(chat_id=42))
    assert linked.recipient.id == ola
    [event] = await audit_events(env, org_id=tenant.org_id, action="recipient.invited")
    assert event.details["mailed"] is False
    assert event.details["not_mailed"] == "Ola Offline has no email address"


async def test_without_a_mail_server_it_says_so_and_mails_nothing(env: Env, tenant: Tenant) -> None:
    no_mail = replace(env, reach=frozenset({"telegram"}))

    made = await invite(no_mail, tenant)

    assert made.mailed_to is None and made.not_mailed == "no mail server is configured"
    assert made.code is not None
    assert await stored_notifications(env, kind=Kind.INVITATION) == []
    assert (await stored(env, tenant.recipient_id)).invite_sent_at is None


async def test_with_neither_mail_nor_telegram_nothing_is_made(env: Env, tenant: Tenant) -> None:
    nothing = replace(env, reach=frozenset())
    before = await audit_events(env, org_id=tenant.org_id)

    with pytest.raises(Conflict, match="Telegram is not set up here and no mail server"):
        await linking.invite_recipient(
            nothing, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
        )

    rita = await stored(env, tenant.recipient_id)
    assert rita.invite_code_hash is None and rita.invite_sent_at is None
    assert await audit_events(env, org_id=tenant.org_id) == before


async def test_a_failing_bot_name_leaves_the_earlier_code_working(env: Env, tenant: Tenant) -> None:
    ola = await add_person(env, tenant, name="Ola Offline")
    earlier = await linking.create_invite(env, org_id=tenant.org_id, actor=STAFF, recipient_id=ola)

    async def silent_bot() -> str:
        raise Unavailable("Telegram did not tell the bot's name")

    with pytest.raises(Unavailable):
        await linking.invite_recipient(
            env, org_id=tenant.org_id, actor=STAFF, recipient_id=ola, bot_name=silent_bot
        )

    linked = await linking.redeem_invite(env, code=earlier.code, chat=ChatIdentity(chat_id=42))
    assert linked.recipient.id == ola


async def test_a_blocked_recipient_is_not_invited(env: Env, tenant: Tenant) -> None:
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )

    with pytest.raises(NotAllowed, match="cannot invite: recipient Rita Recipient is blocked"):
        await invite(env, tenant)

    assert await stored_notifications(env, kind=Kind.INVITATION) == []


# -- the links, minted as the mail goes out ---------------------------------------------------


async def test_minted_links_sign_in_to_the_portal_and_link_telegram_once(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await invite(env, tenant)
    clock.at = START + timedelta(hours=3)

    minted = await linking.mint_invitation(
        env, recipient_id=tenant.recipient_id, queued_at=START, telegram=True
    )

    assert minted is not None and minted.telegram_code is not None
    assert minted.expires_at == clock.at + timedelta(days=7)
    assert minted.organization.name == "Acme Law"
    [row] = await stored_notifications(env, kind=Kind.INVITATION)
    assert minted.portal_token not in json.dumps(row.payload)
    assert minted.telegram_code not in json.dumps(row.payload)
    clock.at += timedelta(days=6)
    opened = await sessions.redeem_sign_in(env, minted.portal_token, visitor=VISITOR)
    assert opened.recipient_id == tenant.recipient_id
    linked = await linking.redeem_invite(
        env, code=minted.telegram_code, chat=ChatIdentity(chat_id=42)
    )
    assert linked.recipient.id == tenant.recipient_id


async def test_links_minted_without_telegram_hold_no_code(env: Env, tenant: Tenant) -> None:
    await invite(env, tenant)

    minted = await linking.mint_invitation(
        env, recipient_id=tenant.recipient_id, queued_at=START, telegram=False
    )

    assert minted is not None and minted.telegram_code is None
    assert (await stored(env, tenant.recipient_id)).invite_code_hash is None


async def test_an_invitation_replaced_or_no_longer_wanted_mints_nothing(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await invite(env, tenant)
    clock.at = START + timedelta(minutes=5)
    await invite(env, tenant)

    replaced = await linking.mint_invitation(
        env, recipient_id=tenant.recipient_id, queued_at=START, telegram=True
    )
    assert replaced is None
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )
    blocked = await linking.mint_invitation(
        env, recipient_id=tenant.recipient_id, queued_at=clock.at, telegram=True
    )
    assert blocked is None
    assert await count_rows(env, SignInRequest) == 0
